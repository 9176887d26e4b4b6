// Supervisor figures (issue 4):
//
//   swift build -c release && swift run -c release aperture-bench-supervisor [--kills N]
//
// Starts the release `aperture` built beside this program with a NOTIFY_SOCKET of its own and
// reports: the time from spawning `aperture` to READY=1; restart latency, from SIGKILL of a
// child to its replacement answering its first bus ping, p50/p99 over N kills (each of the
// processor and the camera); and the supervisor's resident memory. Restart back-off is set to 0
// and the FATAL intensity out of reach, so every kill measures the restart path itself (with
// the defaults the first restart after a stable run is immediate too).
import ApertureProtocol
import Bus
import Foundation

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

func milliseconds(_ duration: Duration) -> Double {
    duration.seconds * 1000
}

func residentKiB(_ pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
}

var kills = 50
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    if argument == "--kills", let value = arguments.next(), let number = Int(value) { kills = number }
}

let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
for program in ["aperture", "aperture-camera", "aperture-processor", "aperture-gateway"]
    where !FileManager.default.isExecutableFile(atPath: directory + "/" + program) {
    print("build the service in the same configuration first: swift build -c release (missing \(program))")
    exit(2)
}
let root = "/tmp/aperture-bench-supervisor-\(getpid())"
try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: root) }

// The notify socket: a datagram socket this program reads.
let notifyPath = root + "/notify.sock"
let notifyFD = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
var address = sockaddr_un()
address.sun_family = sa_family_t(AF_UNIX)
withUnsafeMutableBytes(of: &address.sun_path) { buffer in
    for (index, byte) in notifyPath.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
}
_ = withUnsafePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(notifyFD, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
}

let service = Process()
service.executableURL = URL(fileURLWithPath: directory + "/aperture")
service.arguments = ["--runtime-dir", root + "/run"]
var environment = ProcessInfo.processInfo.environment
environment["NOTIFY_SOCKET"] = notifyPath
environment["APERTURE_GATEWAY_LISTEN"] = "127.0.0.1:0"
environment["APERTURE_DATA_ROOT"] = root + "/data"
environment["APERTURE_LOG_LEVEL"] = "error"
environment["APERTURE_SUPERVISOR_BACKOFF_INITIAL"] = "0"
environment["APERTURE_SUPERVISOR_RESTART_INTENSITY"] = "1000"
service.environment = environment
service.standardOutput = FileHandle.nullDevice
service.standardError = FileHandle(forWritingAtPath: "/dev/null")
let launched = ContinuousClock.now
try service.run()
defer { service.terminate(); service.waitUntilExit() }

var readyAfter: Duration?
var buffer = [UInt8](repeating: 0, count: 4096)
var timeout = timeval(tv_sec: 60, tv_usec: 0)
setsockopt(notifyFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
while readyAfter == nil {
    let count = recv(notifyFD, &buffer, buffer.count, 0)
    guard count > 0 else { print("no READY=1 within 60 s"); service.terminate(); exit(1) }
    if String(decoding: buffer[0..<count], as: UTF8.self).contains("READY=1") { readyAfter = ContinuousClock.now - launched }
}

func pid(of child: String, supervisor: RequestClient) async throws -> Int32? {
    try await supervisor.call(SupervisorStatusCommand.self).children.first { $0.name == child }?.pid
}

/// Milliseconds from SIGKILL to the new process's first ping answer, and to the supervisor
/// reporting it running and answering (what `/healthz` checks), over `kills` kills.
func measureRestarts(_ child: String, control: String, kills: Int, root: String) async throws -> (answer: [Double], healthy: [Double]) {
    let runtime = RuntimeDirectory(existing: root + "/run")
    let supervisor = try RequestClient(dialing: runtime.endpoint(EndpointName.supervisorControl))
    let client = try RequestClient(dialing: runtime.endpoint(control))
    var samples: [Double] = []
    var healthy: [Double] = []
    for _ in 0..<kills {
        guard let old = try await pid(of: child, supervisor: supervisor) else { continue }
        // Let the new process settle into its normal state first.
        _ = try await client.call(Ping.self, timeout: .seconds(5))
        let killed = ContinuousClock.now
        kill(old, SIGKILL)
        while true {
            if let reply = try? await client.call(Ping.self, timeout: .milliseconds(100)), reply.pid != old {
                samples.append(milliseconds(ContinuousClock.now - killed))
                break
            }
            if ContinuousClock.now - killed > .seconds(30) { throw BenchmarkFailure(message: "\(child) did not come back") }
        }
        while true {
            let status = try? await supervisor.call(SupervisorStatusCommand.self, timeout: .milliseconds(500))
            if let entry = status?.children.first(where: { $0.name == child }),
               entry.pid != old, entry.state == .running, entry.responding {
                healthy.append(milliseconds(ContinuousClock.now - killed))
                break
            }
            if ContinuousClock.now - killed > .seconds(30) { throw BenchmarkFailure(message: "the supervisor never reported \(child) running") }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
    return (samples, healthy)
}

struct BenchmarkFailure: Error { let message: String }

let killCount = kills
let processor: (answer: [Double], healthy: [Double])
let camera: (answer: [Double], healthy: [Double])
do {
    processor = try await measureRestarts("processor", control: EndpointName.processorControl, kills: killCount, root: root)
    camera = try await measureRestarts("camera", control: EndpointName.cameraControl, kills: killCount, root: root)
} catch {
    print("benchmark failed: \(error)")
    service.terminate()
    service.waitUntilExit()
    exit(1)
}

print("supervisor figures (release build, \(kills) SIGKILLs per child)")
print(String(format: "start to READY=1 (all three children answering)   %8.1f ms", milliseconds(readyAfter!)))
func row(_ name: String, _ samples: [Double]) -> String {
    String(format: "%@%8.1f  %8.1f  %8.1f", name.padding(toLength: 14, withPad: " ", startingAt: 0),
           percentile(samples, 0.5), percentile(samples, 0.99), samples.max() ?? .nan)
}
print("restart latency (supervisor ping interval 1 s, the default):")
print("                 p50 ms    p99 ms    max ms")
print("SIGKILL -> the new child's first ping answer")
print(row("processor", processor.answer))
print(row("camera", camera.answer))
print("SIGKILL -> the supervisor reports it running and answering (/healthz)")
print(row("processor", processor.healthy))
print(row("camera", camera.healthy))
let p50 = [processor.answer, camera.answer, processor.healthy, camera.healthy].map { percentile($0, 0.5) }.max() ?? .nan
print("goal: p50 under 200 ms -> \(p50 < 200 ? "met" : "NOT met")")
print("supervisor resident memory: \(residentKiB(service.processIdentifier).map { "\($0 / 1024) MiB (\($0) KiB)" } ?? "unknown")")
