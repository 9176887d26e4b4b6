import ApertureConfig
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The ASCOM Alpaca camera device (issue 7, docs/alpaca.md): its own HTTP listener on
/// `gateway.listen`'s host at `alpaca.port`, and the UDP discovery responder.
enum AlpacaServer {
    /// The services to run: none when `alpaca.port = -1`; the listener, and the discovery
    /// responder unless discovery is off (`alpaca.discovery = auto` is off on loopback).
    static func services(gateway: Gateway) throws -> [any Service] {
        let configuration = gateway.configuration
        guard configuration.alpaca.port >= 0 else {
            gateway.logger.info("alpaca: off (alpaca.port = -1)")
            return []
        }
        let loopback = GatewayApplication.isLoopback(configuration.gateway.host)
        let management = AlpacaManagement(stateDirectory: configuration.storage.stateDirectory, host: configuration.gateway.host,
                                          site: configuration.site.name, camera: configuration.camera.name, logger: gateway.logger)
        let camera = AlpacaCamera(gateway: gateway)
        let filterWheel = AlpacaFilterWheel(gateway: gateway)
        let boundPort = AlpacaBoundPort()
        let logger = gateway.logger
        let host = configuration.gateway.host
        if !configuration.alpaca.allowFrom.isEmpty {
            logger.info("alpaca: answers clients in alpaca.allow_from = \(configuration.alpaca.allowFrom.map(\.description).joined(separator: ", ")) only")
        } else if !loopback {
            // Without either choice the gateway does not start (checkAlpacaListener in GatewayApplication.build).
            logger.warning("""
                alpaca: listening on \(configuration.gateway.host) with alpaca.allow_unauthenticated = true: anyone who \
                reaches port \(configuration.alpaca.port) can drive the camera (Alpaca clients send no token); \
                alpaca.allow_from limits it to your clients' networks
                """)
        }
        let app = Application(
            responder: AlpacaResponder(camera: camera, filterWheel: filterWheel, management: management,
                                       allowFrom: configuration.alpaca.allowFrom, guards: RequestGuards(configuration: configuration)),
            server: ConnectionLimits.server(configuration),
            configuration: .init(address: .hostname(host, port: configuration.alpaca.port), serverName: "aperture-alpaca"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.alpaca.port
                let shown = host.contains(":") ? "[\(host)]" : host
                boundPort.set(port)
                gateway.alpacaAddress.set("\(shown):\(port)")
                logger.info("alpaca: camera 0 on http://\(shown):\(port)/api/v1/camera/0/ (UniqueID \(management.uniqueID))")
                logger.info("alpaca: filter wheel 0 on http://\(shown):\(port)/api/v1/filterwheel/0/ (UniqueID \(management.filterWheelID))")
            },
            logger: logger)
        // Alpaca is an extra face: if its port is taken, the gateway's HTTP API carries on.
        var services: [any Service] = [NonEssentialService(name: "alpaca listener on port \(configuration.alpaca.port)",
                                                           base: app, logger: logger)]
        let discovery: Bool
        switch configuration.alpaca.discovery {
        case .on: discovery = true
        case .off: discovery = false
        case .auto: discovery = !loopback
        }
        if discovery {
            services.append(NonEssentialService(
                name: "alpaca discovery on UDP port \(configuration.alpaca.discoveryPort)",
                base: AlpacaDiscovery(port: configuration.alpaca.discoveryPort, loopbackOnly: loopback,
                                      alpacaPort: boundPort, allowFrom: configuration.alpaca.allowFrom, logger: logger),
                logger: logger))
        } else {
            logger.info("alpaca: discovery off (alpaca.discovery = \(configuration.alpaca.discovery)\(loopback ? ", the gateway listens on loopback" : ""))")
        }
        return services
    }
}

/// A service whose failure (a port already taken) is logged and ends only itself, not the
/// gateway: it then waits for the gateway's shutdown like the others.
struct NonEssentialService: Service {
    let name: String
    let base: any Service
    let logger: Logger

