import ApertureConfig
import Bus
import ChildRuntime
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The gateway's HTTP face. This issue's part: `/healthz`.
public enum GatewayApplication {
    /// Builds the gateway: the HTTP application and the `gateway.ctl` commands.
    /// - Parameters:
    ///   - context: the child's context (configuration, runtime directory, logger).
    ///   - commands: the control socket's router; `status` is added.
    /// - Returns: the services to run (the HTTP server).
    /// - Throws: ``BusError`` when the bus clients cannot be created.
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        let supervisor = try RequestClient(dialing: context.runtime.endpoint(EndpointName.supervisorControl))
        let boundAddress = BoundAddress()
        commands.register(GatewayStatusCommand.self) { _ in
            GatewayStatus(http: boundAddress.value)
        }

        let router = Router()
        router.get("healthz") { _, _ -> Response in
            await HealthEndpoint.report(supervisor: supervisor)
        }
        let latestFrame = LatestFrameEndpoint(runtime: context.runtime)
        router.get("v1/frames/latest") { request, _ -> Response in
            latestFrame.respond(request)
        }

        let configuration = context.configuration
        let readiness = context.readiness
        let logger = context.logger
        let app = Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.gatewayHost, port: configuration.gatewayPort),
                serverName: "aperture-gateway"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.gatewayPort
                let host = configuration.gatewayHost.contains(":") ? "[\(configuration.gatewayHost)]" : configuration.gatewayHost
                boundAddress.set("\(host):\(port)")
                readiness.set(true)
                logger.info("HTTP listening on http://\(host):\(port)")
            },
            logger: logger)
        return [app]
    }
}

/// The address the HTTP server bound, once it did.
final class BoundAddress: Sendable {
    private let storage = Mutex<String?>(nil)
    var value: String? { storage.withLock { $0 } }
    func set(_ address: String) { storage.withLock { $0 = address } }
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

    static func report(supervisor: RequestClient) async -> Response {
        let report: Report
        let healthy: Bool
        do {
            let status = try await supervisor.call(SupervisorStatusCommand.self, timeout: .seconds(1))
            let failing = status.children.filter { !($0.state == "running" && $0.responding) }
            healthy = failing.isEmpty && !status.stopping
            let message = healthy ? nil
                : status.stopping ? "the service is stopping"
                : failing.map { "\($0.name) is \($0.state)\($0.state == "running" ? " but not answering pings" : "")" }
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

/// Encodes JSON replies.
enum JSONResponse {
    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status, headers: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"internal","message":"cannot encode reply"}}"#.utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
