// Abort latency of the running camera process (issue 3).
//
//   swift build -c release --product aperture-camera && swift run -c release aperture-bench-camera [--aborts N]
//
// Starts the aperture-camera built beside this program (simulated camera, 1024x1024), and N
// times: starts a 60 s exposure, waits until the camera reports `exposing`, then aborts and
// measures (a) the time from the abort request to the camera being idle, as the camera
// measures it, and (b) the whole round trip as a client sees it. A `ping` round trip measured
// in the same run shows how much of (b) is the bus.
import ApertureProtocol
import Bus
import CameraCore
import Foundation

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
    return sorted[index]
}

var aborts = 100
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    if argument == "--aborts", let value = arguments.next(), let number = Int(value) { aborts = number }
}

let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
guard FileManager.default.isExecutableFile(atPath: directory + "/aperture-camera") else {
    print("build aperture-camera in the same configuration first: swift build -c release --product aperture-camera")
    exit(2)
}
let root = "/tmp/aperture-bench-camera-\(getpid())"
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

let camera = Process()
camera.executableURL = URL(fileURLWithPath: directory + "/aperture-camera")
camera.arguments = ["--runtime-dir", root + "/run"]
var environment = ProcessInfo.processInfo.environment
environment["APERTURE_DATA_ROOT"] = root + "/data"
environment["APERTURE_LOG_LEVEL"] = "warning"
camera.environment = environment
try camera.run()
defer { camera.terminate(); camera.waitUntilExit() }

let client = try RequestClient(dialing: RuntimeDirectory(existing: root + "/run").endpoint(EndpointName.cameraControl))
let deadline = Date().addingTimeInterval(30)
while Date() < deadline {
    if let ping = try? await client.call(Ping.self, timeout: .milliseconds(500)), ping.ready { break }
    try await Task.sleep(for: .milliseconds(20))
}

var pings: [Double] = []
for _ in 0..<200 {
    let started = ContinuousClock.now
    _ = try await client.call(Ping.self)
    pings.append((ContinuousClock.now - started).seconds * 1000)
}

var serverSide: [Double] = []
var roundTrip: [Double] = []
for _ in 0..<aborts {
    _ = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 60))
    while try await client.call(CameraStatusCommand.self).state != .exposing {
        try await Task.sleep(for: .milliseconds(1))
    }
    try await Task.sleep(for: .milliseconds(20))
    let started = ContinuousClock.now
    let reply = try await client.call(AbortCommand.self)
    roundTrip.append((ContinuousClock.now - started).seconds * 1000)
    serverSide.append(reply.milliseconds)
    guard reply.state == .idle else {
        print("abort left the camera \(reply.state.rawValue)")
        exit(1)
    }
}
let files = (FileManager.default.enumerator(atPath: root + "/data")?.allObjects ?? []).filter { "\($0)".hasSuffix(".fits") }

print("abort latency over \(aborts) aborts of a 60 s exposure (simulated 1024x1024 camera)")
print("                                   p50 ms    p99 ms    max ms")
print(String(format: "abort request -> idle (camera)  %8.2f  %8.2f  %8.2f", percentile(serverSide, 0.5), percentile(serverSide, 0.99), serverSide.max() ?? .nan))
print(String(format: "abort round trip (client)       %8.2f  %8.2f  %8.2f", percentile(roundTrip, 0.5), percentile(roundTrip, 0.99), roundTrip.max() ?? .nan))
print(String(format: "ping round trip (baseline)      %8.2f  %8.2f  %8.2f", percentile(pings, 0.5), percentile(pings, 0.99), pings.max() ?? .nan))
print("goal: camera-side p99 under 20 ms -> \(percentile(serverSide, 0.99) < 20 ? "met" : "NOT met")")
print("files written by aborted exposures: \(files.count) (must be 0)")