    func run() async throws {
        do {
            try await base.run()
        } catch {
            if Task.isCancelled { return }
            logger.error("\(name) failed: \(error); the gateway's other faces carry on without it")
            try? await gracefulShutdown()
        }
    }
}

/// Routes the Alpaca listener's requests: `/api/v1/camera/0/{member}`,
/// `/api/v1/filterwheel/0/{member}`, `/management/...`, `/setup...`.
struct AlpacaResponder: HTTPResponder {
    /// The gateway's context, for the client's address (``GatewayRequestContext/channel``).
    typealias Context = GatewayRequestContext

    let camera: AlpacaCamera
    let filterWheel: AlpacaFilterWheel
    let management: AlpacaManagement
    /// `alpaca.allow_from`: when not empty, the only networks answered.
    let allowFrom: [AddressRange]
    /// The gateway's Host and Origin rules.
    let guards: RequestGuards
    private let serverTransactions = ServerTransactionCounter()

    init(camera: AlpacaCamera, filterWheel: AlpacaFilterWheel, management: AlpacaManagement, allowFrom: [AddressRange],
         guards: RequestGuards) {
        self.camera = camera
        self.filterWheel = filterWheel
        self.management = management
        self.allowFrom = allowFrom
        self.guards = guards
    }

    /// Largest PUT body read (Alpaca forms are a few parameters).
    static let bodyLimit = 64 * 1024

    func respond(to request: Request, context: Context) async throws -> Response {
        do {
            try admit(request, peer: context.channel.remoteAddress)
            return try await route(request)
        } catch let bad as AlpacaBadRequest {
            return bad.response
        }
    }

    /// Refuses (403, text) a client outside `alpaca.allow_from`, a `Host` the gateway does not
    /// answer to, and a PUT sent by a web page of another origin.
    private func admit(_ request: Request, peer: SocketAddress?) throws(AlpacaBadRequest) {
        if !allowFrom.isEmpty {
            let address = peer?.ipAddress ?? "an unknown address"
            guard let bytes = peer?.ipAddress.flatMap(AddressRange.bytes(of:)), allowFrom.contains(where: { $0.contains(bytes) }) else {
                throw AlpacaBadRequest("the client \(address) is not in alpaca.allow_from (\(allowFrom.map(\.description).joined(separator: ", "))): "
                    + "this Alpaca device answers those networks only", status: .forbidden)
            }
        }
        do {
            try guards.checkHost(request)
            if request.method == .put { try RequestGuards.checkOrigin(request) }
        } catch {
            throw AlpacaBadRequest(error.message, status: error.status)
        }
    }

