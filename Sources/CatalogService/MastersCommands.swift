import ApertureProtocol
import Bus
import Calibration
import ChildRuntime
import FITSStorage
import Dispatch
import Foundation
import GRDB
import Logging

// Master frames and the calibration library on catalog.ctl: `calibration.combine` and
// `calibration.match` (issue 15, items 5 and 6).

extension CatalogDatabase {
    /// The masters' migration: `master_input` records each master's inputs (their ids, paths and
    /// SHA-256 when combined), one row per input in the order combined.
    static func registerMastersMigration(_ migrator: inout DatabaseMigrator) {
        migrator.registerMigration("masters-v1") { db in
            try db.execute(sql: """
                CREATE TABLE master_input (
                    master_id INTEGER NOT NULL REFERENCES frame(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    input_id INTEGER NOT NULL,
                    path TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    PRIMARY KEY (master_id, position)
                ) WITHOUT ROWID;
                CREATE INDEX master_input_by_input ON master_input(input_id);
                """)
        }
    }

    /// The image types of masters, as the catalog keeps them.
    static let masterTypes = MasterKind.allCases.map(\.masterImageType)

    /// The rows of these ids, in no particular order (unknown ids are simply absent).
    func rows(ids: [Int64]) async throws -> [FrameRow] {
        let sql = "SELECT \(Self.rowColumns) FROM frame WHERE id IN (\(ids.map { _ in "?" }.joined(separator: ", ")))"
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(ids)).map(Self.frameRow)
        }
    }

    /// The id of the row of a path relative to the data root.
    func id(path: String) async throws -> Int64? {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT id FROM frame WHERE path = ?", arguments: [path]) }
    }

    /// Every master whose file is present.
    func masters() async throws -> [FrameRow] {
        let types = Self.masterTypes
        let sql = "SELECT \(Self.rowColumns) FROM frame WHERE missing = 0 AND imagetyp IN (\(types.map { _ in "?" }.joined(separator: ", ")))"
        return try await pool.read { db in
            try Row.fetchAll(db, sql: sql, arguments: StatementArguments(types)).map(Self.frameRow)
        }
    }

    /// Records a master's inputs (replacing any earlier record of the same master).
    func recordInputs(master: Int64, inputs: [FrameRow]) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM master_input WHERE master_id = ?", arguments: [master])
            for (position, input) in inputs.enumerated() {
                try db.execute(sql: "INSERT INTO master_input (master_id, position, input_id, path, sha256) VALUES (?, ?, ?, ?, ?)",
                               arguments: [master, position, input.id, input.path, input.sha256])
            }
        }
    }

    /// A master's inputs' ids, in the order combined.
    package func inputs(ofMaster master: Int64) async throws -> [Int64] {
        try await pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT input_id FROM master_input WHERE master_id = ? ORDER BY position", arguments: [master])
        }
    }
}

/// The handlers of `calibration.combine` and `calibration.match`.
///
/// A combine reads and combines on a queue of its own (one at a time: a second request waits
/// for the first), never on the cooperative pool; the catalog runs at nice 10, so the camera
/// and the processor go first.
struct MasterCommands: Sendable {
    let catalog: FrameCatalog
    let logger: Logger
    /// Where combines run, one at a time.
    private static let queue = DispatchQueue(label: "catalog.masters")

    /// Registers both commands, after removing what a crash left of a master being written.
    func register(in commands: inout CommandRouter) {
        let store = FrameStore(root: catalog.root + "/" + MasterBuilder.folder, prefix: "MASTER")
        for path in store.removeStaleFloatTemporaries() {
            logger.warning("removed \(path), a master left unfinished by a crash")
        }
        commands.register(CalibrationCombineCommand.self) { request in try await combine(request) }
        commands.register(CalibrationMatchCommand.self) { request in try await match(request) }
    }

