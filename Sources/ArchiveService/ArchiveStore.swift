import ApertureProtocol
import Bus
import Foundation
import Logging
import PostgresNIO

/// What the archive reports about a frame it could not store (`/v1/problems`, the `problems` table).
public enum ProblemKind: String, Codable, Sendable, CaseIterable {
    /// The row came but some of its chunks did not within `archive.incomplete_timeout`.
    case incomplete
    /// The chunks' bytes do not hash to the row's SHA-256 (or the sizes differ).
    case hashMismatch = "hash_mismatch"
    /// A central file already holds the path with other bytes: never overwritten.
    case conflict
    /// A message that breaks the export's format (a hostile path, a bad header): refused.
    case invalid
}

/// One reported problem.
public struct ArchiveProblem: Codable, Sendable, Hashable {
    /// The problem's id.
    public var id: Int64
    /// The site named by the messages (may be empty when the message named none).
    public var site: String
    /// The camera named by the messages.
    public var camera: String
    /// The frame's path on its camera host, as sent.
    public var path: String
    /// The frame's SHA-256, as sent.
    public var sha256: String
    /// What went wrong.
    public var kind: ProblemKind
    /// Details, naming the field or the numbers.
    public var detail: String
    /// When it was first seen (ISO UTC).
    public var firstSeen: String
    /// When it was last seen (ISO UTC).
    public var lastSeen: String
    /// How many times it was seen.
    public var count: Int64
    /// When the frame was stored after all (ISO UTC), or nil.
    public var resolved: String?

    enum CodingKeys: String, CodingKey {
        case id, site, camera, path, sha256, kind, detail, count, resolved
        case firstSeen = "first_seen"
        case lastSeen = "last_seen"
    }
}

/// One camera as the archive knows it: its last live status (core NATS `aperture.SITE.CAMERA.*`)
/// and its last frame stored.
public struct ArchiveCamera: Sendable, Hashable {
    /// The site.
    public var site: String
    /// The camera.
    public var camera: String
    /// The last status body of each kind (`state`, `telemetry`, `export`): a JSON object, as sent.
    public var status: String
    /// When a status message last came (ISO UTC), or nil.
    public var lastSeen: String?
    /// The path of the last frame stored (on its camera host), or nil.
    public var lastFrame: String?
    /// When that frame was stored centrally (ISO UTC).
    public var lastStored: String?
    /// Frames stored from this camera.
    public var frames: Int64
}

/// Counts for `/metrics` and `/healthz`.
public struct ArchiveCounts: Sendable, Hashable {
    /// Rows stored.
    public var frames: Int64
    /// Their bytes.
    public var bytes: Int64
    /// Problems not resolved, by kind.
    public var problems: [ProblemKind: Int64]
}

/// What an upsert did.
public enum UpsertOutcome: Sendable, Hashable {
    /// A new row, with the archive's id.
    case inserted(Int64)
    /// The row was there at an older or the same revision and now holds this one.
    case updated(Int64)
    /// The row was there at a newer revision (or with other bytes): nothing changed.
    case unchanged
}

/// The archive's PostgreSQL database: its schema (numbered migrations recorded in
/// `schema_version`), the frames, the problems and the cameras. Every value is bound (`$1`...),
/// never written into the SQL.
public final class ArchiveStore: Sendable {
    /// The connection pool; it runs as one of the archive's services.
    public let client: PostgresClient
    private let logger: Logger

    /// Creates the store; nothing connects until ``client`` runs.
    /// - Parameters:
    ///   - host: the server (`archive.postgres_url`'s host).
    ///   - port: its TCP port.
    ///   - user: the role.
    ///   - database: the database.
    ///   - password: the password from `archive.postgres_password_file`, if any.
    ///   - logger: the archive's logger.
    public init(host: String, port: Int, user: String, database: String, password: String?, logger: Logger) {
        var configuration = PostgresClient.Configuration(host: host, port: port, username: user, password: password,
                                                          database: database, tls: .disable)
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 8
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.logger = logger
    }

    /// Runs the connection pool until the task is cancelled (the archive runs ``client`` as a
    /// service instead).
    public func runPool() async { await client.run() }

