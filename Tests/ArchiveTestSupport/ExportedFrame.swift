import ApertureProtocol
import ArchiveService
import Crypto
import Foundation
import Synchronization

/// A message of the export stream made by hand: it records what the ingest did with it.
public final class TestMessage: IngestMessage, @unchecked Sendable {
    public enum Outcome: Equatable { case none, ack, nak, term }
    public let headers: [String: String]
    public let data: [UInt8]
    private let state = Mutex<[Outcome]>([])

    public init(headers: [String: String], data: [UInt8]) {
        self.headers = headers
        self.data = data
    }

    /// Every answer the ingest gave, in order.
    public var outcomes: [Outcome] { state.withLock { $0 } }
    /// The last answer, or `.none`.
    public var outcome: Outcome { outcomes.last ?? .none }

    public func ack() async { state.withLock { $0.append(.ack) } }
    public func nak(delay: Duration?) async { state.withLock { $0.append(.nak) } }
    public func term() async { state.withLock { $0.append(.term) } }
}

/// A frame as a camera host's exporter sends it: its chunk messages and its row message.
public struct ExportedFrame: Sendable {
    public var site: String
    public var camera: String
    public var path: String
    public var file: [UInt8]
    public var sha256: String
    public var chunkBytes: Int
    public var chunks: [TestMessage]
    public var row: TestMessage
    public var export: ExportRow

    public init(site: String = "north", camera: String = "cam1", path: String = "20261205/image-0001.fits", bytes: Int = 2500,
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
    public func rowMessage(revision: Int, configure: (inout FrameRow) -> Void = { _ in }) -> TestMessage {
        var export = export
        export.revision = revision
        configure(&export.row)
        return TestMessage(headers: Self.headers(site, camera, path, sha256, file.count, kind: "row"),
                           data: Array(try! JSONEncoder().encode(export)))
    }

    public static func headers(_ site: String, _ camera: String, _ path: String, _ sha256: String, _ bytes: Int, kind: String) -> [String: String] {
        [FrameExport.siteHeader: site, FrameExport.cameraHeader: camera, FrameExport.pathHeader: path,
         FrameExport.sha256Header: sha256, FrameExport.kindHeader: kind, FrameExport.bytesHeader: String(bytes)]
    }

    /// Every message: the chunks, then the row.
    public var messages: [TestMessage] { chunks + [row] }
}