    /// The inputs a request names, oldest first.
    private func inputs(_ request: CombineRequest) async throws -> [FrameRow] {
        var rows: [FrameRow]
        if let ids = request.frames {
            rows = try await catalog.database.rows(ids: ids)
            let found = Set(rows.map(\.id))
            let unknown = ids.filter { !found.contains($0) }
            if !unknown.isEmpty {
                throw BusError(.notFound, "frames: no frame with id \(unknown.prefix(20).map(String.init).joined(separator: ", ")) "
                               + "in the catalog", field: "frames")
            }
        } else {
            var query = request.query ?? FrameQuery()
            query.limit = CombineRequest.maximumInputs + 1
            query.cursor = nil
            rows = try await catalog.database.frames(query).frames
            if rows.count > CombineRequest.maximumInputs {
                throw BusError.invalid("query", "selects more than \(CombineRequest.maximumInputs) frames; narrow it")
            }
        }
        rows.sort { ($0.dateObs ?? "", $0.id) < ($1.dateObs ?? "", $1.id) }
        return rows
    }

    /// `calibration.combine`.
    func combine(_ request: CombineRequest) async throws -> CombineResult {
        try request.validate()
        let started = ContinuousClock.now
        let method: CombineMethod = request.method == "median" ? .median
            : .sigmaClippedMean(SigmaClip(kappaLow: request.kappaLow ?? 3, kappaHigh: request.kappaHigh ?? 3,
                                          iterations: request.iterations ?? 5))
        var rows = try await inputs(request)
        try MasterBuilder.check(rows, kind: request.kind)
        let root = catalog.root
        let gone = rows.filter { !FileManager.default.fileExists(atPath: root + "/" + $0.path) }
        if !gone.isEmpty {
            throw BusError(.insufficientData, "frames: the files of id \(gone.map { String($0.id) }.joined(separator: ", ")) "
                           + "are gone from the data folders", field: "frames")
        }
        // The first input's headers give the master's INSTRUME, SITELONG...
        rows[0] = try await catalog.database.frame(id: rows[0].id)
        let recipe = MasterBuilder.Recipe(kind: request.kind, method: method, inputs: rows,
                                          paths: rows.map { root + "/" + $0.path })
        let threads = ProcessInfo.processInfo.activeProcessorCount
        let saved = try await Self.queue.result { () -> Result<SavedPath, BusError> in
            do throws(BusError) {
                let file = try MasterBuilder.build(recipe, dataRoot: root, threads: threads)
                return .success(SavedPath(path: file.path))
            } catch {
                return .failure(error)
            }
        }.get()
        guard let relative = catalog.relativePath(saved.path) else {
            throw BusError(.internal, "the master \(saved.path) is outside the data root \(root)")
        }
        try await catalog.catalogue([relative])
        guard let id = try await catalog.database.id(path: relative) else {
            throw BusError(.internal, "the master \(relative) was written but could not be catalogued")
        }
        try await catalog.database.recordInputs(master: id, inputs: rows)
        let master = try await catalog.database.frame(id: id)
        let seconds = (ContinuousClock.now - started).seconds
        logger.info("\(relative): \(request.kind.masterImageType) of \(rows.count) frames by \(method.name) in \(String(format: "%.2f", seconds)) s")
        return CombineResult(master: master, inputs: rows.map(\.id), seconds: seconds)
    }

    /// `calibration.match`.
    func match(_ request: MatchRequest) async throws -> MatchResult {
        try request.validate()
        var id: Int64?
        let traits: FrameTraits
        if let frame = request.frame {
            id = frame
            traits = FrameTraits(try await catalog.database.frame(id: frame))
        } else if let path = request.path {
            let relative = path.hasPrefix("/") ? catalog.relativePath(path) : path
            guard let relative, let found = try await catalog.database.id(path: relative) else {
                throw BusError(.notFound, "path: no frame with path '\(path.prefix(200))' in the catalog", field: "path")
            }
            id = found
            traits = FrameTraits(try await catalog.database.frame(id: found))
        } else {
            traits = request.traits ?? FrameTraits()
        }
        let masters = try await catalog.database.masters()
        let matches = request.kind.kinds.map { DarkLibrary.match($0, for: traits, among: masters, tolerance: request.tolerance) }
        return MatchResult(frame: id, traits: traits, tolerance: request.tolerance, matches: matches)
    }
}

/// A saved master's path, out of the combine queue.
private struct SavedPath: Sendable {
    let path: String
}
