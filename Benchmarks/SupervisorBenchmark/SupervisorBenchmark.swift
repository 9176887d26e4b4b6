// Supervisor figures (issue 4):
//
//   swift build -c release && .build/release/aperture-bench-supervisor [--kills N]
//
// Starts the release `aperture` built beside this program with a NOTIFY_SOCKET of its own and
// reports: the time from spawning `aperture` to READY=1; restart latency, from SIGKILL of a
// child to its replacement answering its first bus ping, p50/p99 over N kills (each of the
// processor and the camera); and the supervisor's resident memory. Restart back-off is set to 0
// and the FATAL intensity out of reach, so every kill measures the restart path itself (with
// the defaults the first restart after a stable run is immediate too).
import ApertureProtocol
import ArgumentParser
import BenchmarkSupport
import Bus
import Foundation

@main
struct SupervisorBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-supervisor",
        abstract: "Restart latency, start-up time and memory of the release `aperture` (docs/performance.md).")

    @Option(help: "SIGKILLs per child.")
    var kills = 50

    func validate() throws {
        guard kills > 0 else { throw ValidationError("--kills must be a positive integer") }
    }

    func run() async throws {
        for program in ["aperture", "aperture-camera", "aperture-processor", "aperture-gateway"]
            where !FileManager.default.isExecutableFile(atPath: executableBeside(program)) {
            fail("build the service in the same configuration first: swift build -c release (missing \(program))")
        }
        let scratch = try ScratchDirectory(in: "/tmp", prefix: "aperture-bench-supervisor")
        defer { scratch.remove() }
        let root = scratch.path
        let notify = try NotifySocket(path: root + "/notify.sock")

        let service = Process()
        service.executableURL = URL(fileURLWithPath: executableBeside("aperture"))
        service.arguments = ["--runtime-dir", root + "/run"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = notify.path
        environment["APERTURE_GATEWAY_LISTEN"] = "127.0.0.1:0"
        environment["APERTURE_DATA_ROOT"] = root + "/data"
        environment["APERTURE_LOG_LEVEL"] = "error"
        environment["APERTURE_SUPERVISOR_BACKOFF_INITIAL"] = "0"
        environment["APERTURE_SUPERVISOR_RESTART_INTENSITY"] = "1000"
        service.environment = environment
        service.standardOutput = FileHandle.nullDevice
        service.standardError = FileHandle.nullDevice
        let launched = ContinuousClock.now
        try service.run()
        defer { service.terminate(); service.waitUntilExit() }

        guard notify.waitForReady(seconds: 60) else { throw BenchmarkError("no READY=1 within 60 s") }
        let readyAfter = ContinuousClock.now - launched

        let runtime = RuntimeDirectory(existing: root + "/run")
        let processor = try await measureRestarts("processor", control: EndpointName.processorControl, runtime: runtime)
        let camera = try await measureRestarts("camera", control: EndpointName.cameraControl, runtime: runtime)

        print("supervisor figures (release build, \(kills) SIGKILLs per child)")
        print("start to READY=1 (all three children answering): \(fixed(readyAfter.milliseconds)) ms")
        print("restart latency (supervisor ping interval 1 s, the default):")
        var table = Table(names: "", figures: ["p50 ms", "p99 ms", "max ms"], indent: "", rule: false)
        func row(_ name: String, _ samples: Distribution) {
            table.append([name, fixed(samples.p50), fixed(samples.p99), fixed(samples.max)])
        }
        row("processor: SIGKILL -> new process answers a ping", processor.answer)
        row("camera: SIGKILL -> new process answers a ping", camera.answer)
        row("processor: SIGKILL -> supervisor reports it running", processor.healthy)
        row("camera: SIGKILL -> supervisor reports it running", camera.healthy)
        table.print()
        let p50 = [processor.answer, camera.answer, processor.healthy, camera.healthy].map(\.p50).max() ?? .nan
        print("goal: p50 under 200 ms -> \(p50 < 200 ? "met" : "NOT met")")
        let memory = residentKiB(service.processIdentifier).map { "\($0 / 1024) MiB (\($0) KiB)" } ?? "unknown"
        print("supervisor resident memory: \(memory)")
    }

    /// Milliseconds from SIGKILL to the new process's first ping answer, and to the supervisor
    /// reporting it running and answering (what `/healthz` checks), over `kills` kills.
    func measureRestarts(_ child: String, control: String, runtime: RuntimeDirectory)
        async throws -> (answer: Distribution, healthy: Distribution)
    {
        let supervisor = try RequestClient(dialing: runtime.endpoint(EndpointName.supervisorControl))
        let client = try RequestClient(dialing: runtime.endpoint(control))
        var answer: [Double] = []
        var healthy: [Double] = []
        for _ in 0..<kills {
            let status = try await supervisor.call(SupervisorStatusCommand.self)
            guard let old = status.children.first(where: { $0.name == child })?.pid else { continue }
            // Let the new process settle into its normal state first.
            _ = try await client.call(Ping.self, timeout: .seconds(5))
            let killed = ContinuousClock.now
            kill(old, SIGKILL)
            while true {
                if let reply = try? await client.call(Ping.self, timeout: .milliseconds(100)), reply.pid != old {
                    answer.append((ContinuousClock.now - killed).milliseconds)
                    break
                }
                if ContinuousClock.now - killed > .seconds(30) { throw BenchmarkError("\(child) did not come back") }
            }
            while true {
                let status = try? await supervisor.call(SupervisorStatusCommand.self, timeout: .milliseconds(500))
                if let entry = status?.children.first(where: { $0.name == child }),
                   entry.pid != old, entry.state == .running, entry.responding {
                    healthy.append((ContinuousClock.now - killed).milliseconds)
                    break
                }
                if ContinuousClock.now - killed > .seconds(30) {
                    throw BenchmarkError("the supervisor never reported \(child) running")
                }
                try await Task.sleep(for: .milliseconds(2))
            }
        }
        return (Distribution(answer), Distribution(healthy))
    }
}

/// The notify socket `aperture` reports READY=1 on, as systemd's: a datagram socket this
/// program reads.
struct NotifySocket {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try checkErrno(bound, "bind \(path)")
    }

    /// Reads datagrams until one says READY=1 (true) or none came for `seconds` (false).
    func waitForReady(seconds: Int) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { return false }
            if String(decoding: buffer[0..<count], as: UTF8.self).contains("READY=1") { return true }
        }
    }
}

func residentKiB(_ pid: Int32) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
    return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
}
