import ApertureConfig
import Bus
import ApertureProtocol
import CameraCore
@testable import CameraService
import Foundation
import Logging
import Synchronization
import Testing

/// A camera controller in this process on the simulator (a small sensor, a fast clock), with
/// its own runtime and data directories, its camera.events publisher and the lines it logs.
final class CameraBench: Sendable {
    let path: String
    let runtime: RuntimeDirectory
    let events: Publisher
    let camera: SimulatedCamera
    let configuration: ApertureConfiguration
    let controller: CameraController
    let log = LogLines()

    /// - Parameters:
    ///   - timeScale: real seconds per simulated second.
    ///   - secondsPerSlot: how long the wheel takes per slot.
    ///   - change: adjusts the configuration.
    init(timeScale: Double = 0.001, secondsPerSlot: Double = 0,
         _ change: (inout ApertureConfiguration) -> Void = { _ in }) throws {
        path = "/tmp/aperture-camera-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        runtime = try RuntimeDirectory.prepare(path + "/run")
        var configuration = ApertureConfiguration()
        configuration.storage.dataRoot = path + "/data"
        configuration.camera.telemetryInterval = .milliseconds(50)
        change(&configuration)
        self.configuration = configuration
        var simulator = SimulatedCamera.Configuration()
        simulator.width = 64
        simulator.height = 64
        simulator.timeScale = timeScale
        camera = SimulatedCamera(configuration: simulator)
        events = try Publisher(listening: runtime.endpoint(EndpointName.cameraEvents))
        let lines = log
        controller = CameraController(
            configuration: configuration, driverName: "simulator", driver: camera,
            wheel: SimulatedFilterWheel(slots: configuration.filterWheel.filters.count, secondsPerSlot: secondsPerSlot),
            events: events, runtime: runtime,
            logger: Logger(label: "camera-service-tests", factory: { _ in CollectingLogHandler(lines: lines) }))
    }

    /// A subscriber to `topics` that is known to be connected: it has received a probe event.
    func subscribe(_ topics: [String]) async throws -> Subscriber {
        let subscriber = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents),
                                        topics: topics + ["test.probe"], bufferSize: 256)
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            try events.publish("test.probe", ["probe": true])
            if let event = try? await subscriber.next(timeout: .milliseconds(50)), event.topic == "test.probe" {
                return subscriber
            }
        }
        Issue.record("the subscriber did not connect within 10 s")
        throw CancellationError()
    }

    /// The events of `topic` that arrive within `seconds`, until `enough` says stop.
    func collect<T: Decodable>(_ topic: String, as type: T.Type, from subscriber: Subscriber, seconds: Double,
                               until enough: ([T]) -> Bool) async throws -> [T] {
        var found: [T] = []
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !enough(found), ContinuousClock.now < deadline {
            guard let event = try? await subscriber.next(timeout: deadline - ContinuousClock.now) else { break }
            if event.topic == topic { found.append(try event.decode(T.self)) }
        }
        return found
    }

    /// The record of exposure `id` once it has ended; fails the test after `seconds`.
    func finished(_ id: String, within seconds: Double = 10) async throws -> ExposureRecord {
        try await eventually(seconds, "exposure \(id) ends") {
            try controller.record(id: id).status == .running ? nil : controller.record(id: id)
        }
    }

    /// The record of exposure `id` once it has `frames` frames done; fails the test after 10 s.
    func framesDone(_ frames: Int, of id: String) async throws {
        _ = try await eventually(10, "\(frames) frame(s) of \(id)") {
            try controller.record(id: id).framesDone >= frames ? true : nil
        }
    }

    func close() {
        events.close()
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Asks `probe` until it gives a value, and returns that; fails the test after `seconds`.
func eventually<T>(_ seconds: Double, _ what: String, _ probe: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + .seconds(seconds)
    repeat {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(10))
    } while ContinuousClock.now < deadline
    Issue.record("\(what): not within \(seconds) s")
    throw CancellationError()
}

/// The lines a ``CollectingLogHandler`` received.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

/// Keeps every message logged, so that a test can read what an operator would see.
struct CollectingLogHandler: LogHandler {
    let lines: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    func log(event: LogEvent) { lines.append(event.message.description) }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}
