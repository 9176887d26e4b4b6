import ApertureConfig
import Bus
import ApertureProtocol
import Foundation
import Hummingbird
import Logging
import NIOPosix
import Synchronization

/// What every face of the gateway shares: the clients of the children's control sockets, the
/// camera's frame ring, the events fan-out, the children's health and the metrics.
///
/// The HTTP routes (evora, psen, `/v1`, the dashboard) and the Alpaca listener all drive the
/// one camera through `camera`, so an exposure started through one face is busy in the others.
public final class Gateway: Sendable {
    /// The service configuration the gateway started with.
    public let configuration: ApertureConfiguration
    /// The runtime directory holding the control sockets and the frame ring.
    public let runtime: RuntimeDirectory
    /// The gateway's logger.
    public let logger: Logger
    /// `camera.ctl`.
    public let camera: RequestClient
    /// `processor.ctl`.
    public let processor: RequestClient
    /// `supervisor.ctl`.
    public let supervisor: RequestClient
    /// `catalog.ctl`.
    public let catalog: RequestClient
    /// The camera's shared-memory frame ring.
    public let frames: FrameSource
    /// Events of all children, fanned out to `/v1/events` clients.
    public let events: EventHub
    /// Whether each child is running, from the supervisor's lifecycle events.
    public let children: ChildHealth
    /// Prometheus metrics.
    public let metrics: GatewayMetrics
    /// The last hour of temperature readings.
    public let temperatures = TemperatureHistory()
    /// The camera's status, shared by concurrent readers.
    public let cameraStatus = CameraStatusCache()
    /// The browser origins trusted besides the gateway's own (`gateway.cors_origins`).
    let cors: CORSPolicy
    /// The weather, from `weather.source`.
    let weather: WeatherSource
    /// Where the Alpaca listener bound, `HOST:PORT`, once it did (reported on gateway.ctl).
    let alpacaAddress = BoundAddress()

    /// Opens the bus clients; nothing is received until ``EventHub`` runs.
    public init(configuration: ApertureConfiguration, runtime: RuntimeDirectory, logger: Logger) throws(BusError) {
        self.configuration = configuration
        self.runtime = runtime
        self.logger = logger
        camera = try RequestClient(dialing: runtime.endpoint(EndpointName.cameraControl))
        processor = try RequestClient(dialing: runtime.endpoint(EndpointName.processorControl))
        supervisor = try RequestClient(dialing: runtime.endpoint(EndpointName.supervisorControl))
        catalog = try RequestClient(dialing: runtime.endpoint(EndpointName.catalogControl))
        frames = FrameSource(path: runtime.path + "/" + EndpointName.cameraFrames)
        children = ChildHealth()
        metrics = GatewayMetrics()
        cors = CORSPolicy(configuration: configuration)
        weather = WeatherSource(configuration: configuration.weather, logger: logger)
        events = EventHub(runtime: runtime, bufferSize: configuration.gateway.eventBuffer,
                          maximumClients: configuration.gateway.eventClients,
                          children: children, metrics: metrics, temperatures: temperatures,
                          cameraStatus: cameraStatus, logger: logger)
    }

    /// Checks the bearer token of a request that changes state (see ``AuthMiddleware``).
    func authorize(_ request: Request) throws(APIError) {
        try AuthMiddleware<GatewayApplication.Context>.authorize(request, token: Array(configuration.gateway.token.utf8), cors: cors)
    }

