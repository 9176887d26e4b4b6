import ApertureConfig
import Bus
import ApertureProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Aperture's own versioned JSON API under `/v1/` (described by `/v1/openapi.json`).
package enum V1Routes {
    typealias Group = RouterGroup<GatewayApplication.Context>

    static func register(on group: Group, gateway: Gateway) {
        let routes = RouteTable(group: group, prefix: "/v1")
        registerCamera(routes, gateway: gateway)
        registerExposures(routes, gateway: gateway)
        registerProcessor(routes, gateway: gateway)
        registerFrames(routes, gateway: gateway)
        FileRoutes.register(routes, gateway: gateway)
        V1FocusRoutes.register(routes, gateway: gateway)
        SolvingRoutes.register(routes, gateway: gateway)
        CatalogRoutes.register(routes, gateway: gateway)
        PlanRoutes.register(routes, gateway: gateway)
        CalibrationRoutes.register(routes, gateway: gateway)
        ExportRoutes.register(routes, gateway: gateway)
        routes.get("supervisor") { _, _ in
            JSONResponse.make(try await gateway.supervisor(SupervisorStatusCommand.self))
        }
        routes.post("supervisor/children/{name}/restart") { _, context in
            let name = try context.parameters.require("name")
            guard ["camera", "processor", "catalog", "gateway"].contains(name) else {
                throw APIError.notFound("no child '\(name)'; the children are camera, processor, catalog, gateway")
            }
            return JSONResponse.make(try await gateway.supervisorRestart(name))
        }
        routes.get("weather") { _, _ in
            // No source is a state, not an error: the dashboard asks at every load.
            guard gateway.configuration.weather.source != .none else { return JSONResponse.make(V1Weather.unconfigured) }
            return JSONResponse.make(V1Weather(try await gateway.weather.reading()))
        }
        routes.get("events") { request, context in
            try await EventsEndpoint.respond(request, channel: context.channel, gateway: gateway)
        }
        PreviewEndpoint.register(on: group, gateway: gateway)
        routes.get("openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
    }

    // MARK: camera

    static func registerCamera(_ routes: RouteTable, gateway: Gateway) {
        routes.get("camera") { _, _ in
            let entry = try await gateway.cameraStatusEntry()
            return Response(status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                            body: .init(byteBuffer: entry.json))
        }
        routes.get("camera/temperature") { _, _ in
            JSONResponse.make(try await gateway.temperature())
        }
        routes.get("camera/temperature/history") { request, _ in
            var seconds = 3600.0
            if let text = request.uri.queryParameters.get("seconds") {
                guard let value = Double(text), value > 0, value <= 3600 else {
                    throw APIError.invalid("seconds", "seconds: must be a number from 1 to 3600 (got '\(text)')")
                }
                seconds = value
            }
            return JSONResponse.make(["samples": gateway.temperatures.samples(last: seconds)])
        }
        routes.post("camera/cooling") { request, _ in
            let arguments = try await RequestBody.decode(CoolCommand.Arguments.self, from: request,
                                                         limit: gateway.configuration.gateway.maxBody)
            guard arguments.setpoint != nil || arguments.cooler != nil else {
                throw APIError.invalid("setpoint", "setpoint or cooler: give a set-point in whole degrees C, or cooler true/false")
            }
            return JSONResponse.make(try await gateway.camera(CoolCommand.self, arguments))
        }
        routes.post("camera/initialize") { _, _ in
            JSONResponse.make(try await gateway.camera(InitializeCommand.self, timeout: .seconds(60)))
        }
        routes.post("camera/shutdown") { _, _ in
            JSONResponse.make(try await gateway.shutdownCamera())
        }
        routes.get("filterwheel") { _, _ in
            JSONResponse.make(try await gateway.camera(FilterCommand.self, .init()))
        }
        routes.post("filterwheel") { request, _ in
            let arguments = try await RequestBody.decode(FilterMove.self, from: request, limit: gateway.configuration.gateway.maxBody)
            guard (arguments.name == nil) != (arguments.slot == nil) else {
                throw APIError.invalid("name", "name or slot: give exactly one (a filter name such as V, or a slot number)")
            }
            return JSONResponse.make(try await gateway.camera(FilterCommand.self, .init(name: arguments.name, slot: arguments.slot),
                                                              timeout: .seconds(60)))
        }
        routes.post("filterwheel/home") { _, _ in
            JSONResponse.make(try await gateway.camera(FilterCommand.self, .init(home: true), timeout: .seconds(60)))
        }
    }

    /// The body of `PUT /v1/camera/filter`: a filter by name or by slot (one of the two).
    package struct FilterMove: Decodable {
        /// The filter's name, in any case.
        package var name: String?
        /// The wheel's slot, from 0.
        package var slot: Int?
    }

    // MARK: exposures

    static func registerExposures(_ routes: RouteTable, gateway: Gateway) {
        routes.get("exposures") { _, _ in
            JSONResponse.make(try await gateway.camera(ExposureListCommand.self))
        }
        routes.post("exposures") { request, _ in
            let exposure = try await RequestBody.decode(ExposureRequest.self, from: request,
                                                        limit: gateway.configuration.gateway.maxBody)
            if exposure.plan != nil {
                throw APIError.invalid("plan", "plan: is set by the sequencer for a plan's frames; submit a plan to /v1/plans")
            }
            let record = try await gateway.camera(ExposeCommand.self, exposure)
            return JSONResponse.make(record, status: .accepted, headers: [.location: "exposures/\(record.id)"])
        }
        routes.post("exposures/abort") { _, _ in
            JSONResponse.make(try await gateway.camera(AbortCommand.self, timeout: .seconds(10)))
        }
        routes.get("exposures/{id}") { _, context in
            let id = try context.parameters.require("id")
            let record = try await gateway.camera(ExposureQueryCommand.self, .init(id: id))
            // The processor's summaries of this exposure's frames, when it is up.
            let results = try? await gateway.processor(ResultsCommand.self, .init(count: 1000, exposureId: id),
                                                        timeout: .seconds(1))
            return JSONResponse.make(ExposureDetail(record: record, statistics: results?.results.map(\.summary)))
        }
    }

    /// An exposure's record with the processor's statistics of its frames.
    struct ExposureDetail: Encodable {
        var record: ExposureRecord
        var statistics: [ProcessorResult]?

        func encode(to encoder: any Encoder) throws {
            try record.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(statistics, forKey: Key(stringValue: "statistics")!)
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    // MARK: processor

    static func registerProcessor(_ routes: RouteTable, gateway: Gateway) {
        routes.get("processor") { _, _ in
            JSONResponse.make(try await gateway.processor(StatisticsCommand.self))
        }
        routes.post("processor/start") { _, _ in
            JSONResponse.make(try await gateway.processor(ProcessorStartCommand.self))
        }
        routes.post("processor/stop") { _, _ in
            JSONResponse.make(try await gateway.processor(ProcessorStopCommand.self))
        }
        routes.get("processor/configuration") { _, _ in
            JSONResponse.make(try await gateway.processor(ConfigurationCommand.self))
        }
        routes.put("processor/configuration") { request, _ in
            let body = try await RequestBody.decode(ConfigureCommand.Arguments.self, from: request,
                                                    limit: gateway.configuration.gateway.maxBody)
            return JSONResponse.make(try await gateway.processor(ConfigureCommand.self, body, timeout: Gateway.roiTimeout))
        }
        routes.get("processor/results") { request, _ in
            let query = request.uri.queryParameters
            var count = 1
            if let text = query.get("count") {
                guard let value = Int(text), (1...1000).contains(value) else {
                    throw APIError.invalid("count", "count: must be a whole number from 1 to 1000 (got '\(text)')")
                }
                count = value
            }
            let full = try flag(query.get("full"), name: "full")
            let exposure = query.get("exposure_id")
            let reply = try await gateway.processor(ResultsCommand.self, .init(count: count, exposureId: exposure))
            return JSONResponse.make(["results": full ? reply.results : reply.results.map(\.summary)])
        }
        routes.get("processor/focus") { request, _ in
            let query = request.uri.queryParameters
            let ids = query.get("exposure_ids").map { $0.split(separator: ",").map(String.init) }
            let metric = query.get("metric")
            return JSONResponse.make(try await gateway.processor(FocusFitCommand.self, .init(exposureIds: ids, metric: metric)))
        }
    }

    static func flag(_ text: String?, name: String) throws(APIError) -> Bool {
        switch text {
        case nil, "false", "0": return false
        case "true", "1", "": return true
        default: throw APIError.invalid(name, "\(name): must be true or false (got '\(text!)')")
        }
    }

    // MARK: frames

    static func registerFrames(_ routes: RouteTable, gateway: Gateway) {
        routes.get("frames/latest") { request, _ in
            var pixels: [UInt16] = []
            let entry = try gateway.frames.latest(into: &pixels)
            switch request.uri.queryParameters.get("format") {
            case "json":
                return JSONResponse.make(LatestFrameHeader(metadata: entry.metadata, location: entry.location))
            case nil, "raw":
                return rawFrame(entry, pixels: pixels)
            case let other?:
                throw APIError.invalid("format", "format: must be raw or json (got '\(other)')")
            }
        }
        routes.get("frames/latest.fits") { _, _ in
            var pixels: [UInt16] = []
            let entry = try gateway.frames.latest(into: &pixels)
            let configuration = gateway.configuration
            let bytes = try MemoryFITS.make(entry.metadata, pixels: pixels, instrument: configuration.camera.instrument,
                                            site: configuration.site.name, camera: configuration.camera.name)
            var headers: HTTPFields = [.contentType: "application/fits", .cacheControl: "no-store"]
            headers[.contentDisposition] = "attachment; filename=\"latest-\(entry.metadata.exposureId)-\(entry.metadata.frameNumber).fits\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// The pixels as little-endian UInt16 with the frame's header in `X-Frame-*` headers.
    static func rawFrame(_ entry: FrameRingEntry, pixels: [UInt16]) -> Response {
        let metadata = entry.metadata
        var headers: HTTPFields = [.contentType: "application/octet-stream", .cacheControl: "no-store"]
        let fields: [(String, String)] = [
            ("X-Exposure-Id", metadata.exposureId),
            ("X-Frame-Number", String(metadata.frameNumber)),
            ("X-Frame-Sequence", String(entry.location.sequence)),
            ("X-Frame-Width", String(metadata.width)),
            ("X-Frame-Height", String(metadata.height)),
            ("X-Frame-Pixel-Type", "uint16-le"),
            ("X-Frame-Row-Order", metadata.rowOrder.rawValue),
            ("X-Frame-Exposure-Start", String(metadata.exposureStart)),
            ("X-Frame-Readout-Time", String(metadata.readoutTime)),
        ]
        for (name, value) in fields {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let body = pixels.withUnsafeBytes { ByteBuffer(bytes: $0) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }
}

/// The JSON form of `GET /v1/frames/latest?format=json`.
struct LatestFrameHeader: Encodable {
    var metadata: FrameMetadata
    var location: FrameLocation
}

extension Gateway {
    /// `restart CHILD` on supervisor.ctl.
    func supervisorRestart(_ name: String) async throws(APIError) -> Acknowledgement {
        do {
            return try await supervisor.call(SupervisorRestartCommand.self, .init(child: name), timeout: .seconds(10))
        } catch {
            throw APIError(error, from: .supervisor)
        }
    }
}

/// Registers `/v1` routes written with OpenAPI's `{name}` path parameters.
final class RouteTable: Sendable {
    let group: V1Routes.Group
    let prefix: String

    init(group: V1Routes.Group, prefix: String) {
        self.group = group
        self.prefix = prefix
    }

    typealias Handler = @Sendable (Request, GatewayApplication.Context) async throws -> Response

    func get(_ path: String, _ handler: @escaping Handler) { add(.get, path, handler) }
    func post(_ path: String, _ handler: @escaping Handler) { add(.post, path, handler) }
    func put(_ path: String, _ handler: @escaping Handler) { add(.put, path, handler) }
    func delete(_ path: String, _ handler: @escaping Handler) { add(.delete, path, handler) }

    private func add(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        let routerPath = RouterPath(stringLiteral: path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: ""))
        group.on(routerPath, method: method) { request, context in
            try await handler(request, context)
        }
    }
}

/// `GET /v1/weather`: the latest weather reading, or `source: none` without a source.
struct V1Weather: Encodable {
    /// `alpaca`, `http`, or `none`.
    var source: String
    /// When the source was read (ISO 8601, UTC); absent for `none`.
    var time: String?
    /// Seconds since then; absent for `none`.
    var ageSeconds: Double?
    /// Each quantity the source gave, in the unit its name says.
    var values: [String: Double]
    /// Why there is no reading (`none`).
    var message: String?

    init(_ reading: WeatherReading) {
        source = reading.source
        time = ISO8601DateFormatter().string(from: reading.time)
        ageSeconds = max(0, Date().timeIntervalSince(reading.time))
        values = reading.values
    }

    private init(source: String, message: String) {
        self.source = source
        self.message = message
        values = [:]
    }

    /// The answer without a weather source.
    static let unconfigured = V1Weather(source: "none", message: "no weather source is configured (weather.source)")

    enum CodingKeys: String, CodingKey {
        case source, time, values, message
        case ageSeconds = "age_seconds"
    }
}
