import ApertureConfig
import Bus
import ApertureProtocol
import CameraCore
import Foundation
import Logging

/// The camera process's brain: connects the camera and answers its commands, each through the
/// part whose job it is: ``ExposureRunner`` (exposures on the SDK thread, their records),
/// ``FramePublisher`` (FITS files, the frame ring, `frame.latest`, `camera.frame`),
/// ``CoolingControl`` (temperature, cooler, telemetry, the warm-up at shutdown) and
/// ``FilterWheelControl``. They share the exposure state machine and the records through one
/// ``CameraSession``.
final class CameraController: Sendable {
    /// The configuration the camera process runs with.
    let configuration: ApertureConfiguration
    /// The configured camera driver's name, as the status reports it.
    let driverName: String
    private let sdk: SDKThread
    private let driver: DriverHandle<any CameraDriver>
    private let session: CameraSession
    private let publisher: FramePublisher
    private let cooling: CoolingControl
    private let wheel: FilterWheelControl
    private let runner: ExposureRunner
    private let logger: Logger

    /// Wires the parts; starts the SDK thread and the wheel's thread. Nothing talks to the
    /// camera before ``connect()``.
    /// - Parameters:
    ///   - configuration: the camera process's configuration.
    ///   - driverName: the camera driver's name, for the status.
    ///   - driver: the camera driver.
    ///   - wheel: the filter wheel's driver.
    ///   - events: where camera.events go.
    ///   - runtime: where the frame ring lives.
    ///   - logger: the process's logger.
    init(configuration: ApertureConfiguration, driverName: String, driver: any CameraDriver, wheel: any FilterWheel,
         events: Publisher, runtime: RuntimeDirectory, logger: Logger) {
        self.configuration = configuration
        self.driverName = driverName
        self.logger = logger
        let sdk = SDKThread(name: "aperture-sdk")
        let driver = DriverHandle(driver)
        let session = CameraSession(events: events)
        let publisher = FramePublisher(configuration: configuration, runtime: runtime, events: events, logger: logger)
        let cooling = CoolingControl(sdk: sdk, driver: driver, session: session, events: events,
                                     configuration: configuration, logger: logger)
        let wheel = FilterWheelControl(wheel: wheel, session: session, configuration: configuration, events: events)
        self.sdk = sdk
        self.driver = driver
        self.session = session
        self.publisher = publisher
        self.cooling = cooling
        self.wheel = wheel
        runner = ExposureRunner(session: session, publisher: publisher, cooling: cooling, wheel: wheel, sdk: sdk,
                                driver: driver, events: events, configuration: configuration, logger: logger)
    }

    /// Removes what crashed predecessors left (see ``FramePublisher/removeLeftovers()``).
    /// Called once at start-up, before connecting.
    func removeLeftovers() { publisher.removeLeftovers() }

    // MARK: Connection

    /// Connects the camera and reads the wheel; on failure the camera stays in the error state.
    /// - Throws: ``CameraError`` from the driver's connect.
    func connect() async throws(CameraError) {
        let driver = self.driver
        let sdk = self.sdk
        do throws(CameraError) {
            let info = try await sdk.perform("connect") { () throws(CameraError) -> CameraInfo in
                try sdk.call("connect") { () throws(CameraError) -> CameraInfo in try driver.driver.connect() }
            }
            if (try? await cooling.read()) == nil { cooling.forget() }
            publisher.prepareRing(for: info)
            session.transition(.connectionChanged(connected: true, reason: nil)) { $0.info = info }
            logger.info("camera connected: \(info.model), \(info.width)x\(info.height), set-point range \(info.minimumSetpoint)...\(info.maximumSetpoint) C")
        } catch {
            session.transition(.connectionChanged(connected: false, reason: error.message))
            logger.error("cannot connect the camera: \(error.message)")
            throw error
        }
        _ = try? await wheel.read()
    }

    /// Whether the camera is connected and usable.
    var isConnected: Bool { session.isConnected }