    /// Runs pixel work (a preview, an image download) on NIO's thread pool, one job per core at
    /// most, so that it never occupies the threads that serve `/abort` and the other requests.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws(APIError) -> T {
        do {
            return try await NIOThreadPool.singleton.runIfActive(work)
        } catch {
            throw APIError(any: error)
        }
    }

    /// The longest a query waits for a child.
    public static let queryTimeout: Duration = .seconds(3)
    /// The longest setting an ROI waits for the processor, which may first ask the camera for
    /// its sensor's size (for at most 4 s).
    public static let roiTimeout: Duration = .seconds(6)

    /// Camera commands that change nothing.
    static let cameraQueries: Set<String> = [
        CameraStatusCommand.name, TemperatureCommand.name, ExposureQueryCommand.name, ExposureListCommand.name,
        LatestFrameCommand.name, "ping",
    ]

    /// Calls a camera command; errors become ``APIError`` (503 when the camera is down).
    /// A command that may change something makes the cached status and temperature stale.
    public func camera<C: BusCommand>(_ command: C.Type, _ arguments: C.Arguments,
                                      timeout: Duration = Gateway.queryTimeout) async throws(APIError) -> C.Result {
        let changes = !Self.cameraQueries.contains(C.name)
        if changes { invalidateCamera() }
        defer { if changes { invalidateCamera() } }
        return try await call(camera, child: .camera, command, arguments, timeout: timeout)
    }

    private func invalidateCamera() {
        cameraStatus.invalidate()
        temperatures.invalidate()
    }

    /// The camera's status report (shared with concurrent readers, at most 100 ms old, never
    /// older than the last change).
    public func cameraStatusReport() async throws(APIError) -> CameraStatusReport {
        try await cameraStatusEntry().report
    }

    func cameraStatusEntry() async throws(APIError) -> CameraStatusCache.Entry {
        try await cameraStatus.current { () async throws(APIError) -> CameraStatusReport in
            try await self.call(self.camera, child: .camera, CameraStatusCommand.self, NoArguments(), timeout: Gateway.queryTimeout)
        }
    }

    /// The sensor's temperature: the camera's latest telemetry when it is recent (at most two
    /// telemetry intervals old, and newer than the last cooling command), else asked of the camera.
    public func temperature() async throws(APIError) -> TemperatureStatus {
        if children.downReason("camera") == nil,
           let reading = temperatures.latest(maximumAge: 2 * configuration.camera.telemetryInterval.seconds) {
            return reading
        }
        return try await camera(TemperatureCommand.self)
    }

    /// Shuts the camera down (`shutdown`, after warming up); the cached temperature goes with
    /// it, so that `/getTemperature` says at once that the camera is off.
    func shutdownCamera() async throws(APIError) -> Acknowledgement {
        defer { temperatures.invalidate() }
        return try await camera(ShutdownCommand.self, timeout: configuration.camera.warmupTimeout + .seconds(30))
    }

    /// Calls a camera command without arguments.
    public func camera<C: BusCommand>(_ command: C.Type, timeout: Duration = Gateway.queryTimeout)
        async throws(APIError) -> C.Result where C.Arguments == NoArguments {
        try await call(camera, child: .camera, command, NoArguments(), timeout: timeout)
    }

    /// Calls a processor command; errors become ``APIError``.
    public func processor<C: BusCommand>(_ command: C.Type, _ arguments: C.Arguments,
                                         timeout: Duration = Gateway.queryTimeout) async throws(APIError) -> C.Result {
        try await call(processor, child: .processor, command, arguments, timeout: timeout)
    }

    /// Calls a processor command without arguments.
    public func processor<C: BusCommand>(_ command: C.Type, timeout: Duration = Gateway.queryTimeout)
        async throws(APIError) -> C.Result where C.Arguments == NoArguments {
        try await call(processor, child: .processor, command, NoArguments(), timeout: timeout)
    }

    /// Calls a catalog command; errors become ``APIError``.
    public func catalog<C: BusCommand>(_ command: C.Type, _ arguments: C.Arguments,
                                       timeout: Duration = Gateway.queryTimeout) async throws(APIError) -> C.Result {
        try await call(catalog, child: .catalog, command, arguments, timeout: timeout)
    }

    /// Calls a supervisor command without arguments.
    public func supervisor<C: BusCommand>(_ command: C.Type, timeout: Duration = .seconds(1))
        async throws(APIError) -> C.Result where C.Arguments == NoArguments {
        try await call(supervisor, child: .supervisor, command, NoArguments(), timeout: timeout)
    }

    private func call<C: BusCommand>(_ client: RequestClient, child: BusProcess, _ command: C.Type, _ arguments: C.Arguments,
                                     timeout: Duration) async throws(APIError) -> C.Result {
        // A child the supervisor reports down is answered at once, not after a timeout.
        if let down = children.downReason(child.rawValue) {
            throw APIError.unavailable(child, "the \(child.rawValue) process is \(down); the supervisor restarts it")
        }
        do {
            return try await client.call(command, arguments, timeout: timeout)
        } catch {
            throw APIError(error, from: child)
        }
    }
}

/// The camera's frame ring as the gateway reads it: opened on first use, re-opened when a
/// restarted camera replaced it.
public final class FrameSource: Sendable {
    /// The ring's path.
    public let path: String
    private let reader = Mutex<FrameRingReader?>(nil)

    init(path: String) { self.path = path }

    /// The current reader.
    /// - Throws: ``APIError`` 503 `camera_unavailable` while there is no ring.
    public func current() throws(APIError) -> FrameRingReader {
        do throws(BusError) {
            return try reader.withLock { current throws(BusError) -> FrameRingReader in
                if let existing = current {
                    _ = try? existing.reopenIfReplaced()
                    return existing
                }
                let opened = try FrameRingReader(path: path)
                current = opened
                return opened
            }
        } catch {
            throw APIError.unavailable(.camera, "no frame ring yet (the camera is down or has not connected): \(error.message)")
        }
    }

    /// Copies the newest frame into `pixels`.
    /// - Throws: ``APIError`` 503 without a ring, 404 before the first frame.
    public func latest(into pixels: inout [UInt16]) throws(APIError) -> FrameRingEntry {
        guard let entry = try current().latest(into: &pixels) else {
            throw APIError.notFound("the camera has not taken a frame yet")
        }
        return entry
    }
}

/// Whether each child is up, as the supervisor's `child.*` events tell it.
public final class ChildHealth: Sendable {
    /// Whether a child can be asked, as the last event or status report said.
    enum Availability: Sendable {
        case up, restarting, fatal, stopped

        init(_ event: ChildLifecycle) {
            switch event {
            case .started, .unresponsive: self = .up
            case .exited, .restarting: self = .restarting
            case .fatal: self = .fatal
            }
        }

        /// A child that is starting counts as up: its process is there and usually answers
        /// already (the supervisor marks it running only at its next ping, and this copy follows
        /// within 2 s); a request it cannot answer yet fails on its own deadline.
        init(_ state: ChildState) {
            switch state {
            case .running, .starting, .stopping: self = .up
            case .backoff, .exited: self = .restarting
            case .fatal: self = .fatal
            case .stopped: self = .stopped
            }
        }
    }

    private let states = Mutex<[String: Availability]>([:])

    init() {}

    /// Records a lifecycle event.
    func record(_ event: ChildLifecycleEvent) {
        states.withLock { $0[event.child] = Availability(event.event) }
    }

    /// Records the states of a supervisor status report.
    func record(_ status: SupervisorStatus) {
        states.withLock { states in
            for child in status.children { states[child.name] = Availability(child.state) }
        }
    }

    /// Why `child` is down, or nil when it is (or is believed to be) up.
    public func downReason(_ child: String) -> String? {
        switch states.withLock({ $0[child] }) {
        case nil, .up?: return nil
        case .restarting?: return "restarting"
        case .fatal?: return "FATAL (stopped after repeated failures; `aperture restart \(child)` revives it)"
        case .stopped?: return "stopped"
        }
    }
}