    /// The schema's steps, in order; step N is applied once, when `schema_version` is below N.
    /// Never edit a step that has shipped: add one.
    static let migrations: [String] = [
        // 1: frames, problems, cameras.
        """
        CREATE TABLE frames (
            id BIGSERIAL PRIMARY KEY,
            site TEXT NOT NULL, camera TEXT NOT NULL, path TEXT NOT NULL, central_path TEXT NOT NULL,
            night TEXT NOT NULL, date_obs TEXT, exptime DOUBLE PRECISION, imagetyp TEXT, filter TEXT, object TEXT,
            exposure TEXT, frame BIGINT, xbinning BIGINT, ybinning BIGINT, xorigin BIGINT, yorigin BIGINT,
            width BIGINT, height BIGINT, ccd_temp DOUBLE PRECISION, set_temp DOUBLE PRECISION, gain TEXT,
            readout_mode TEXT, ra DOUBLE PRECISION, dec DOUBLE PRECISION, plan TEXT, plan_step BIGINT, plan_index BIGINT,
            median DOUBLE PRECISION, sigma DOUBLE PRECISION, nstars BIGINT, fwhm DOUBLE PRECISION, hfd DOUBLE PRECISION,
            missing BOOLEAN NOT NULL, added TEXT NOT NULL,
            sha256 TEXT NOT NULL, bytes BIGINT NOT NULL, headers JSONB NOT NULL DEFAULT '{}',
            source_id BIGINT NOT NULL, revision BIGINT NOT NULL, catalogued TEXT NOT NULL,
            stored TIMESTAMPTZ NOT NULL DEFAULT now(),
            UNIQUE (site, camera, path)
        );
        CREATE INDEX frames_by_date ON frames ((COALESCE(date_obs, '')), id);
        CREATE INDEX frames_by_night ON frames (night, date_obs, id);
        CREATE INDEX frames_by_hash ON frames (site, camera, sha256);
        CREATE TABLE problems (
            id BIGSERIAL PRIMARY KEY,
            site TEXT NOT NULL, camera TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('incomplete', 'hash_mismatch', 'conflict', 'invalid')),
            detail TEXT NOT NULL,
            first_seen TIMESTAMPTZ NOT NULL DEFAULT now(), last_seen TIMESTAMPTZ NOT NULL DEFAULT now(),
            count BIGINT NOT NULL DEFAULT 1, resolved TIMESTAMPTZ,
            UNIQUE (site, camera, path, sha256, kind)
        );
        CREATE TABLE cameras (
            site TEXT NOT NULL, camera TEXT NOT NULL,
            status JSONB NOT NULL DEFAULT '{}', last_seen TIMESTAMPTZ,
            PRIMARY KEY (site, camera)
        );
        """,
    ]

