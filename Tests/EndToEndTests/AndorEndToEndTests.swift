import ApertureProtocol
import Bus
import CameraCore
import FITSStorage
import Foundation
import Testing
import ProcessTestSupport

/// The real Andor SDK2 driver inside the real aperture-camera, against the C stand-in for
/// libandor.so, including an SDK call that hangs and one that crashes the process.
@Suite(.serialized, .timeLimit(.minutes(5))) struct AndorEndToEndTests {
    /// Compiles Tests/CameraCoreTests/StandIn/andor_standin.c into `directory/libandor.so`.
    static func buildStandIn(into directory: String) throws -> String {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("CameraCoreTests/StandIn/andor_standin.c").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let output = directory + "/libandor.so"
        let compiler = try runToExit(
            "/usr/bin/env", [ProcessInfo.processInfo.environment["CC"] ?? "cc", "-shared", "-fPIC", "-O1", "-o", output, source])
        let errors = compiler.stderr
        guard compiler.status == 0 else {
            Issue.record("cannot compile the stand-in: \(errors)")
            throw CancellationError()
        }
        return output
    }

    static func andorEnvironment(library: String, extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "APERTURE_CAMERA_DRIVER": "andor",
            "APERTURE_ANDOR_LIBRARY": library,
            "APERTURE_ANDOR_CONFIG_DIR": "/tmp",
            "ANDOR_STANDIN_WIDTH": "128",
            "ANDOR_STANDIN_HEIGHT": "96",
            "APERTURE_CAMERA_WARMUP_TIMEOUT": "2",
        ]
        for (key, value) in extra { environment[key] = value }
        return environment
    }

    @Test func anExposureThroughTheAndorDriverLandsAsFITS() async throws {
        let library = try Self.buildStandIn(into: "/tmp/aperture-standin-\(getpid())-a")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: library).deletingLastPathComponent().path) }
        let camera = try ServiceHarness("aperture-camera", environment: Self.andorEnvironment(library: library))
        defer { camera.cleanup() }
        let client = try RequestClient(dialing: camera.runtime.endpoint(EndpointName.cameraControl))
        defer { client.close() }
        var status: CameraStatusReport?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            status = try? await client.call(CameraStatusCommand.self, timeout: .seconds(1))
            if status?.connected == true { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let info = try #require(status?.info, "the camera never connected:\n\(camera.output)")
        #expect(status?.driver == "andor")
        #expect(info.width == 128 && info.height == 96)

        let record = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 0.2))
        var finished = record
        while finished.status == .running {
            try await Task.sleep(for: .milliseconds(50))
            finished = try await client.call(ExposureQueryCommand.self, .init(id: record.id))
        }
        #expect(finished.status == .completed, "\(finished.error?.message ?? "")")
        let path = try #require(finished.files.first?.path)
        let file = try FITSFile.read(path: path)
        #expect(file.width == 128 && file.height == 96)
        #expect(file.header["IMAGETYP"]?.contains("Light Frame") == true)
    }

    /// Polls /healthz until `check` accepts it.
    func waitForHealth(_ address: String, timeout: Double, _ check: (Health) -> Bool) async throws -> Health? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let (_, body) = try? await ServiceHarness.get(address, "/healthz"),
               let health = try? JSONDecoder().decode(Health.self, from: body), check(health) {
                return health
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    @Test func aCameraThatInitializesSlowlyIsRunningAsSoonAsItIsReady() async throws {
        // The real SDK's Initialize takes seconds; the camera answers pings meanwhile, not yet
        // ready. The supervisor keeps asking until it is ready, instead of waiting for its next
        // regular ping (a minute here), so the service is healthy within seconds of the camera.
        let library = try Self.buildStandIn(into: "/tmp/aperture-standin-\(getpid())-s")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: library).deletingLastPathComponent().path) }
        let service = try ServiceHarness("aperture", environment: Self.andorEnvironment(library: library, extra: [
            "ANDOR_STANDIN_SLOW": "Initialize:1500",
            "APERTURE_SUPERVISOR_PING_INTERVAL": "60",
        ]))
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let healthy = try await waitForHealth(address, timeout: 20) { $0.status == "ok" }
        let camera = try #require(healthy?.children.first { $0.name == "camera" }, "not healthy 20 s after start:\n\(service.output)")
        #expect(camera.state == "running")
        #expect(service.output.contains("camera connected"))
    }

    @Test func aHungSDKCallIsNoticedAndTheCameraIsRestarted() async throws {
        let library = try Self.buildStandIn(into: "/tmp/aperture-standin-\(getpid())-h")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: library).deletingLastPathComponent().path) }
        let service = try ServiceHarness("aperture", environment: Self.andorEnvironment(library: library, extra: [
            "ANDOR_STANDIN_HANG": "StartAcquisition",
            "APERTURE_CAMERA_SDK_CALL_TIMEOUT": "1",
        ]))
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let healthy = try #require(try await waitForHealth(address, timeout: 60) { $0.status == "ok" })
        let camera = try #require(healthy.children.first { $0.name == "camera" }?.pid)
        let gateway = healthy.children.first { $0.name == "gateway" }?.pid

        let client = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        defer { client.close() }
        _ = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 1))

        let restarted = try await waitForHealth(address, timeout: 30) { health in
            guard let child = health.children.first(where: { $0.name == "camera" }) else { return false }
            return child.pid != nil && child.pid != camera && child.restarts >= 1
        }
        let child = try #require(restarted?.children.first { $0.name == "camera" }, "the wedged camera was not restarted:\n\(service.output)")
        #expect(child.last_exit == "killed by signal 9 (SIGKILL)")
        #expect(service.output.contains("camera SDK call StartAcquisition has not returned") || service.output.contains("missed"))
        #expect(restarted?.children.first { $0.name == "gateway" }?.pid == gateway)
    }

    @Test func aCrashingSDKTakesDownOnlyTheCameraWhichComesBack() async throws {
        let library = try Self.buildStandIn(into: "/tmp/aperture-standin-\(getpid())-c")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: library).deletingLastPathComponent().path) }
        let service = try ServiceHarness("aperture", environment: Self.andorEnvironment(library: library, extra: [
            "ANDOR_STANDIN_CRASH": "StartAcquisition",
        ]))
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let healthy = try #require(try await waitForHealth(address, timeout: 60) { $0.status == "ok" })
        let camera = try #require(healthy.children.first { $0.name == "camera" }?.pid)
        let others = healthy.children.filter { $0.name != "camera" }.map(\.pid)

        let client = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        defer { client.close() }
        _ = try? await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 1), timeout: .seconds(2))

        let recovered = try await waitForHealth(address, timeout: 30) { health in
            guard let child = health.children.first(where: { $0.name == "camera" }) else { return false }
            return health.status == "ok" && child.pid != camera && child.restarts >= 1
        }
        let child = try #require(recovered?.children.first { $0.name == "camera" }, "the camera did not come back:\n\(service.output)")
        // The crash ended the process, or (a backtrace still being written when the supervisor's
        // pings ran out, on a loaded machine) the supervisor killed the crashed process.
        // The runtime's backtracer starts with "*** Signal 11: Backtracing from ..." and says
        // "Program crashed" once it has symbolicated, which can take seconds on a loaded machine.
        let backtraced = service.output.contains("Program crashed") || service.output.contains(": Backtracing from")
        let crashSignal = child.last_exit?.contains("SIGSEGV") == true || child.last_exit?.contains("SIGABRT") == true
        let killedWhileCrashing = child.last_exit == "killed by signal 9 (SIGKILL)" && backtraced
        #expect(crashSignal || killedWhileCrashing, "\(child.last_exit ?? ""):\n\(service.output.suffix(2000))")
        #expect(backtraced, "the crash's backtrace is in the log:\n\(service.output.suffix(2000))")
        #expect(recovered?.children.filter { $0.name != "camera" }.map(\.pid) == others)
        // The new camera answers.
        let status = try await client.call(CameraStatusCommand.self, timeout: .seconds(5))
        #expect(status.connected)
    }
}
