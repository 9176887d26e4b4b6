import ApertureConfig
import ApertureProtocol
import Bus
import CameraCore
import FrameAnalysis
import FuzzSupport
import Foundation
import GatewayService
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ProcessorService

/// Fuzzes the HTTP body decoders of the gateway's acting routes: the first byte picks the route
/// (and whether the body is sent as a form), the rest is the body. Each case reads the body the
/// way its route does (`RequestBody.decode`, evora's `fields`, psen's `roiBody`, the form
/// parser), then runs the checks the route and the child process apply (``ValidationChain``).
/// An error reply is a pass; a crash is a finding.
enum HTTPBodyFuzz: FuzzTarget {
    static let name = "aperture-fuzz-http-body"

    /// A gateway whose children are absent: only its configuration (`gateway.max_body`) is used.
    static let gateway: Gateway = {
        let path = NSTemporaryDirectory() + "aperture-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // Nothing is ever created in it (no child listens): it need not outlive the gateway's start.
        defer { try? FileManager.default.removeItem(atPath: path) }
        let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        return try! Gateway(configuration: ApertureConfiguration(), runtime: RuntimeDirectory(existing: path), logger: logger)
    }()

    static var limit: Int { gateway.configuration.gateway.maxBody }

    /// The routes, in the order the first byte selects them.
    enum Route: Int, CaseIterable {
        case v1Exposures, v1Cooling, v1FilterWheel, v1ProcessorConfiguration
        case evoraCapture, evoraSetTemperature, evoraSetFilterWheel, psenROI, form
    }

    static func run(_ data: Data) {
        guard let selector = data.first else { return }
        let route = Route(rawValue: Int(selector) % Route.allCases.count)!
        let asForm = (Int(selector) / Route.allCases.count) % 2 == 1
        let body = Data(data.dropFirst())
        var head = HTTPRequest(method: .post, scheme: "http", authority: "localhost", path: "/fuzz")
        head.headerFields[.contentType] = asForm ? "application/x-www-form-urlencoded" : "application/json"
        let request = Request(head: head, body: .init(buffer: ByteBuffer(bytes: body)))
        runBlocking {
            do {
                try await check(route, request, body)
            } catch {
                _ = "\(error)"  // an error reply: describing it must not crash either
            }
        }
    }

    static func check(_ route: Route, _ request: Request, _ body: Data) async throws {
        switch route {
        case .v1Exposures:
            let exposure = try await GatewayService.RequestBody.decode(ExposureRequest.self, from: request, limit: limit)
            _ = try ValidationChain.expose(exposure)
        case .v1Cooling:
            let arguments = try await GatewayService.RequestBody.decode(CoolCommand.Arguments.self, from: request, limit: limit)
            try ValidationChain.cool(setpoint: arguments.setpoint, cooler: arguments.cooler)
        case .v1FilterWheel:
            let arguments = try await GatewayService.RequestBody.decode(V1Routes.FilterMove.self, from: request, limit: limit)
            guard (arguments.name == nil) != (arguments.slot == nil) else { return }
            _ = try ValidationChain.filter(name: arguments.name, slot: arguments.slot)
        case .v1ProcessorConfiguration:
            let configuration = try await GatewayService.RequestBody.decode(AnalysisConfiguration.self, from: request, limit: limit)
            try ValidationChain.configure(configuration)
        case .evoraCapture:
            let fields = try await EvoraRoutes.fields(of: request, gateway: gateway, twice: true)
            _ = try ValidationChain.expose(try EvoraRoutes.captureRequest(fields).request)
        case .evoraSetTemperature:
            // As the route: a whole number of degrees below 1000 in magnitude, then the cooler's range.
            let fields = try await EvoraRoutes.fields(of: request, gateway: gateway)
            let setpoint = try EvoraRoutes.number(fields["temperature"], name: "temperature")
            guard setpoint == setpoint.rounded(), abs(setpoint) < 1000 else { return }
            try ValidationChain.cool(setpoint: Int(setpoint), cooler: true)
        case .evoraSetFilterWheel:
            // As the route: a name, a numeric string (a slot), or a whole number below 10^6.
            let fields = try await EvoraRoutes.fields(of: request, gateway: gateway)
            guard let value = fields["filter"], !(value is NSNull) else { return }
            if let name = value as? String {
                _ = try ValidationChain.filter(name: Int(name) == nil ? name : nil, slot: Int(name))
                return
            }
            let slot = try EvoraRoutes.number(value, name: "filter")
            guard slot == slot.rounded(), abs(slot) < 1_000_000 else { return }
            _ = try ValidationChain.filter(name: nil, slot: Int(slot))
        case .psenROI:
            let roi = try await PsenRoutes.roiBody(request, key: "roi_signal", gateway: gateway)
            try ValidationChain.setROI(.signal, roi)
        case .form:
            let text = String(decoding: body, as: UTF8.self)
            for pair in GatewayService.RequestBody.formPairs(text) { _ = pair.key.count + pair.value.count }
            _ = EvoraRoutes.form(body)
        }
    }
}

@main extension HTTPBodyFuzz {}
