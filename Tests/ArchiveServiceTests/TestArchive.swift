import ApertureConfig
import ApertureProtocol
import ArchiveService
import Crypto
import Foundation
import Logging
import ArchiveTestSupport
import Synchronization
import Testing

/// An archive on a fresh database of the shared test cluster and a scratch central root.
struct TestArchive {
    let parts: ArchiveParts
    let root: String
    let database: String
    let server: PostgresServer

    let pool: Task<Void, Never>

    /// An archive whose database is migrated, its pool running until ``stop()``.
    static func start(incompleteTimeout: Duration = .seconds(60)) async throws -> TestArchive {
        let server = try await PostgresServer.shared()
        let database = try await server.database("archive")
        let root = "/tmp/aperture-archive-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var configuration = ApertureConfiguration()
        try configuration.set("archive.root", root, source: "test")
        try configuration.set("archive.postgres_url", server.url(database), source: "test")
        try configuration.set("archive.incomplete_timeout", String(incompleteTimeout.components.seconds), source: "test")
        var logger = Logger(label: "archive-test")
        logger.logLevel = .critical
        let parts = try ArchiveParts(configuration: configuration, logger: logger)
        let pool = Task { await parts.store.runPool() }
        do {
            try await parts.store.migrate()
        } catch {
            pool.cancel()
            throw error
        }
        return TestArchive(parts: parts, root: parts.files.root, database: database, server: server, pool: pool)
    }

    /// Stops the pool and removes the central root.
    func stop() {
        pool.cancel()
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Feeds messages to the ingest in this order.
    func feed(_ messages: [TestMessage]) async {
        for message in messages { await parts.ingest.receive(message) }
    }

    /// Runs SQL through psql.
    func sql(_ text: String) async throws -> String {
        try await server.psql(database, text).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The central file of a frame, or nil.
    func centralFile(_ frame: ExportedFrame) -> [UInt8]? {
        FileManager.default.contents(atPath: "\(root)/\(frame.site)/\(frame.camera)/\(frame.path)").map(Array.init)
    }

    /// Every regular file under the root but the spool, relative.
    func files() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var found: [String] = []
        while let next = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + next, isDirectory: &isDirectory), !isDirectory.boolValue,
               !next.hasPrefix(".spool") {
                found.append(next)
            }
        }
        return found.sorted()
    }

    /// Spool files left.
    func spoolFiles() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root + "/.spool")
        var found: [String] = []
        while let next = enumerator?.nextObject() as? String {
            if next.hasSuffix(".part") { found.append(next) }
        }
        return found
    }
}
