import ApertureProtocol
import Bus
import Foundation
import GRDB

/// The catalog's SQLite database (GRDB, WAL, `synchronous=NORMAL`): one row per frame file in
/// `frame`, its header cards in `frame_header`, and the processor's figures by exposure and
/// frame in `quality` (kept apart so that a rebuild from the files finds them again).
///
/// Only `aperture-catalog` opens it for writing. Reads run on the pool's readers, beside the writer.
public final class CatalogDatabase: Sendable {
    /// The database file.
    public let path: String
    let pool: DatabasePool

    /// Opens (creating if needed) and migrates the database.
    /// - Parameter path: the database file; its folder must exist.
    /// - Throws: GRDB's error when the file cannot be opened or migrated.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.label = "catalog"
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // WAL (DatabasePool's mode) with NORMAL: a commit survives a crash of any process;
            // the files are the truth, and a reconcile re-finds what a power cut took.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE frame (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    path TEXT NOT NULL UNIQUE,
                    bytes INTEGER NOT NULL,
                    modified REAL NOT NULL,
                    sha256 TEXT NOT NULL,
                    night TEXT NOT NULL,
                    date_obs TEXT NOT NULL,
                    exptime REAL, imagetyp TEXT, filter TEXT, object TEXT, exposure TEXT, frame INTEGER,
                    xbinning INTEGER, ybinning INTEGER, xorigin INTEGER, yorigin INTEGER, width INTEGER, height INTEGER,
                    ccd_temp REAL, set_temp REAL, gain TEXT, readout_mode TEXT, ra REAL, dec REAL, plan TEXT,
                    median REAL, sigma REAL, nstars INTEGER, fwhm REAL, hfd REAL,
                    missing INTEGER NOT NULL DEFAULT 0,
                    added TEXT NOT NULL
                );
                CREATE TABLE frame_header (
                    frame_id INTEGER PRIMARY KEY REFERENCES frame(id) ON DELETE CASCADE,
                    headers TEXT NOT NULL
                );
                CREATE TABLE quality (
                    exposure TEXT NOT NULL, frame INTEGER NOT NULL,
                    median REAL, sigma REAL, nstars INTEGER, fwhm REAL, hfd REAL,
                    PRIMARY KEY (exposure, frame)
                ) WITHOUT ROWID;
                CREATE INDEX frame_by_date ON frame(date_obs, id);
                CREATE INDEX frame_by_night ON frame(night, date_obs, id);
                CREATE INDEX frame_by_exposure ON frame(exposure, frame);
                CREATE INDEX frame_by_filter ON frame(filter COLLATE NOCASE, date_obs, id);
                CREATE INDEX frame_by_plan ON frame(plan, date_obs, id);
                CREATE INDEX frame_by_type ON frame(imagetyp, date_obs, id);
                CREATE INDEX frame_by_fwhm ON frame(IFNULL(fwhm, 1e308), id);
                CREATE INDEX frame_by_fwhm_descending ON frame(IFNULL(fwhm, -1e308), id);
                """)
        }
        migrator.registerMigration("plans-v1") { db in
            // PLANSTEP and PLANIDX of a plan's frames, and the plan queue (PlanStore).
            try db.execute(sql: """
                ALTER TABLE frame ADD COLUMN plan_step INTEGER;
                ALTER TABLE frame ADD COLUMN plan_index INTEGER;
                CREATE INDEX frame_by_plan_step ON frame(plan, plan_step, plan_index);
                CREATE TABLE plan (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    state TEXT NOT NULL,
                    position INTEGER,
                    document TEXT NOT NULL,
                    steps TEXT NOT NULL,
                    submitted TEXT NOT NULL,
                    started TEXT,
                    finished TEXT,
                    reason TEXT,
                    current_step INTEGER
                );
                CREATE INDEX plan_by_position ON plan(position);
                """)
        }
        registerMastersMigration(&migrator)
        registerExportMigration(&migrator)
        migrator.registerMigration("facility-v1") { db in
            // SITE and CAMERA (issue 16). Rows of files written before them stay null: Aperture
            // never wrote either keyword before, so no stored header has them to copy. One index
            // each, leading with the name: `camera=` alone (the usual filter) or `site=` alone
            // finds its rows, or none, without a scan (docs/performance.md).
            try db.execute(sql: """
                ALTER TABLE frame ADD COLUMN site TEXT;
                ALTER TABLE frame ADD COLUMN camera TEXT;
                CREATE INDEX frame_by_camera ON frame(camera, date_obs, id);
                CREATE INDEX frame_by_site ON frame(site, date_obs, id);
                """)
        }
        return migrator
    }

    // MARK: - Writing

    /// The columns an entry sets, in order.
    private static let entryColumns = [
        "path", "bytes", "modified", "sha256", "night", "date_obs", "exptime", "imagetyp", "filter", "object", "exposure",
        "frame", "xbinning", "ybinning", "xorigin", "yorigin", "width", "height", "ccd_temp", "set_temp", "gain",
        "readout_mode", "ra", "dec", "plan", "plan_step", "plan_index", "site", "camera",
    ]

    private static let upsertSQL: String = {
        let columns = entryColumns.joined(separator: ", ")
        let placeholders = Array(repeating: "?", count: entryColumns.count + 1).joined(separator: ", ")
        let updates = entryColumns.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
        return "INSERT INTO frame (\(columns), added) VALUES (\(placeholders)) "
            + "ON CONFLICT(path) DO UPDATE SET \(updates), missing = 0 RETURNING id"
    }()

    private static func arguments(_ entry: FrameEntry, added: String) -> StatementArguments {
        let values: [(any DatabaseValueConvertible)?] = [
            entry.path, entry.bytes, entry.modified, entry.sha256, entry.night, entry.dateObs, entry.exptime,
            entry.imagetyp, entry.filter, entry.object, entry.exposure, entry.frame, entry.xbinning, entry.ybinning,
            entry.xorigin, entry.yorigin, entry.width, entry.height, entry.ccdTemp, entry.setTemp, entry.gain,
            entry.readoutMode, entry.ra, entry.dec, entry.plan, entry.planStep, entry.planIndex, entry.site, entry.camera, added,
        ]
        return StatementArguments(values)
    }

    /// Writes entries (a new row per new path; a known path's row rewritten, its id kept, its
    /// file no longer missing), with their headers and any quality figures already received.
    /// - Parameter entries: what the files hold.
    /// - Returns: the rows' ids, in order.
    @discardableResult
    package func upsert(_ entries: [FrameEntry]) async throws -> [Int64] {
        guard !entries.isEmpty else { return [] }
        let added = FrameTime.canonical(Date())
        return try await pool.write { db in
            var ids: [Int64] = []
            // Prepared once per connection, not once per row (a fast series writes hundreds a second).
            let upsert = try db.cachedStatement(sql: Self.upsertSQL)
            let header = try db.cachedStatement(sql: "INSERT INTO frame_header (frame_id, headers) VALUES (?, ?) "
                                                + "ON CONFLICT(frame_id) DO UPDATE SET headers = excluded.headers")
            let quality = try db.cachedStatement(sql: """
                UPDATE frame SET median = q.median, sigma = q.sigma, nstars = q.nstars, fwhm = q.fwhm, hfd = q.hfd
                FROM quality AS q WHERE frame.id = ? AND q.exposure = frame.exposure AND q.frame = frame.frame
                """)
            for entry in entries {
                guard let id = try Int64.fetchOne(upsert, arguments: Self.arguments(entry, added: added)) else { continue }
                try header.execute(arguments: [id, Self.json(entry.headers)])
                try quality.execute(arguments: [id])
                ids.append(id)
            }
            return ids
        }
    }

    /// A header as a JSON object, keys sorted (what `JSONEncoder` with `.sortedKeys` gives, but
    /// without its per-call cost: this runs for every frame of a fast series).
    static func json(_ headers: [String: String]) -> String {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(headers.count * 32)
        func append(_ text: String) {
            out.append(UInt8(ascii: "\""))
            for byte in text.utf8 {
                switch byte {
                case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
                case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
                case UInt8(ascii: "\n"): out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
                case UInt8(ascii: "\r"): out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
                case UInt8(ascii: "\t"): out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
                case 0..<0x20: out += Array(("\\u00" + FrameExport.hexadecimal(CollectionOfOne(byte))).utf8)
                default: out.append(byte)
                }
            }
            out.append(UInt8(ascii: "\""))
        }
        for (index, key) in headers.keys.sorted().enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            append(key)
            out.append(UInt8(ascii: ":"))
            append(headers[key] ?? "")
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }

    /// The processor's figures for one frame.
    package struct Quality: Sendable {
        var exposure: String
        var frame: Int
        var median: Double?
        var sigma: Double?
        var nstars: Int?
        var fwhm: Double?
        var hfd: Double?

        /// Creates figures.
        package init(exposure: String, frame: Int, median: Double?, sigma: Double?, nstars: Int?, fwhm: Double?, hfd: Double?) {
            self.exposure = exposure
            self.frame = frame
            self.median = median
            self.sigma = sigma
            self.nstars = nstars
            self.fwhm = fwhm
            self.hfd = hfd
        }
    }

    /// The processor's figures for frames: kept by exposure and frame, and set on their rows (now,
    /// or when the rows come), in one transaction.
    package func recordQuality(_ figures: [Quality]) async throws {
        try await pool.write { db in
            for quality in figures {
                try db.execute(sql: """
                    INSERT INTO quality (exposure, frame, median, sigma, nstars, fwhm, hfd) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT(exposure, frame) DO UPDATE SET median = excluded.median, sigma = excluded.sigma,
                        nstars = excluded.nstars, fwhm = excluded.fwhm, hfd = excluded.hfd
                    """, arguments: [quality.exposure, quality.frame, quality.median, quality.sigma, quality.nstars,
                                     quality.fwhm, quality.hfd])
                // A row whose figures change is a new revision: the export sends it again.
                try db.execute(sql: "UPDATE frame SET median = ?, sigma = ?, nstars = ?, fwhm = ?, hfd = ?, revision = revision + 1 "
                               + "WHERE exposure = ? AND frame = ? AND (median IS NOT ? OR sigma IS NOT ? OR nstars IS NOT ? "
                               + "OR fwhm IS NOT ? OR hfd IS NOT ?)",
                               arguments: [quality.median, quality.sigma, quality.nstars, quality.fwhm, quality.hfd,
                                           quality.exposure, quality.frame,
                                           quality.median, quality.sigma, quality.nstars, quality.fwhm, quality.hfd])
            }
        }
    }

    /// What the catalog knows of each path: id, SHA-256 and whether it is missing.
    func knownFiles() async throws -> [String: (id: Int64, sha256: String, missing: Bool)] {
        try await pool.read { db in
            var known: [String: (id: Int64, sha256: String, missing: Bool)] = [:]
            let rows = try Row.fetchCursor(db, sql: "SELECT id, path, sha256, missing FROM frame")
            while let row = try rows.next() {
                known[row["path"]] = (row["id"], row["sha256"], row["missing"])
            }
            return known
        }
    }

    /// Marks rows missing (`true`) or present again (`false`).
    func setMissing(_ ids: [Int64], _ missing: Bool) async throws {
        guard !ids.isEmpty else { return }
        try await pool.write { db in
            for id in ids {
                try db.execute(sql: "UPDATE frame SET missing = ? WHERE id = ?", arguments: [missing, id])
            }
        }
    }

    /// Every row's id, path, size and hash (for `verify`).
    func hashes() async throws -> [(id: Int64, path: String, bytes: Int64, sha256: String, missing: Bool)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT id, path, bytes, sha256, missing FROM frame ORDER BY id").map {
                ($0["id"], $0["path"], $0["bytes"], $0["sha256"], $0["missing"])
            }
        }
    }

    // MARK: - Reading

    static let rowColumns = """
        id, path, bytes, sha256, night, date_obs, exptime, imagetyp, filter, object, exposure, frame, xbinning, ybinning,
        xorigin, yorigin, width, height, ccd_temp, set_temp, gain, readout_mode, ra, dec, plan, plan_step, plan_index, median,
        sigma, nstars, fwhm, hfd, missing, added, site, camera
        """

    /// The position of each of ``rowColumns`` in a row that selects them first: read by index,
    /// a row costs a fraction of reading by name (GRDB lower-cases every name it looks up, which
    /// was most of a 1,000-row page's time).
    private static let rowIndex: [String: Int] = Dictionary(uniqueKeysWithValues: rowColumns.split(separator: ",").enumerated().map {
        ($1.trimmingCharacters(in: .whitespacesAndNewlines), $0)
    })

    /// A row of a query that selects ``rowColumns`` first.
    static func frameRow(_ row: Row) -> FrameRow {
        let i = rowIndex
        var frame = FrameRow(id: row[i["id"]!], path: row[i["path"]!], bytes: row[i["bytes"]!], sha256: row[i["sha256"]!],
                             night: row[i["night"]!], missing: row[i["missing"]!], added: row[i["added"]!])
        let date: String = row[i["date_obs"]!]
        frame.dateObs = date.isEmpty ? nil : date
        frame.exptime = row[i["exptime"]!]
        frame.imagetyp = row[i["imagetyp"]!]
        frame.filter = row[i["filter"]!]
        frame.object = row[i["object"]!]
        frame.exposure = row[i["exposure"]!]
        frame.frame = row[i["frame"]!]
        frame.xbinning = row[i["xbinning"]!]
        frame.ybinning = row[i["ybinning"]!]
        frame.xorigin = row[i["xorigin"]!]
        frame.yorigin = row[i["yorigin"]!]
        frame.width = row[i["width"]!]
        frame.height = row[i["height"]!]
        frame.ccdTemp = row[i["ccd_temp"]!]
        frame.setTemp = row[i["set_temp"]!]
        frame.gain = row[i["gain"]!]
        frame.readoutMode = row[i["readout_mode"]!]
        frame.ra = row[i["ra"]!]
        frame.dec = row[i["dec"]!]
        frame.plan = row[i["plan"]!]
        frame.planStep = row[i["plan_step"]!]
        frame.planIndex = row[i["plan_index"]!]
        frame.median = row[i["median"]!]
        frame.sigma = row[i["sigma"]!]
        frame.nstars = row[i["nstars"]!]
        frame.fwhm = row[i["fwhm"]!]
        frame.hfd = row[i["hfd"]!]
        frame.site = row[i["site"]!]
        frame.camera = row[i["camera"]!]
        return frame
    }

    /// The WHERE clause and its arguments for a query's filters.
    static func filters(_ query: FrameQuery) -> (sql: String, arguments: StatementArguments) {
        var clauses: [String] = []
        var arguments = StatementArguments()
        func add(_ clause: String, _ values: (any DatabaseValueConvertible)?...) {
            clauses.append(clause)
            arguments += StatementArguments(values)
        }
        if let start = query.start { add("date_obs >= ?", start) }
        if let end = query.end { add("date_obs < ? AND date_obs <> ''", end) }
        if let night = query.night { add("night = ?", night) }
        if let type = query.imagetyp { add("imagetyp = ?", type) }
        if let filter = query.filter { add("filter = ? COLLATE NOCASE", filter) }
        if let object = query.object {
            let escaped = object.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            add("object LIKE ? ESCAPE '\\'", "%" + escaped + "%")
        }
        if let exposure = query.exposure { add("exposure = ?", exposure) }
        if let low = query.exptimeMin { add("exptime >= ?", low) }
        if let high = query.exptimeMax { add("exptime <= ?", high) }
        if let low = query.tempMin { add("ccd_temp >= ?", low) }
        if let high = query.tempMax { add("ccd_temp <= ?", high) }
        if let high = query.fwhmMax { add("fwhm <= ?", high) }
        if let plan = query.plan { add("plan = ?", plan) }
        if let site = query.site { add("site = ?", site) }
        if let camera = query.camera { add("camera = ?", camera) }
        if let missing = query.missing { add("missing = ?", missing) }
        return (clauses.isEmpty ? "1" : clauses.joined(separator: " AND "), arguments)
    }

    /// The sort key's SQL expression and direction.
    static func order(_ sort: FrameSort) -> (key: String, descending: Bool) {
        switch sort {
        case .dateObs: ("date_obs", false)
        case .dateObsDescending: ("date_obs", true)
        case .fwhm: ("IFNULL(fwhm, 1e308)", false)
        case .fwhmDescending: ("IFNULL(fwhm, -1e308)", true)
        }
    }

    /// A page of the rows a query selects.
    /// - Throws: `invalid_argument` for a cursor this catalog did not make; GRDB's errors.
    public func frames(_ query: FrameQuery) async throws -> FramePage {
        let query = try query.normalized()
        var (whereSQL, arguments) = Self.filters(query)
        let (key, descending) = Self.order(query.sort)
        if let text = query.cursor {
            let cursor = try FrameCursor(decoding: text, for: query.sort)
            whereSQL += " AND (\(key), id) \(descending ? "<" : ">") (?, ?)"
            switch query.sort {
            case .dateObs, .dateObsDescending: arguments += [cursor.text ?? "", cursor.id]
            case .fwhm, .fwhmDescending: arguments += [cursor.number ?? 0, cursor.id]
            }
        }
        let direction = descending ? "DESC" : "ASC"
        let sql = "SELECT \(Self.rowColumns), \(key) AS sort_key FROM frame WHERE \(whereSQL) "
            + "ORDER BY \(key) \(direction), id \(direction) LIMIT \(query.limit)"
        let finalArguments = arguments
        let page = try await pool.read { db in try Row.fetchAll(db, sql: sql, arguments: finalArguments) }
        // After the page's last row, whenever it has one: a client following a night as it is
        // taken asks again with it and gets only the rows added since (an empty page: none yet).
        var next: String?
        if let last = page.last {
            switch query.sort {
            case .dateObs, .dateObsDescending:
                next = FrameCursor(sort: query.sort, text: last["sort_key"], number: nil, id: last["id"]).encoded
            case .fwhm, .fwhmDescending:
                next = FrameCursor(sort: query.sort, text: nil, number: last["sort_key"], id: last["id"]).encoded
            }
        }
        return FramePage(frames: page.map(Self.frameRow), next: next)
    }

    /// One row with its headers.
    /// - Throws: `not_found` for an unknown id.
    public func frame(id: Int64) async throws -> FrameRow {
        let found = try await pool.read { db -> (Row, String?)? in
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.rowColumns) FROM frame WHERE id = ?", arguments: [id]) else {
                return nil
            }
            return (row, try String.fetchOne(db, sql: "SELECT headers FROM frame_header WHERE frame_id = ?", arguments: [id]))
        }
        guard let (row, headers) = found else { throw BusError(.notFound, "no frame with id \(id) in the catalog", field: "id") }
        var frame = Self.frameRow(row)
        frame.headers = headers.flatMap { try? JSONDecoder().decode([String: String].self, from: Data($0.utf8)) } ?? [:]
        return frame
    }

    /// Counts and total exposure per night, filter and image type of the rows a query selects.
    public func summary(_ query: FrameQuery) async throws -> FrameSummary {
        let query = try query.normalized()
        let (whereSQL, arguments) = Self.filters(query)
        let sql = "SELECT night, filter, imagetyp, COUNT(*) AS frames, TOTAL(exptime) AS exposure FROM frame "
            + "WHERE \(whereSQL) GROUP BY night, filter, imagetyp ORDER BY night DESC, filter, imagetyp"
        let rows = try await pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments) }
        var nights: [FrameSummary.Night] = []
        for row in rows {
            let night: String = row["night"]
            let group = FrameSummary.Group(filter: row["filter"], imagetyp: row["imagetyp"], frames: row["frames"],
                                           exposure: row["exposure"])
            if nights.last?.night != night { nights.append(.init(night: night, frames: 0, exposure: 0, groups: [])) }
            nights[nights.count - 1].groups.append(group)
            nights[nights.count - 1].frames += group.frames
            nights[nights.count - 1].exposure += group.exposure
        }
        return FrameSummary(nights: nights, frames: nights.reduce(0) { $0 + $1.frames },
                            exposure: nights.reduce(0) { $0 + $1.exposure })
    }

    /// Rows, and rows whose file is missing.
    func counts() async throws -> (frames: Int, missing: Int) {
        try await pool.read { db in
            let frames = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM frame") ?? 0
            let missing = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM frame WHERE missing") ?? 0
            return (frames, missing)
        }
    }
}
