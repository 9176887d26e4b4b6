import ApertureConfig
import ApertureProtocol
import Bus
import CameraCore
import ChildRuntime
import Foundation
import Logging
import ServiceLifecycle

/// The camera process: the one owner of the camera. Answers camera.ctl, publishes
/// camera.events, writes FITS files.
public enum CameraApplication {
    /// Builds the camera process's commands and services.
    /// - Parameters:
    ///   - context: the child's context.
    ///   - commands: the control socket's router (`ping` is already there).
    /// - Returns: the services to run.
    /// - Throws: ``BusError`` when camera.events cannot listen; ``CameraError`` for a filter
    ///   wheel address that cannot be used; ``ConfigurationError`` for a half-given simulator
    ///   pointing or, with one, an unreadable catalogue.
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        let configuration = context.configuration
        try configuration.checkSimulatorPointing()
        // A file-size limit (RLIMIT_FSIZE) must fail the write (EFBIG -> storage_error), not kill the camera.
        signal(SIGXFSZ, SIG_IGN)
        let events = try Publisher(listening: context.runtime.endpoint(EndpointName.cameraEvents), sendsInBackground: true)
        let driver = makeDriver(configuration, logger: context.logger)
        let wheel: any FilterWheel = configuration.filterWheel.driver == .evora
            ? try EvoraFilterWheel(address: configuration.filterWheel.address, slots: configuration.filterWheel.filters.count)
            : SimulatedFilterWheel(slots: configuration.filterWheel.filters.count)
        let controller = CameraController(configuration: configuration, driverName: configuration.camera.driver.rawValue,
                                          driver: driver, wheel: wheel, events: events, runtime: context.runtime,
                                          logger: context.logger)
        context.health.install {
            controller.wedgedCall.map { "camera SDK call \($0.name) has not returned for \(Int($0.seconds)) s" }
        }
        register(&commands, controller)
        return [CameraLifecycleService(controller: controller, readiness: context.readiness, events: events,
                                       logger: context.logger)]
    }

    static func makeDriver(_ configuration: ApertureConfiguration, logger: Logger) -> any CameraDriver {
        switch configuration.camera.driver {
        case .andor:
            return AndorSDK2Camera(libraryPath: configuration.andor.library,
                                   configDirectory: configuration.andor.configDirectory, logger: logger)
        case .simulator:
            var simulator = SimulatedCamera.Configuration()
            simulator.width = configuration.camera.width
            simulator.height = configuration.camera.height
            simulator.seed = configuration.camera.seed
            simulator.timeScale = configuration.camera.timeScale
            simulator.maximumExposure = max(simulator.maximumExposure, configuration.camera.maximumExposure)
            if let ra = configuration.camera.simulatorRA, let dec = configuration.camera.simulatorDec {
                simulator.pointing = SkyPointing(ra: ra, dec: dec)
            }
            simulator.focalLength = configuration.camera.simulatorFocalLength
            simulator.rotation = configuration.camera.simulatorRotation
            simulator.catalogPath = configuration.camera.simulatorCatalog
            if !FileManager.default.isReadableFile(atPath: simulator.catalogPath) {
                logger.warning("camera.simulator.catalog '\(simulator.catalogPath)' cannot be read: exposures with a pointing (ra, dec) will fail; the others show the synthetic star field")
            }
            return SimulatedCamera(configuration: simulator)
        }
    }

    static func register(_ commands: inout CommandRouter, _ controller: CameraController) {
        commands.register(CameraStatusCommand.self) { _ in await controller.status() }
        commands.register(ExposeCommand.self) { request in
            try await mapped { () async throws(CameraError) in try await controller.expose(request) }
        }
        commands.register(ExposureCheckCommand.self) { request in
            try await mapped { () async throws(CameraError) in try controller.check(request) }
        }
        commands.register(AbortCommand.self) { _ in await controller.abort() }
        commands.register(AbortExposureCommand.self) { arguments in await controller.abort(expecting: arguments.exposureId) }
        commands.register(ExposureQueryCommand.self) { arguments in
            try await mapped { () async throws(CameraError) in try controller.record(id: arguments.id) }
        }
        commands.register(ExposureListCommand.self) { _ in .init(exposures: controller.records()) }
        commands.register(CoolCommand.self) { arguments in
            try await mapped { () async throws(CameraError) in
                try await controller.cool(setpoint: arguments.setpoint, cooler: arguments.cooler)
            }
        }
        commands.register(TemperatureCommand.self) { _ in
            try await mapped { () async throws(CameraError) in try await controller.readTemperature() }
        }
        commands.register(FilterCommand.self) { arguments in
            try await mapped { () async throws(CameraError) in
                try await controller.moveFilter(name: arguments.name, slot: arguments.slot, home: arguments.home ?? false,
                                                wait: arguments.wait ?? true)
            }
        }
        commands.register(LatestFrameCommand.self) { arguments in
            try await mapped { () async throws(CameraError) in try controller.latestFrame(includePixels: arguments.pixels ?? false) }
        }
        commands.register(InitializeCommand.self) { _ in
            if !controller.isConnected {
                try await mapped { () async throws(CameraError) in try await controller.connect() }
            }
            return await controller.status()
        }
        commands.register(ShutdownCommand.self) { _ in
            guard controller.isConnected else {
                return Acknowledgement(message: "the camera was not connected; nothing to release")
            }
            await controller.shutdown(reason: "the camera was shut down by request; send initialize to reconnect")
            return Acknowledgement(message: "cooler off, sensor warmed, camera released")
        }
    }

    /// Runs a camera operation, turning its ``CameraError`` into a bus error with the same code.
    static func mapped<T>(_ body: () async throws(CameraError) -> T) async throws(BusError) -> T {
        do throws(CameraError) {
            return try await body()
        } catch {
            throw error.busError
        }
    }
}

/// Connects the camera at start, publishes telemetry, and at shutdown warms the sensor up and
/// releases the camera.
struct CameraLifecycleService: Service {
    let controller: CameraController
    let readiness: Readiness
    let events: Publisher
    let logger: Logger

    func run() async throws {
        controller.removeLeftovers()
        do {
            try await controller.connect()
        } catch {
            logger.error("the camera is not usable until `initialize` succeeds: \(error)")
        }
        readiness.set(true)
        let telemetry = Task { await controller.publishTelemetry() }
        try? await gracefulShutdown()
        telemetry.cancel()
        await controller.shutdown(reason: "the camera process is stopping")
        events.close()
    }
}
