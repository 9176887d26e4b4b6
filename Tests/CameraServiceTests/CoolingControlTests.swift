import Bus
import ApertureProtocol
import CameraCore
@testable import CameraService
import Foundation
import Testing

/// The cooler, temperature reads, telemetry and the warm-up at shutdown, on the in-process
/// simulator (its sensor follows the set-point with a 60 s time constant, 60 ms at the bench's
/// default time scale).
@Suite(.serialized) struct CoolingControlTests {
    /// The first temperature reading for which `condition` holds; fails the test after 10 s.
    func reading(_ bench: CameraBench, _ what: String,
                 _ condition: @escaping (TemperatureStatus) -> Bool) async throws -> TemperatureStatus {
        try await eventually(10, what) {
            let reading = try await bench.controller.readTemperature()
            return condition(reading) ? reading : nil
        }
    }

    @Test func coolingSetsTheSetPointAndTheSensorGetsThere() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let warm = try await bench.controller.readTemperature()
        #expect(!warm.coolerOn)
        #expect(warm.celsius > 15)

        let reply = try await bench.controller.cool(setpoint: -40, cooler: true)
        #expect(reply.coolerOn)
        #expect(reply.setpoint == -40)
        let cold = try await reading(bench, "the sensor reaches -40 C") { abs($0.celsius + 40) < 0.5 }
        #expect(cold.state != .off)
        #expect(await bench.controller.status().temperature?.setpoint == -40)

        let off = try await bench.controller.cool(setpoint: nil, cooler: false)
        #expect(!off.coolerOn)
        #expect(off.setpoint == -40)
    }

    @Test func aSetPointOutsideTheCoolersRangeIsRefusedNamingTheFieldAndChangesNothing() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        let early = await #expect(throws: CameraError.self) { try await bench.controller.cool(setpoint: -20, cooler: true) }
        #expect(early?.code == .notConnected)

        try await bench.controller.connect()
        let outside = await #expect(throws: CameraError.self) { try await bench.controller.cool(setpoint: -100, cooler: true) }
        #expect(outside?.code == .invalidArgument)
        #expect(outside?.message == "setpoint: -100 C is outside the cooler's range -80...20 C")
        let neither = await #expect(throws: CameraError.self) { try await bench.controller.cool(setpoint: nil, cooler: nil) }
        #expect(neither?.code == .invalidArgument)
        #expect(neither?.message.hasPrefix("setpoint or cooler:") == true)
        #expect(try await bench.controller.readTemperature().coolerOn == false)
    }

    @Test func telemetrySaysWhetherTheCameraIsConnectedAndHowColdItIs() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        let subscriber = try await bench.subscribe([CameraTopic.telemetry])
        defer { subscriber.close() }
        let telemetry = Task { await bench.controller.publishTelemetry() }
        defer { telemetry.cancel() }

        let before = try await bench.collect(CameraTopic.telemetry, as: TelemetryEvent.self, from: subscriber,
                                             seconds: 5) { !$0.isEmpty }
        #expect(before.first?.connected == false)
        #expect(before.first?.state == .error)
        #expect(before.first?.temperature == nil)

        try await bench.controller.connect()
        _ = try await bench.controller.cool(setpoint: -25, cooler: true)
        let after = try await bench.collect(CameraTopic.telemetry, as: TelemetryEvent.self, from: subscriber,
                                            seconds: 10) { $0.last?.temperature?.coolerOn == true }
        let last = try #require(after.last)
        #expect(last.connected)
        #expect(last.state == .idle)
        #expect(last.temperature?.setpoint == -25)
    }

    @Test func shutdownWarmsTheSensorUpBeforeReleasingTheCamera() async throws {
        let bench = try CameraBench(timeScale: 0.01)
        defer { bench.close() }
        try await bench.controller.connect()
        _ = try await bench.controller.cool(setpoint: -60, cooler: true)
        _ = try await reading(bench, "the sensor is below -40 C") { $0.celsius < -40 }

        await bench.controller.shutdown(reason: "stopped by the test")
        #expect(!bench.controller.isConnected)
        let status = await bench.controller.status()
        #expect(!status.connected)
        #expect(status.reason == "stopped by the test")
        #expect(status.temperature == nil)
        // The simulator was released: it answers nothing until connected again.
        #expect(throws: CameraError.self) { try bench.camera.temperature() }

        let lines = bench.log.all
        #expect(lines.contains { $0.hasPrefix("warming the sensor from -") && $0.hasSuffix(" C to -10.0 C before releasing the camera") },
                "\(lines)")
        let released = try #require(lines.first { $0.hasPrefix("camera released at ") }, "\(lines)")
        let celsius = try #require(Double(released.dropFirst("camera released at ".count).dropLast(2)))
        #expect(celsius >= -10, "released at \(celsius) C, colder than the warm-up temperature")
    }

    @Test func shutdownDuringAnExposureAbortsItFirst() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let started = try await bench.controller.expose(ExposureRequest(type: .object, time: 1, mode: .preview))
        try await bench.framesDone(1, of: started.id)

        await bench.controller.shutdown(reason: "stopped by the test")
        #expect(try await bench.finished(started.id).status == .aborted)
        #expect(!bench.controller.isConnected)
    }
}
