// Abort latency of the running camera process (issue 3).
//
//   swift build -c release && .build/release/aperture-bench-camera [--aborts N]
//
// Starts the aperture-camera built beside this program (simulated camera, 1024x1024), and N
// times: starts a 60 s exposure, waits until the camera reports `exposing`, then aborts and
// measures (a) the time from the abort request to the camera being idle, as the camera
// measures it, and (b) the whole round trip as a client sees it. A `ping` round trip measured
// in the same run shows how much of (b) is the bus.
//
//   .build/release/aperture-bench-camera --series N [--width W --height H]
//
// Instead: the camera's save rate (issue 14). One camera process with data.compression = none,
// then one with rice (the simulator at W x H, default 2048 x 2048, time scale 0.0001), each
// takes a warm-up bias frame, then a series of N (e.g. 50) bias frames in one request; the
// rate is N over the time from the request to its completion (every frame read out, saved
// durably and published), the bytes those of the files.
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
    @Option(help: "Measure the save rate with compression off and on over a series of this many frames instead.")
    var series: Int?
    @OptionGroup var size: FrameSize

    func validate() throws {
        guard aborts > 0 else { throw ValidationError("--aborts must be a positive integer") }
        if let series, series <= 0 { throw ValidationError("--series must be a positive integer") }
    }

    func run() async throws {
        if let series {
            try await saveRates(frames: series)
            return
        }
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

    /// Starts the release aperture-camera with `environment` added; returns it, its control
    /// client and the scratch folder (the caller stops and removes them).
    func startCamera(_ environment: [String: String]) async throws -> (Process, RequestClient, ScratchDirectory) {
        let executable = executableBeside("aperture-camera")
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            fail("build aperture-camera in the same configuration first: swift build -c release --product aperture-camera")
        }
        let scratch = try ScratchDirectory(in: "/tmp", prefix: "aperture-bench-camera")
        let camera = Process()
        camera.executableURL = URL(fileURLWithPath: executable)
        camera.arguments = ["--runtime-dir", scratch.path + "/run"]
        var merged = ProcessInfo.processInfo.environment
        merged["APERTURE_DATA_ROOT"] = scratch.path + "/data"
        merged["APERTURE_LOG_LEVEL"] = "warning"
        for (key, value) in environment { merged[key] = value }
        camera.environment = merged
        try camera.run()
        let client = try RequestClient(dialing: RuntimeDirectory(existing: scratch.path + "/run").endpoint(EndpointName.cameraControl))
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let ping = try? await client.call(Ping.self, timeout: .milliseconds(500)), ping.ready { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (camera, client, scratch)
    }

    /// Runs one request to its end; returns its record and the wall time in seconds.
    func series(_ client: RequestClient, _ request: ExposureRequest) async throws -> (ExposureRecord, Double) {
        let started = ContinuousClock.now
        let accepted = try await client.call(ExposeCommand.self, request)
        while true {
            let record = try await client.call(ExposureQueryCommand.self, .init(id: accepted.id))
            if record.status != .running {
                guard record.status == .completed else { throw BenchmarkError("the series ended \(record.status.rawValue)") }
                return (record, (ContinuousClock.now - started).milliseconds / 1000)
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// The save rate of a series with data.compression none and rice, one camera process each.
    func saveRates(frames: Int) async throws {
        print("camera save rate: series of \(frames) bias frames of \(size.width)x\(size.height) (simulator, time scale 0.0001), "
              + "\(cores) cores, load \(loadAverage())")
        var table = Table(names: "data.compression", figures: ["frames/s", "MB/s of pixels", "MB/s written", "file MB", "wall s"])
        for compression in ["none", "rice"] {
            let (camera, client, scratch) = try await startCamera([
                "APERTURE_DATA_COMPRESSION": compression, "APERTURE_CAMERA_TIME_SCALE": "0.0001",
                "APERTURE_CAMERA_WIDTH": String(size.width), "APERTURE_CAMERA_HEIGHT": String(size.height),
            ])
            defer {
                camera.terminate()
                camera.waitUntilExit()
                scratch.remove()
            }
            _ = try await series(client, ExposureRequest(type: .bias, time: 0))
            let (record, seconds) = try await series(client, ExposureRequest(type: .bias, time: 0, count: frames))
            let bytes = record.files.reduce(0) { $0 + $1.bytes }
            guard record.files.count == frames else { throw BenchmarkError("\(record.files.count) files for \(frames) frames") }
            table.append([compression, fixed(Double(frames) / seconds, 2),
                          fixed(Double(frames * size.pixels * 2) / 1e6 / seconds, 0), fixed(Double(bytes) / 1e6 / seconds, 0),
                          fixed(Double(bytes) / Double(frames) / 1e6, 2), fixed(seconds, 2)])
        }
        table.print()
    }
}