    /// A driver call running longer than the configured limit: the camera is wedged.
    var wedgedCall: (name: String, seconds: Double)? {
        guard let call = sdk.currentCall, call.seconds > configuration.camera.sdkCallTimeout.seconds else { return nil }
        return call
    }

    // MARK: Commands

    /// The camera's state, temperature, filter and running exposure (`status`).
    func status() async -> CameraStatusReport {
        let temperature = try? await cooling.read(timeout: .seconds(2))
        let filter = try? await wheel.current()
        return session.report(driver: driverName, temperature: temperature ?? cooling.lastReading, filter: filter)
    }

    /// The record of exposure `id` (`exposure`).
    /// - Throws: ``CameraError`` `not_found` when the camera does not keep it.
    func record(id: String) throws(CameraError) -> ExposureRecord { try session.record(id: id) }

    /// The records kept, oldest first (`exposures`).
    func records() -> [ExposureRecord] { session.records() }

    /// The newest frame (`frame.latest`).
    /// - Throws: ``CameraError`` (see ``FramePublisher/latestFrame(includePixels:)``).
    func latestFrame(includePixels: Bool) throws(CameraError) -> LatestFrame {
        try publisher.latestFrame(includePixels: includePixels)
    }

    /// Reads the temperature (`temperature`; see ``CoolingControl/read(timeout:)``).
    func readTemperature(timeout: Duration = .seconds(5)) async throws(CameraError) -> TemperatureStatus {
        try await cooling.read(timeout: timeout)
    }

    /// Switches the cooler and sets the set-point (`cool`; see ``CoolingControl/cool(setpoint:cooler:)``).
    func cool(setpoint: Int?, cooler: Bool?) async throws(CameraError) -> TemperatureStatus {
        try await cooling.cool(setpoint: setpoint, cooler: cooler)
    }

    /// Reads the filter wheel (see ``FilterWheelControl/read()``).
    func readFilter() async throws(CameraError) -> FilterStatus { try await wheel.read() }

    /// Moves the filter wheel (`filter`; see ``FilterWheelControl/move(name:slot:home:wait:)``).
    func moveFilter(name: String?, slot: Int?, home: Bool, wait: Bool = true) async throws(CameraError) -> FilterStatus {
        try await wheel.move(name: name, slot: slot, home: home, wait: wait)
    }

    /// Validates and starts a request (`expose`; see ``ExposureRunner/expose(_:)``).
    func expose(_ request: ExposureRequest) async throws(CameraError) -> ExposureRecord {
        try await runner.expose(request)
    }

    /// Aborts the running request (`abort`; see ``ExposureRunner/abort()``).
    func abort(expecting expected: String? = nil) async -> AbortReply { await runner.abort(expecting: expected) }

    /// Checks a request as `expose` would, starting nothing.
    func check(_ request: ExposureRequest) throws(CameraError) -> ExposureCheckCommand.Result {
        let plan = try runner.admit(request)
        return .init(frames: plan.count ?? 1, filter: plan.filter)
    }

    /// Publishes `camera.telemetry` every interval until cancelled.
    func publishTelemetry() async { await cooling.publishTelemetry() }

    // MARK: Shutdown

    /// Cooler off, wait (bounded) until the sensor is at or above the warm-up temperature, then
    /// release the camera, as evora did. An exposure in progress is aborted first; a wedged SDK
    /// call skips the warm-up.
    /// - Parameter reason: why the camera is disconnected, for its state.
    func shutdown(reason: String) async {
        if session.isBusy { _ = await runner.abort() }
        guard isConnected else { return }
        if let wedged = wedgedCall {
            logger.error("not warming up: the SDK call \(wedged.name) has not returned for \(Int(wedged.seconds)) s")
            session.transition(.connectionChanged(connected: false, reason: reason))
            return
        }
        let final = try? await cooling.warmUpAndRelease()
        cooling.forget()
        session.transition(.connectionChanged(connected: false, reason: reason))
        if let final {
            logger.info("camera released at \(String(format: "%.1f", final)) C")
        }
    }
}
