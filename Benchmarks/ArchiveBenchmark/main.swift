import ApertureConfig
import ApertureProtocol
import ArchiveTestSupport
import BenchmarkSupport
import FacilityBus
import Foundation

// aperture-bench-archive: fills the facility's stream with FRAMES frames of BYTES bytes in the
// export's format (chunks of CHUNK bytes, then the row; message ids as the exporter's), from
// SITES x 2 cameras, for aperture-archive to drain (Benchmarks/archive-ingest.sh). Prints:
//   PUBLISHED: FRAMES frames, BYTES bytes in SECONDS s
//
// Usage: aperture-bench-archive NATS_URL FRAMES BYTES CHUNK

let arguments = CommandLine.arguments
guard arguments.count == 5, let count = Int(arguments[2]), let bytes = Int(arguments[3]), let chunk = Int(arguments[4]),
      (1...255).contains(count), bytes > 0, (1...FrameExport.maximumChunkBytes).contains(chunk) else {
    fail("usage: aperture-bench-archive NATS_URL FRAMES(1-255) BYTES CHUNK(1-\(FrameExport.maximumChunkBytes))")
}
let connection = try NATSConnection(NATSOptions(url: arguments[1], name: "aperture-bench-archive"))
let deadline = Date().addingTimeInterval(20)
while !connection.isConnected, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
guard connection.isConnected else { fail("cannot connect to \(arguments[1])") }
let jetStream = try connection.jetStream()
try await jetStream.ensureStream(.frames(ApertureConfiguration().nats), updating: false)

let started = Timing.seconds()
for index in 1...count {
    let frame = ExportedFrame(site: "site\(index % 2)", camera: "cam\(index % 4 / 2)",
                              path: "20261206/bench-\(String(format: "%04d", index)).fits", bytes: bytes, chunkBytes: chunk,
                              seed: UInt8(index))
    let subject = FrameExport.subject(site: frame.site, camera: frame.camera)
    for (number, message) in frame.chunks.enumerated() {
        _ = try await jetStream.publish(subject: subject, data: message.data, headers: message.headers,
                                        messageID: FrameExport.chunkID(site: frame.site, camera: frame.camera,
                                                                       sha256: frame.sha256, index: number),
                                        timeout: .seconds(30))
    }
    _ = try await jetStream.publish(subject: subject, data: frame.row.data, headers: frame.row.headers,
                                    messageID: FrameExport.rowID(site: frame.site, camera: frame.camera, sha256: frame.sha256,
                                                                 revision: 1),
                                    timeout: .seconds(30))
}
print("PUBLISHED: \(count) frames, \(count * bytes) bytes in \(String(format: "%.1f", Timing.seconds() - started)) s")
connection.close()