    /// Brings the schema up to date: each step not yet applied, in one transaction with its
    /// `schema_version` row (two archives starting at once: the second waits on the lock).
    /// - Returns: the schema's version now.
    @discardableResult
    public func migrate() async throws -> Int {
        try await client.query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied TIMESTAMPTZ NOT NULL DEFAULT now())")
        for (index, step) in Self.migrations.enumerated() {
            let version = index + 1
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("LOCK TABLE schema_version IN EXCLUSIVE MODE", logger: logger)
                let done = try await connection.query("SELECT 1 FROM schema_version WHERE version = \(version)", logger: logger)
                    .collect()
                guard done.isEmpty else { return }
                for statement in step.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) })
                where !statement.isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO schema_version (version) VALUES (\(version))", logger: logger)
                logger.info("archive database: schema step \(version) applied")
            }
        }
        return Self.migrations.count
    }

    /// The schema's version (the highest step applied).
    public func schemaVersion() async throws -> Int {
        let rows = try await client.query("SELECT COALESCE(MAX(version), 0) FROM schema_version").collect()
        return Int(try rows.first?.decode(Int64.self) ?? 0)
    }

    // MARK: Frames.

    static let frameColumns = [
        "site", "camera", "path", "central_path", "night", "date_obs", "exptime", "imagetyp", "filter", "object",
        "exposure", "frame", "xbinning", "ybinning", "xorigin", "yorigin", "width", "height", "ccd_temp", "set_temp",
        "gain", "readout_mode", "ra", "dec", "plan", "plan_step", "plan_index", "median", "sigma", "nstars", "fwhm",
        "hfd", "missing", "added", "sha256", "bytes", "headers", "source_id", "revision", "catalogued",
    ]

    /// Inserts a frame's row or, when the (site, camera, path) is there, updates it if the
    /// incoming revision is at least the stored one and the bytes are the same; a late re-send
    /// of an older revision changes nothing.
    /// - Parameters:
    ///   - export: the row message.
    ///   - centralPath: the file's path under the central root (`SITE/CAMERA/YYYYMMDD/NAME`).
    public func upsert(_ export: ExportRow, centralPath: String) async throws -> UpsertOutcome {
        let row = export.row
        var binds = PostgresBindings()
        binds.append(export.site)
        binds.append(export.camera)
        binds.append(row.path)
        binds.append(centralPath)
        binds.append(row.night)
        binds.append(row.dateObs)
        binds.append(row.exptime)
        binds.append(row.imagetyp)
        binds.append(row.filter)
        binds.append(row.object)
        binds.append(row.exposure)
        for value in [row.frame, row.xbinning, row.ybinning, row.xorigin, row.yorigin, row.width, row.height] {
            binds.append(value.map(Int64.init))
        }
        binds.append(row.ccdTemp)
        binds.append(row.setTemp)
        binds.append(row.gain)
        binds.append(row.readoutMode)
        binds.append(row.ra)
        binds.append(row.dec)
        binds.append(row.plan)
        binds.append(row.planStep.map(Int64.init))
        binds.append(row.planIndex.map(Int64.init))
        binds.append(row.median)
        binds.append(row.sigma)
        binds.append(row.nstars.map(Int64.init))
        binds.append(row.fwhm)
        binds.append(row.hfd)
        binds.append(row.missing)
        binds.append(row.added)
        binds.append(row.sha256)
        binds.append(row.bytes)
        let headers = (try? JSONEncoder().encode(row.headers ?? [:])).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
        binds.append(headers)
        binds.append(row.id)
        binds.append(Int64(export.revision))
        binds.append(export.catalogued)
        let columns = Self.frameColumns
        let values = columns.indices.map { index in columns[index] == "headers" ? "$\(index + 1)::text::jsonb" : "$\(index + 1)" }
        let updates = columns.filter { !["site", "camera", "path"].contains($0) }.map { "\($0) = EXCLUDED.\($0)" }
        let sql = "INSERT INTO frames (\(columns.joined(separator: ", "))) VALUES (\(values.joined(separator: ", "))) "
            + "ON CONFLICT (site, camera, path) DO UPDATE SET \(updates.joined(separator: ", ")), "
            + "stored = CASE WHEN EXCLUDED.revision > frames.revision THEN now() ELSE frames.stored END "
            + "WHERE frames.revision <= EXCLUDED.revision AND frames.sha256 = EXCLUDED.sha256 "
            + "RETURNING id, (xmax = 0) AS inserted"
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
        guard let first = rows.first else { return .unchanged }
        let (id, inserted) = try first.decode((Int64, Bool).self)
        return inserted ? .inserted(id) : .updated(id)
    }

    /// The central path and revision of the row holding (site, camera, path), if any, with its SHA-256.
    public func stored(site: String, camera: String, path: String) async throws -> (sha256: String, centralPath: String, revision: Int64)? {
        let rows = try await client.query(
            "SELECT sha256, central_path, revision FROM frames WHERE site = \(site) AND camera = \(camera) AND path = \(path)",
            logger: logger).collect()
        return try rows.first?.decode((String, String, Int64).self)
    }

    /// A central file of the same camera holding these bytes, if any (a second path with the same content).
    public func centralPath(site: String, camera: String, sha256: String) async throws -> String? {
        let rows = try await client.query(
            "SELECT central_path FROM frames WHERE site = \(site) AND camera = \(camera) AND sha256 = \(sha256) ORDER BY id LIMIT 1",
            logger: logger).collect()
        return try rows.first?.decode(String.self)
    }

    static let rowColumns = """
        id, site, camera, path, bytes, sha256, night, date_obs, exptime, imagetyp, filter, object, exposure, frame, \
        xbinning, ybinning, xorigin, yorigin, width, height, ccd_temp, set_temp, gain, readout_mode, ra, dec, plan, \
        plan_step, plan_index, median, sigma, nstars, fwhm, hfd, missing, added
        """

    static func frameRow(_ postgresRow: PostgresRow) throws -> FrameRow {
        let cells = postgresRow.makeRandomAccess()
        func text(_ name: String) throws -> String? { try cells[name].decode(String?.self) }
        func number(_ name: String) throws -> Double? { try cells[name].decode(Double?.self) }
        func integer(_ name: String) throws -> Int? { try cells[name].decode(Int64?.self).map { Int(clamping: $0) } }
        var row = FrameRow(id: try cells["id"].decode(Int64.self), path: try cells["path"].decode(String.self),
                           bytes: try cells["bytes"].decode(Int64.self), sha256: try cells["sha256"].decode(String.self),
                           night: try cells["night"].decode(String.self), missing: try cells["missing"].decode(Bool.self),
                           added: try cells["added"].decode(String.self))
        row.site = try text("site")
        row.camera = try text("camera")
        row.dateObs = try text("date_obs")
        row.exptime = try number("exptime")
        row.imagetyp = try text("imagetyp")
        row.filter = try text("filter")
        row.object = try text("object")
        row.exposure = try text("exposure")
        row.frame = try integer("frame")
        row.xbinning = try integer("xbinning")
        row.ybinning = try integer("ybinning")
        row.xorigin = try integer("xorigin")
        row.yorigin = try integer("yorigin")
        row.width = try integer("width")
        row.height = try integer("height")
        row.ccdTemp = try number("ccd_temp")
        row.setTemp = try number("set_temp")
        row.gain = try text("gain")
        row.readoutMode = try text("readout_mode")
        row.ra = try number("ra")
        row.dec = try number("dec")
        row.plan = try text("plan")
        row.planStep = try integer("plan_step")
        row.planIndex = try integer("plan_index")
        row.median = try number("median")
        row.sigma = try number("sigma")
        row.nstars = try integer("nstars")
        row.fwhm = try number("fwhm")
        row.hfd = try number("hfd")
        return row
    }

    /// The WHERE clause of a query's filters, its values appended to `binds`.
    static func filters(_ query: FrameQuery, _ binds: inout PostgresBindings) -> String {
        var clauses: [String] = []
        func add(_ clause: (String) -> String, _ value: some PostgresDynamicTypeEncodable) {
            binds.append(value)
            clauses.append(clause("$\(binds.count)"))
        }
        if let start = query.start { add({ "date_obs >= \($0)" }, start) }
        if let end = query.end { add({ "date_obs < \($0)" }, end) }
        if let night = query.night { add({ "night = \($0)" }, night) }
        if let type = query.imagetyp { add({ "imagetyp = \($0)" }, type) }
        if let filter = query.filter { add({ "lower(filter) = lower(\($0))" }, filter) }
        if let object = query.object {
            let escaped = object.replacingOccurrences(of: "\\", with: "\\\\")
                .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            add({ "object ILIKE \($0)" }, "%" + escaped + "%")
        }
        if let exposure = query.exposure { add({ "exposure = \($0)" }, exposure) }
        if let low = query.exptimeMin { add({ "exptime >= \($0)" }, low) }
        if let high = query.exptimeMax { add({ "exptime <= \($0)" }, high) }
        if let low = query.tempMin { add({ "ccd_temp >= \($0)" }, low) }
        if let high = query.tempMax { add({ "ccd_temp <= \($0)" }, high) }
        if let high = query.fwhmMax { add({ "fwhm <= \($0)" }, high) }
        if let plan = query.plan { add({ "plan = \($0)" }, plan) }
        if let site = query.site { add({ "site = \($0)" }, site) }
        if let camera = query.camera { add({ "camera = \($0)" }, camera) }
        if let missing = query.missing { add({ "missing = \($0)" }, missing) }
        return clauses.isEmpty ? "TRUE" : clauses.joined(separator: " AND ")
    }

    /// The sort key's SQL expression and direction (frames without a DATE-OBS or a FWHM sort as
    /// on a camera host: an empty date first, no FWHM last).
    static func order(_ sort: FrameSort) -> (key: String, descending: Bool) {
        switch sort {
        case .dateObs: ("COALESCE(date_obs, '')", false)
        case .dateObsDescending: ("COALESCE(date_obs, '')", true)
        case .fwhm: ("COALESCE(fwhm, 1e308)", false)
        case .fwhmDescending: ("COALESCE(fwhm, -1e308)", true)
        }
    }

    /// A page of the rows a query selects, across every site and camera.
    /// - Throws: ``BusError`` `invalid_argument` for a query or cursor that is not valid.
    public func frames(_ query: FrameQuery) async throws -> FramePage {
        let query = try query.normalized()
        var binds = PostgresBindings()
        var whereSQL = Self.filters(query, &binds)
        let (key, descending) = Self.order(query.sort)
        if let text = query.cursor {
            let cursor = try FrameCursor(decoding: text, for: query.sort)
            switch query.sort {
            case .dateObs, .dateObsDescending: binds.append(cursor.text ?? "")
            case .fwhm, .fwhmDescending: binds.append(cursor.number ?? 0)
            }
            binds.append(cursor.id)
            whereSQL += " AND (\(key), id) \(descending ? "<" : ">") ($\(binds.count - 1), $\(binds.count))"
        }
        let direction = descending ? "DESC" : "ASC"
        let sql = "SELECT \(Self.rowColumns), \(key) AS sort_key FROM frames WHERE \(whereSQL) "
            + "ORDER BY \(key) \(direction), id \(direction) LIMIT \(query.limit)"
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).collect()
        var next: String?
        if let last = rows.last {
            let cells = last.makeRandomAccess()
            let id = try cells["id"].decode(Int64.self)
            switch query.sort {
            case .dateObs, .dateObsDescending:
                next = FrameCursor(sort: query.sort, text: try cells["sort_key"].decode(String.self), number: nil, id: id).encoded
            case .fwhm, .fwhmDescending:
                next = FrameCursor(sort: query.sort, text: nil, number: try cells["sort_key"].decode(Double.self), id: id).encoded
            }
        }
        return FramePage(frames: try rows.map(Self.frameRow), next: next)
    }

    /// One row with its headers, and where its file is centrally.
    /// - Throws: ``BusError`` `not_found` for an unknown id.
    public func frame(id: Int64) async throws -> (row: FrameRow, centralPath: String) {
        let rows = try await client.query(PostgresQuery(
            unsafeSQL: "SELECT \(Self.rowColumns), headers::text AS header_text, central_path FROM frames WHERE id = $1",
            binds: { var binds = PostgresBindings(); binds.append(id); return binds }()), logger: logger).collect()
        guard let first = rows.first else { throw BusError(.notFound, "no frame with id \(id) in the archive", field: "id") }
        var row = try Self.frameRow(first)
        let cells = first.makeRandomAccess()
        let headers = try cells["header_text"].decode(String.self)
        row.headers = (try? JSONDecoder().decode([String: String].self, from: Data(headers.utf8))) ?? [:]
        return (row, try cells["central_path"].decode(String.self))
    }

    /// Counts and total exposure per night, filter and image type of the rows a query selects.
    public func summary(_ query: FrameQuery) async throws -> FrameSummary {
        let query = try query.normalized()
        var binds = PostgresBindings()
        let whereSQL = Self.filters(query, &binds)
        let sql = "SELECT night, filter, imagetyp, COUNT(*) AS frames, COALESCE(SUM(exptime), 0) AS exposure FROM frames "
            + "WHERE \(whereSQL) GROUP BY night, filter, imagetyp ORDER BY night DESC, filter NULLS FIRST, imagetyp NULLS FIRST"
        var nights: [FrameSummary.Night] = []
        for try await (night, filter, imagetyp, frames, exposure) in try await client.query(
            PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).decode((String, String?, String?, Int64, Double).self) {
            let group = FrameSummary.Group(filter: filter, imagetyp: imagetyp, frames: Int(frames), exposure: exposure)
            if nights.last?.night != night { nights.append(.init(night: night, frames: 0, exposure: 0, groups: [])) }
            nights[nights.count - 1].groups.append(group)
            nights[nights.count - 1].frames += group.frames
            nights[nights.count - 1].exposure += group.exposure
        }
        return FrameSummary(nights: nights, frames: nights.reduce(0) { $0 + $1.frames },
                            exposure: nights.reduce(0) { $0 + $1.exposure })
    }

    // MARK: Problems.

    /// Records a problem, or counts it again when the same one is there (and reopens it).
    public func report(_ kind: ProblemKind, site: String, camera: String, path: String, sha256: String, detail: String) async throws {
        let kindText = kind.rawValue
        try await client.query("""
            INSERT INTO problems (site, camera, path, sha256, kind, detail) VALUES (\(site), \(camera), \(path), \(sha256), \(kindText), \(detail))
            ON CONFLICT (site, camera, path, sha256, kind) DO UPDATE SET count = problems.count + 1, last_seen = now(),
            detail = EXCLUDED.detail, resolved = NULL
            """, logger: logger)
    }

    /// Marks a frame's open problems resolved (it was stored after all).
    public func resolve(site: String, camera: String, path: String, sha256: String) async throws {
        try await client.query("""
            UPDATE problems SET resolved = now() WHERE site = \(site) AND camera = \(camera) AND path = \(path) \
            AND sha256 = \(sha256) AND resolved IS NULL AND kind = 'incomplete'
            """, logger: logger)
    }

    /// The problems, newest first.
    /// - Parameters:
    ///   - kind: only this kind, if given.
    ///   - limit: at most this many.
    public func problems(kind: ProblemKind?, limit: Int) async throws -> [ArchiveProblem] {
        let kindText = kind?.rawValue
        let rows = try await client.query("""
            SELECT id, site, camera, path, sha256, kind, detail, \(unescaped: Self.iso("first_seen")), \
            \(unescaped: Self.iso("last_seen")), count, \(unescaped: Self.iso("resolved")) FROM problems \
            WHERE (\(kindText)::text IS NULL OR kind = \(kindText)) ORDER BY last_seen DESC, id DESC LIMIT \(Int64(limit))
            """, logger: logger)
        var problems: [ArchiveProblem] = []
        for try await (id, site, camera, path, sha256, kind, detail, first, last, count, resolved) in rows.decode(
            (Int64, String, String, String, String, String, String, String, String, Int64, String?).self) {
            problems.append(ArchiveProblem(id: id, site: site, camera: camera, path: path, sha256: sha256,
                                           kind: ProblemKind(rawValue: kind) ?? .invalid, detail: detail, firstSeen: first,
                                           lastSeen: last, count: count, resolved: resolved))
        }
        return problems
    }

    /// A timestamp column as ISO UTC text (`YYYY-MM-DDTHH:MM:SS.sssZ`).
    static func iso(_ column: String) -> String {
        "to_char(\(column) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
    }

    // MARK: Cameras.

    /// Keeps a camera's latest status of one kind.
    /// - Parameters:
    ///   - kind: `state`, `telemetry` or `export`.
    ///   - body: the message's JSON body.
    public func cameraStatus(site: String, camera: String, kind: String, body: String) async throws {
        try await client.query("""
            INSERT INTO cameras (site, camera, status, last_seen) VALUES (\(site), \(camera), jsonb_build_object(\(kind)::text, \(body)::text::jsonb), now())
            ON CONFLICT (site, camera) DO UPDATE SET status = cameras.status || EXCLUDED.status, last_seen = now()
            """, logger: logger)
    }

    /// Every camera that sent a status or a frame: its status, last frame and count.
    public func cameras() async throws -> [ArchiveCamera] {
        let rows = try await client.query("""
            WITH known AS (SELECT site, camera FROM cameras UNION SELECT DISTINCT site, camera FROM frames),
            latest AS (SELECT DISTINCT ON (site, camera) site, camera, path, stored FROM frames ORDER BY site, camera, stored DESC, id DESC),
            counted AS (SELECT site, camera, COUNT(*) AS frames FROM frames GROUP BY site, camera)
            SELECT known.site, known.camera, COALESCE(cameras.status, '{}')::text, \(unescaped: Self.iso("cameras.last_seen")),
            latest.path, \(unescaped: Self.iso("latest.stored")), COALESCE(counted.frames, 0)
            FROM known LEFT JOIN cameras USING (site, camera) LEFT JOIN latest USING (site, camera)
            LEFT JOIN counted USING (site, camera) ORDER BY known.site, known.camera
            """, logger: logger)
        var cameras: [ArchiveCamera] = []
        for try await (site, camera, status, seen, path, stored, frames) in rows.decode(
            (String, String, String, String?, String?, String?, Int64).self) {
            cameras.append(ArchiveCamera(site: site, camera: camera, status: status, lastSeen: seen, lastFrame: path,
                                         lastStored: stored, frames: frames))
        }
        return cameras
    }

    // MARK: Counts.

    /// Rows, bytes and open problems by kind.
    public func counts() async throws -> ArchiveCounts {
        var frames: Int64 = 0, bytes: Int64 = 0
        for try await (count, total) in try await client.query(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0)::bigint FROM frames", logger: logger).decode((Int64, Int64).self) {
            (frames, bytes) = (count, total)
        }
        var problems: [ProblemKind: Int64] = [:]
        for kind in ProblemKind.allCases { problems[kind] = 0 }
        for try await (kind, count) in try await client.query(
            "SELECT kind, COUNT(*) FROM problems WHERE resolved IS NULL GROUP BY kind", logger: logger).decode((String, Int64).self) {
            if let kind = ProblemKind(rawValue: kind) { problems[kind] = count }
        }
        return ArchiveCounts(frames: frames, bytes: bytes, problems: problems)
    }
}
