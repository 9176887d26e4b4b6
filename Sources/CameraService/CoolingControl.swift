import ApertureConfig
import Bus
import ApertureProtocol
import CameraCore
import Foundation
import Logging
import Synchronization

/// The sensor's temperature and cooler: reads (served on the SDK thread, between exposure
/// slices), the set-point, the `camera.telemetry` events, and the warm-up before the camera is
/// released.
final class CoolingControl: Sendable {
    private let sdk: SDKThread
    private let driver: DriverHandle<any CameraDriver>
    private let session: CameraSession
    private let events: Publisher
    private let configuration: ApertureConfiguration
    private let logger: Logger
    /// Whether a read waits for the SDK thread now.
    private let readPending = Atomic<Bool>(false)
    private let last = Mutex<TemperatureStatus?>(nil)

    /// - Parameters:
    ///   - sdk: the thread that calls the driver.
    ///   - driver: the camera driver.
    ///   - session: the state the parts share (the set-point range, whether connected).
    ///   - events: where `camera.telemetry` goes.
    ///   - configuration: the SDK call limit, the telemetry interval and the warm-up settings.
    ///   - logger: for cooler changes and the warm-up.
    init(sdk: SDKThread, driver: DriverHandle<any CameraDriver>, session: CameraSession, events: Publisher,
         configuration: ApertureConfiguration, logger: Logger) {
        self.sdk = sdk
        self.driver = driver
        self.session = session
        self.events = events
        self.configuration = configuration
        self.logger = logger
    }

    /// The newest reading; nil before the first and after the camera is released.
    var lastReading: TemperatureStatus? { last.withLock { $0 } }

    /// Forgets the last reading (the camera was released).
    func forget() { last.withLock { $0 = nil } }

