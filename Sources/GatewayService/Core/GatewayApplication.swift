import ApertureConfig
import ApertureProtocol
import Bus
import ChildRuntime
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The gateway: the HTTP faces (evora-compatible routes, psen under `/psen/`, Aperture's `/v1`
/// API with its events and OpenAPI document, `/metrics`, `/healthz`, the dashboard at `/`) on
/// `gateway.listen`, and the ASCOM Alpaca device on its own port.
public enum GatewayApplication {
    /// The router's request context.
    public typealias Context = GatewayRequestContext

    /// Builds the gateway: the HTTP application and the `gateway.ctl` commands.
    /// - Parameters:
    ///   - context: the child's context (configuration, runtime directory, logger).
    ///   - commands: the control socket's router; `status` is added.
    /// - Returns: the services to run.
    /// - Throws: ``BusError`` when the bus clients cannot be created; ``GatewayConfigurationError``
    ///   when the gateway would listen beyond loopback without a token, or Alpaca would without
    ///   `alpaca.allow_from` or `alpaca.allow_unauthenticated`.
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        let configuration = context.configuration
        if !isLoopback(configuration.gateway.host) && configuration.gateway.token.isEmpty {
            throw GatewayConfigurationError(
                "gateway.listen = \(configuration.gateway.host):\(configuration.gateway.port) is not a loopback address, "
                + "and no gateway.token is set: state-changing requests would be open to the network. "
                + "Set gateway.token (or gateway.token_file), or listen on 127.0.0.1 behind nginx.")
        }
        do {
            try configuration.checkAlpacaListener()
            try configuration.checkWeatherSource()
            try configuration.checkFocusOffsets()
        } catch {
            throw GatewayConfigurationError(error.message)
        }
        if configuration.gateway.corsOrigins.contains("*") {
            context.logger.warning("""
                gateway.cors_origins = *: a page of any web site an observer opens may call the gateway and change \
                state (with the token, when gateway.token is set). List the origins of your pages instead.
                """)
        }
        let gateway = try Gateway(configuration: configuration, runtime: context.runtime, logger: context.logger)
        let boundAddress = BoundAddress()
        commands.register(GatewayStatusCommand.self) { _ in
            GatewayStatus(http: boundAddress.value, alpaca: gateway.alpacaAddress.value)
        }

        let router = makeRouter(gateway: gateway)
        let readiness = context.readiness
        let logger = context.logger
        let app = Application(
            router: router,
            server: ConnectionLimits.server(configuration),
            configuration: .init(
                address: .hostname(configuration.gateway.host, port: configuration.gateway.port),
                serverName: "aperture-gateway"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.gateway.port
                let host = configuration.gateway.host.contains(":") ? "[\(configuration.gateway.host)]" : configuration.gateway.host
                boundAddress.set("\(host):\(port)")
                readiness.set(true)
                logger.info("HTTP listening on http://\(host):\(port)")
            },
            logger: logger)
        var services: [any Service] = [app, gateway.events, ChildStatusPoller(gateway: gateway)]
        services += try AlpacaServer.services(gateway: gateway)
        return services
    }

    /// All HTTP routes of `gateway.listen`.
    public static func makeRouter(gateway: Gateway) -> Router<Context> {
        let router = Router(context: Context.self)
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: CORSMiddleware(policy: gateway.cors))
        router.add(middleware: JSONErrorMiddleware())
        router.add(middleware: HostGuardMiddleware(guards: RequestGuards(configuration: gateway.configuration)))
        router.add(middleware: AuthMiddleware(token: gateway.configuration.gateway.token, cors: gateway.cors))
        router.add(middleware: BodyLimitMiddleware(limit: gateway.configuration.gateway.maxBody))

        router.get("healthz") { _, _ -> Response in
            await HealthEndpoint.report(gateway: gateway)
        }
        router.get("metrics") { _, _ -> Response in
            let text = gateway.metrics.render()
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        EvoraRoutes.register(on: router, gateway: gateway)
        EvoraFocusRoutes.register(on: router, gateway: gateway)
        EvoraFramingRoutes.register(on: router, gateway: gateway)
        PsenRoutes.register(on: router.group("psen"), gateway: gateway)
        V1Routes.register(on: router.group("v1"), gateway: gateway)
        DashboardRoutes.register(on: router, gateway: gateway)
        return router
    }

    /// Whether a listen host is loopback only: `localhost`, `::1`, or a numeric 127.x.x.x
    /// (a name such as `127.example.org` is not).
    public static func isLoopback(_ host: String) -> Bool {
        ApertureConfiguration.isLoopback(host)
    }
}

/// The request context: Hummingbird's basic one plus the connection's channel, so that an
/// event stream can cap its socket's send buffer.
public struct GatewayRequestContext: RequestContext {
    /// Hummingbird's own per-request storage.
    public var coreContext: CoreRequestContextStorage
    /// The client's connection.
    public let channel: any Channel

    /// Creates the context of a request arriving on `source`'s channel.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// A gateway configuration that must not start.
public struct GatewayConfigurationError: Error, CustomStringConvertible {
/// Why it must not start, naming the key.
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The address the HTTP server bound, once it did.
final class BoundAddress: Sendable {
    private let storage = Mutex<String?>(nil)
    var value: String? { storage.withLock { $0 } }
    func set(_ address: String) { storage.withLock { $0 = address } }
}

/// Asks the supervisor for the children's states every two seconds, so that a child that is
/// down is answered with 503 at once even when its lifecycle event was missed.
struct ChildStatusPoller: Service {
    let gateway: Gateway

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if let status = try? await gateway.supervisor.call(SupervisorStatusCommand.self, timeout: .seconds(1)) {
                    gateway.children.record(status)
                    gateway.metrics.childStatus(status)
                }
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }
}

/// `GET /healthz`: every child's pid, state and whether it answered a bus ping within the
/// last interval, as the supervisor sees them. 200 when all are running and answering, 503
/// otherwise (with the reason), so that a load balancer or monitor can act on the status.
enum HealthEndpoint {
    struct Report: Encodable {
        var status: String
        var message: String?
        var supervisor: SupervisorInfo?
        var children: [ChildStatus]
    }

    struct SupervisorInfo: Encodable {
        var pid: Int32
        var uptime: Double
        var ready: Bool
        var stopping: Bool
        var pingInterval: Double

        enum CodingKeys: String, CodingKey {
            case pid, uptime, ready, stopping
            case pingInterval = "ping_interval"
        }
    }

    static func report(gateway: Gateway) async -> Response {
        let report: Report
        let healthy: Bool
        do {
            let status = try await gateway.supervisor.call(SupervisorStatusCommand.self, timeout: .seconds(1))
            gateway.children.record(status)
            let failing = status.children.filter { !($0.state == .running && $0.responding) }
            healthy = failing.isEmpty && !status.stopping
            let message = healthy ? nil
                : status.stopping ? "the service is stopping"
                : failing.map { "\($0.name) is \($0.state.rawValue)\($0.state == .running ? " but not answering pings" : "")" }
                    .joined(separator: "; ")
            report = Report(
                status: healthy ? "ok" : "degraded", message: message,
                supervisor: SupervisorInfo(pid: status.pid, uptime: status.uptime, ready: status.ready,
                                           stopping: status.stopping, pingInterval: status.pingInterval),
                children: status.children)
        } catch {
            healthy = false
            report = Report(status: "unavailable", message: "the supervisor does not answer: \(error.message)",
                            supervisor: nil, children: [])
        }
        return JSONResponse.make(report, status: healthy ? .ok : .serviceUnavailable,
                                 headers: healthy ? [:] : [.retryAfter: "1"])
    }
}
