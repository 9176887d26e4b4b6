import ApertureConfig
import ApertureProtocol
import ArchiveService
import Crypto
import Foundation
import Logging
import PostgresTestSupport
import Synchronization
import Testing

/// A message of the export stream made by hand: it records what the ingest did with it.
final class TestMessage: IngestMessage, @unchecked Sendable {
    enum Outcome: Equatable { case none, ack, nak, term }
    let headers: [String: String]
    let data: [UInt8]
    private let state = Mutex<[Outcome]>([])

    init(headers: [String: String], data: [UInt8]) {
        self.headers = headers
        self.data = data
    }

    /// Every answer the ingest gave, in order.
    var outcomes: [Outcome] { state.withLock { $0 } }
    /// The last answer, or `.none`.
    var outcome: Outcome { outcomes.last ?? .none }

    func ack() async { state.withLock { $0.append(.ack) } }
    func nak(delay: Duration?) async { state.withLock { $0.append(.nak) } }
    func term() async { state.withLock { $0.append(.term) } }
}

/// A frame as a camera host's exporter sends it: its chunk messages and its row message.
struct ExportedFrame {
    var site: String
    var camera: String
    var path: String
    var file: [UInt8]
    var sha256: String
    var chunkBytes: Int
    var chunks: [TestMessage]
    var row: TestMessage
    var export: ExportRow

    init(site: String = "north", camera: String = "cam1", path: String = "20261205/image-0001.fits", bytes: Int = 2500,
         chunkBytes: Int = 1000, revision: Int = 1, seed: UInt8 = 1, configure: (inout FrameRow) -> Void = { _ in }) {
        self.site = site
        self.camera = camera
        self.path = path
        self.chunkBytes = chunkBytes
        file = (0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &* 7 &+ ($0 >> 8)) }
        sha256 = SHA256.hash(data: file).map { String(format: "%02x", $0) }.joined()
        let count = FrameExport.chunkCount(bytes: Int64(bytes), chunkBytes: chunkBytes)
        var row = FrameRow(id: Int64(seed), path: path, bytes: Int64(bytes), sha256: sha256, night: "2026-12-05", missing: false,
                           added: "2026-12-06T01:00:00.000")
        row.site = site
        row.camera = camera
        row.dateObs = "2026-12-06T01:00:0\(seed % 10).000"
        row.exptime = 10
        row.imagetyp = "Light Frame"
        row.filter = "V"
        row.object = "M42"
        row.headers = ["OBJECT": "M42", "SITE": site]
        configure(&row)
        export = ExportRow(site: site, camera: camera, chunks: count, chunkBytes: chunkBytes, revision: revision,
                           catalogued: "2026-12-06T01:00:01.000", row: row)
        var chunks: [TestMessage] = []
        for index in 0..<count {
            let range = (index * chunkBytes)..<min((index + 1) * chunkBytes, bytes)
            chunks.append(TestMessage(headers: Self.headers(site, camera, path, sha256, bytes, kind: "chunk")
                                      .merging([FrameExport.chunkHeader: "\(index)/\(count)"]) { $1 },
                                      data: Array(file[range])))
        }
        self.chunks = chunks
        self.row = TestMessage(headers: Self.headers(site, camera, path, sha256, bytes, kind: "row"),
                               data: Array(try! JSONEncoder().encode(export)))
    }

    /// A row message for another revision of the same frame.
    func rowMessage(revision: Int, configure: (inout FrameRow) -> Void = { _ in }) -> TestMessage {
        var export = export
        export.revision = revision
        configure(&export.row)
        return TestMessage(headers: Self.headers(site, camera, path, sha256, file.count, kind: "row"),
                           data: Array(try! JSONEncoder().encode(export)))
    }

    static func headers(_ site: String, _ camera: String, _ path: String, _ sha256: String, _ bytes: Int, kind: String) -> [String: String] {
        [FrameExport.siteHeader: site, FrameExport.cameraHeader: camera, FrameExport.pathHeader: path,
         FrameExport.sha256Header: sha256, FrameExport.kindHeader: kind, FrameExport.bytesHeader: String(bytes)]
    }

    /// Every message: the chunks, then the row.
    var messages: [TestMessage] { chunks + [row] }
}

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