    /// Reads the temperature on the SDK thread (served between exposure slices).
    /// - Parameter timeout: how long to wait for the SDK thread.
    /// - Returns: the reading; while another read waits, the last reading instead.
    /// - Throws: ``CameraError`` `timeout` (also while another read waits and there is no last
    ///   reading), or the driver's error.
    func read(timeout: Duration = .seconds(5)) async throws(CameraError) -> TemperatureStatus {
        // While one read waits on a busy or wedged SDK thread, do not queue more behind it.
        guard readPending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            if let last = lastReading { return last }
            throw CameraError(.timeout, "a temperature read is already waiting for the camera")
        }
        defer { readPending.store(false, ordering: .releasing) }
        let driver = self.driver
        let sdk = self.sdk
        let reading = try await withTimeout(timeout, "temperature read") { () async throws(CameraError) -> TemperatureStatus in
            try await sdk.perform("temperature") { () throws(CameraError) -> TemperatureStatus in
                try sdk.call("GetTemperatureF") { () throws(CameraError) -> TemperatureStatus in try driver.driver.temperature() }
            }
        }
        last.withLock { $0 = reading }
        return reading
    }

    /// Reads the temperature from a job already on the SDK thread (an exposure, before each
    /// frame), keeping it as the last reading. Only on the SDK thread.
    /// - Returns: the reading, or nil when the driver could not read it.
    func readOnSDKThread() -> TemperatureStatus? {
        let driver = self.driver.driver
        let reading = try? sdk.call("GetTemperatureF") { () throws(CameraError) -> TemperatureStatus in try driver.temperature() }
        if let reading { last.withLock { $0 = reading } }
        return reading
    }

    /// Switches the cooler and sets the set-point, then reads the temperature.
    /// - Parameters:
    ///   - setpoint: the target in degrees Celsius, within the camera's range; nil keeps it.
    ///   - cooler: on or off; nil means on.
    /// - Returns: the temperature after the change.
    /// - Throws: ``CameraError`` `not_connected`; `invalid_argument` naming `setpoint` out of
    ///   range or neither given; `timeout` or the driver's error.
    func cool(setpoint: Int?, cooler: Bool?) async throws(CameraError) -> TemperatureStatus {
        guard let info = session.info, session.isConnected else {
            throw CameraError(.notConnected, "the camera is not connected")
        }
        if let setpoint, !(info.minimumSetpoint...info.maximumSetpoint).contains(setpoint) {
            throw CameraError.invalid("setpoint", "\(setpoint) C is outside the cooler's range \(info.minimumSetpoint)...\(info.maximumSetpoint) C")
        }
        if setpoint == nil && cooler == nil {
            throw CameraError(.invalidArgument, "setpoint or cooler: give a set-point, or cooler on/off")
        }
        let turnOn = cooler ?? true
        let driver = self.driver
        let sdk = self.sdk
        // The reading is taken in the same job as the change: a telemetry read waiting on the SDK
        // thread at the time would answer the set-point before the change.
        let reading = try await withTimeout(configuration.camera.sdkCallTimeout, "cool") { () async throws(CameraError) -> TemperatureStatus in
            try await sdk.perform("cool") { () throws(CameraError) -> TemperatureStatus in
                // Switch first, so that a refused switch leaves the set-point as it was.
                try sdk.call(turnOn ? "CoolerON" : "CoolerOFF") { () throws(CameraError) in try driver.driver.setCooler(on: turnOn) }
                if let setpoint {
                    try sdk.call("SetTemperature") { () throws(CameraError) in try driver.driver.setTemperatureSetpoint(setpoint) }
                }
                return try sdk.call("GetTemperatureF") { () throws(CameraError) -> TemperatureStatus in try driver.driver.temperature() }
            }
        }
        last.withLock { $0 = reading }
        logger.info("cooler \(turnOn ? "on" : "off")\(setpoint.map { ", set-point \($0) C" } ?? "")")
        return reading
    }

    /// Publishes `camera.telemetry` every interval until cancelled.
    func publishTelemetry() async {
        while !Task.isCancelled {
            let connected = session.isConnected
            let temperature = connected ? try? await read(timeout: .seconds(2)) : nil
            try? events.publish(CameraTopic.telemetry, TelemetryEvent(state: session.cameraState, connected: connected,
                                                                      temperature: temperature))
            try? await Task.sleep(for: configuration.camera.telemetryInterval)
        }
    }

    /// Switches the cooler off, waits (at most the configured warm-up time) until the sensor is
    /// at or above the warm-up temperature, then releases the camera (Andor: ShutDown), as
    /// evora did.
    /// - Returns: the sensor's last temperature, when it could be read.
    /// - Throws: ``CameraError`` when the camera cannot be released, or `timeout` when the SDK
    ///   thread does not finish within the warm-up time and 10 s more.
    func warmUpAndRelease() async throws(CameraError) -> Double? {
        let driver = self.driver
        let sdk = self.sdk
        let target = configuration.camera.warmupTemperature
        let timeout = configuration.camera.warmupTimeout
        let logger = self.logger
        return try await withTimeout(timeout + .seconds(10), "shutdown") { () async throws(CameraError) -> Double? in
            try await sdk.perform("shutdown") { () throws(CameraError) -> Double? in
                try? sdk.call("CoolerOFF") { () throws(CameraError) in try driver.driver.setCooler(on: false) }
                let deadline = Date().addingTimeInterval(timeout.seconds)
                var reading = try? sdk.call("GetTemperatureF") { () throws(CameraError) in try driver.driver.temperature() }
                if let current = reading?.celsius, current < target {
                    logger.notice("warming the sensor from \(String(format: "%.1f", current)) C to \(target) C before releasing the camera")
                }
                while let current = reading?.celsius, current < target, Date() < deadline {
                    Thread.sleep(forTimeInterval: 0.2)
                    sdk.servePending()
                    reading = try? sdk.call("GetTemperatureF") { () throws(CameraError) in try driver.driver.temperature() }
                }
                try sdk.call("ShutDown") { () throws(CameraError) in try driver.driver.disconnect() }
                return reading?.celsius
            }
        }
    }
}
