import BenchmarkSupport
import CNATS
import Foundation

// aperture-bench-jetstream: the plain JetStream publish that the export is measured against
// (Benchmarks/scale-out.sh): the same files' bytes, read into memory first (the timing is the
// publishing alone), cut in the same chunks, published from the same C client (libnats) with
// js_PublishAsync and at most WINDOW in flight, to a stream of its own; no catalog, no file
// reads, no headers, no acknowledgment recorded. Prints one line:
//   PLAIN: FRAMES frames, BYTES bytes in SECONDS s: MBPS MB/s, FPS frames/s
//
// Usage: aperture-bench-jetstream NATS_URL CHUNK_BYTES WINDOW FILE...

let arguments = CommandLine.arguments
guard arguments.count >= 5, let chunkBytes = Int(arguments[2]), let window = Int(arguments[3]), chunkBytes > 0, window > 0 else {
    fail("usage: aperture-bench-jetstream NATS_URL CHUNK_BYTES WINDOW FILE...")
}
let files = Array(arguments[4...])

func require(_ status: natsStatus, _ what: String) {
    if status != NATS_OK { fail("\(what): \(String(cString: natsStatus_GetText(status)))") }
}

var connection: OpaquePointer?
require(natsConnection_ConnectTo(&connection, arguments[1]), "connect to \(arguments[1])")
var options = jsOptions()
require(jsOptions_Init(&options), "JetStream options")
options.PublishAsync.MaxPending = Int64(window)
var context: OpaquePointer?
require(natsConnection_JetStream(&context, connection, &options), "JetStream")

// A stream of its own, file storage like the export's, emptied first.
var configuration = jsStreamConfig()
require(jsStreamConfig_Init(&configuration), "stream configuration")
let streamName = strdup("BENCH_PLAIN")
var subject = UnsafePointer(strdup("bench-plain.>"))
withUnsafeMutablePointer(to: &subject) { subjects in
    configuration.Name = UnsafePointer(streamName)
    configuration.Subjects = subjects
    configuration.SubjectsLen = 1
    configuration.Storage = js_FileStorage
    var code = jsErrCode(rawValue: 0)
    _ = js_DeleteStream(context, "BENCH_PLAIN", nil, &code)
    require(js_AddStream(nil, context, &configuration, nil, &code), "stream BENCH_PLAIN")
}

let contents: [[UInt8]] = files.map { file in
    guard let data = FileManager.default.contents(atPath: file) else { fail("cannot read \(file)") }
    return Array(data)
}
let totalBytes = contents.reduce(0) { $0 + $1.count }
let started = Timing.seconds()
for bytes in contents {
    var offset = 0
    repeat {
        let count = min(chunkBytes, bytes.count - offset)
        let status = bytes.withUnsafeBytes {
            js_PublishAsync(context, "bench-plain.frames", $0.baseAddress! + offset, Int32(count), nil)
        }
        require(status, "publish")
        offset += count
    } while offset < bytes.count
}
var complete = jsPubOptions()
require(jsPubOptions_Init(&complete), "publish options")
complete.MaxWait = 120_000
require(js_PublishAsyncComplete(context, &complete), "waiting for the acknowledgments")
let seconds = Timing.seconds() - started
var code = jsErrCode(rawValue: 0)
_ = js_DeleteStream(context, "BENCH_PLAIN", nil, &code)
print("PLAIN: \(files.count) frames, \(totalBytes) bytes in \(fixed(seconds, 3)) s: "
      + "\(fixed(Double(totalBytes) / seconds / 1e6, 1)) MB/s, \(fixed(Double(files.count) / seconds, 2)) frames/s")
