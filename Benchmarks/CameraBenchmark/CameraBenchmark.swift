// Abort latency of the running camera process (issue 3).
//
//   swift build -c release && .build/release/aperture-bench-camera [--aborts N]
//
// Starts the aperture-camera built beside this program (simulated camera, 1024x1024), and N
// times: starts a 60 s exposure, waits until the camera reports `exposing`, then aborts and
// measures (a) the time from the abort request to the camera being idle, as the camera
// measures it, and (b) the whole round trip as a client sees it. A `ping` round trip measured
// in the same run shows how much of (b) is the bus.
import ApertureProtocol
import ArgumentParser
import BenchmarkSupport
import Bus
import Foundation

@main
struct CameraBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-camera",
        abstract: "Abort latency of the release aperture-camera on the simulator (docs/performance.md).")

    @Option(help: "Exposures started and aborted.")
    var aborts = 100

    func validate() throws {
        guard aborts > 0 else { throw ValidationError("--aborts must be a positive integer") }
    }

    func run() async throws {
        let executable = executableBeside("aperture-camera")
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            fail("build aperture-camera in the same configuration first: swift build -c release --product aperture-camera")
        }
        let scratch = try ScratchDirectory(in: "/tmp", prefix: "aperture-bench-camera")
        defer { scratch.remove() }
        let root = scratch.path

        let camera = Process()
        camera.executableURL = URL(fileURLWithPath: executable)
        camera.arguments = ["--runtime-dir", root + "/run"]
        var environment = ProcessInfo.processInfo.environment
        environment["APERTURE_DATA_ROOT"] = root + "/data"
        environment["APERTURE_LOG_LEVEL"] = "warning"
        camera.environment = environment
        try camera.run()
        defer { camera.terminate(); camera.waitUntilExit() }

        let client = try RequestClient(dialing: RuntimeDirectory(existing: root + "/run").endpoint(EndpointName.cameraControl))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let ping = try? await client.call(Ping.self, timeout: .milliseconds(500)), ping.ready { break }
            try await Task.sleep(for: .milliseconds(20))
        }

        var pings: [Double] = []
        for _ in 0..<200 {
            let started = ContinuousClock.now
            _ = try await client.call(Ping.self)
            pings.append((ContinuousClock.now - started).milliseconds)
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
            roundTrip.append((ContinuousClock.now - started).milliseconds)
            serverSide.append(reply.milliseconds)
            guard reply.state == .idle else { throw BenchmarkError("abort left the camera \(reply.state.rawValue)") }
        }
        let files = (FileManager.default.enumerator(atPath: root + "/data")?.allObjects ?? [])
            .filter { "\($0)".hasSuffix(".fits") }

        print("abort latency over \(aborts) aborts of a 60 s exposure (simulated 1024x1024 camera)")
        var table = Table(names: "", figures: ["p50 ms", "p99 ms", "max ms"], indent: "", rule: false)
        for (name, samples) in [("abort request -> idle (camera)", serverSide), ("abort round trip (client)", roundTrip),
                                ("ping round trip (baseline)", pings)] {
            let distribution = Distribution(samples)
            table.append([name, fixed(distribution.p50, 2), fixed(distribution.p99, 2), fixed(distribution.max, 2)])
        }
        table.print()
        print("goal: camera-side p99 under 20 ms -> \(Distribution(serverSide).p99 < 20 ? "met" : "NOT met")")
        print("files written by aborted exposures: \(files.count) (must be 0)")
    }
}