    private func route(_ request: Request) async throws -> Response {
        let path = request.uri.path.split(separator: "/", omittingEmptySubsequences: true)
        let method = request.method
        if path.isEmpty || path == ["setup"] || path == ["setup", "v1", "camera", "0", "setup"]
            || path == ["setup", "v1", "filterwheel", "0", "setup"] {
            guard method == .get || method == .head else { throw AlpacaBadRequest("\(method.rawValue) is not allowed here; use GET") }
            return await AlpacaManagement.setupPage(camera: camera, management: management,
                                                    device: path.count > 2 ? String(path[2]) : nil)
        }
        if path.first == "setup" {
            throw AlpacaBadRequest("no setup page at \(request.uri.path); the devices' are /setup/v1/camera/0/setup "
                + "and /setup/v1/filterwheel/0/setup", status: .notFound)
        }
        if path.first == "management" {
            guard method == .get else { throw AlpacaBadRequest("\(request.uri.path) answers GET only") }
            let parameters = AlpacaParameters.parse(request.uri.query, caseSensitive: false)
            let transaction = AlpacaTransaction(client: parameters.transactionNumber("ClientTransactionID"),
                                                server: serverTransactions.next())
            if let response = management.response(path, transaction: transaction) { return response }
            throw AlpacaBadRequest("unknown management path \(request.uri.path); there are /management/apiversions, "
                + "/management/v1/description and /management/v1/configureddevices")
        }
        guard path.first == "api" else {
            throw AlpacaBadRequest("no such path \(request.uri.path); the devices are at /api/v1/camera/0/ and /api/v1/filterwheel/0/",
                                   status: .notFound)
        }
        guard path.count == 5 else {
            throw AlpacaBadRequest("malformed path \(request.uri.path): expected /api/v1/{camera|filterwheel}/0/{member}")
        }
        guard path[1] == "v1" else { throw AlpacaBadRequest("unsupported API version '\(path[1])': this server speaks v1") }
        let device: any AlpacaDevice
        switch path[2] {
        case "camera": device = camera
        case "filterwheel": device = filterWheel
        default:
            throw AlpacaBadRequest("no device of type '\(path[2])': this server has camera 0 and filterwheel 0 (paths are lower case)")
        }
        let kind = type(of: device).pathName
        guard path[3] == "0" else {
            throw AlpacaBadRequest("no \(kind) number '\(path[3])': this server has \(kind) 0 only")
        }
        let member = String(path[4])
        guard let access = type(of: device).members[member] else {
            throw AlpacaBadRequest("'\(member)' is not a member of the Alpaca \(kind) interface (member names are lower case)")
        }

        switch method {
        case .get:
            guard access.get else { throw AlpacaBadRequest("'\(member)' is a method: use PUT") }
            let parameters = AlpacaParameters.parse(request.uri.query, caseSensitive: false)
            let transaction = AlpacaTransaction(client: parameters.transactionNumber("ClientTransactionID"),
                                                server: serverTransactions.next())
            if kind == AlpacaCamera.pathName, member == "imagearray" || member == "imagearrayvariant" {
                guard camera.isConnected else {
                    return AlpacaEnvelope.response(value: nil, error: .notConnected(member), transaction: transaction)
                }
                let accept = request.headers[.accept] ?? ""
                return await AlpacaImage.response(camera: camera, imageBytes: accept.lowercased().contains("application/imagebytes"),
                                                  transaction: transaction)
            }
            do {
                let value = try await device.get(member, parameters)
                return AlpacaEnvelope.response(value: value, transaction: transaction)
            } catch let error as AlpacaError {
                return AlpacaEnvelope.response(value: nil, error: error, transaction: transaction)
            }
        case .put:
            guard access.put else { throw AlpacaBadRequest("'\(member)' is read-only: use GET") }
            let body = try await Self.collectBody(request)
            let parameters = AlpacaParameters.parse(String(buffer: body), caseSensitive: true)
            let transaction = AlpacaTransaction(client: parameters.transactionNumber("ClientTransactionID"),
                                                server: serverTransactions.next())
            do {
                try await device.put(member, parameters)
                return AlpacaEnvelope.response(value: nil, transaction: transaction)
            } catch let error as AlpacaError {
                return AlpacaEnvelope.response(value: nil, error: error, transaction: transaction)
            }
        default:
            throw AlpacaBadRequest("\(method.rawValue) is not an Alpaca method: '\(member)' answers \(access.get ? "GET" : "")\(access.get && access.put ? " and " : "")\(access.put ? "PUT" : "")")
        }
    }
}

extension AlpacaResponder {
    /// A PUT's form body, at most ``bodyLimit`` bytes.
    /// - Throws: ``AlpacaBadRequest`` 413 naming the limit, from `Content-Length` before reading
    ///   or while reading a chunked body.
    static func collectBody(_ request: Request) async throws(AlpacaBadRequest) -> ByteBuffer {
        let tooLarge = AlpacaBadRequest("the request body is over the limit of \(bodyLimit) bytes (an Alpaca PUT is a short form)",
                                        status: .contentTooLarge)
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > bodyLimit { throw tooLarge }
        do {
            return try await request.body.collect(upTo: bodyLimit)
        } catch {
            throw tooLarge
        }
    }
}

/// ServerTransactionID: a count of the requests answered, from 1.
final class ServerTransactionCounter: Sendable {
    private let counter = Atomic<UInt32>(0)
    func next() -> UInt32 { counter.wrappingAdd(1, ordering: .relaxed).newValue }
}
