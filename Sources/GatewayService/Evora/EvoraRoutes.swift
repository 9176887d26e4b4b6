import ApertureConfig
import Bus
import ApertureProtocol
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// evora-server's routes at their original paths with their original reply shapes, so the
/// evora web client and users' scripts work unchanged (REFERENCE.md, "evora-server").
///
/// Unlike evora, nothing here holds up other requests: `/capture` waits for its exposure
/// without blocking, so `/getTemperature` and `/abort` answer at once during a long exposure.
/// Failures keep evora's `{message, status: 2}` shape, add Aperture's `error` object, and use
/// a proper HTTP status (evora answered 200 to everything).
package enum EvoraRoutes {
    /// The SDK's status numbers evora reports.
    enum SDK {
        static let success = 20002
        static let temperatureOff = 20034
        static let temperatureNotStabilized = 20035
        static let temperatureStabilized = 20036
        static let temperatureNotReached = 20037
        static let temperatureDrift = 20040
        static let acquiring = 20072
        static let idle = 20073
        static let notInitialized = 20075
        /// evora's "no value": the temperature of a camera that is not initialised, and
        /// `/setTemperature`'s answer to a set-point out of range.
        static let noTemperature = -999.0
        static let outOfRange = -999
    }

    static func register(on router: Router<GatewayApplication.Context>, gateway: Gateway) {
        router.get("getStatus") { _, _ -> Response in
            do throws(APIError) {
                let report = try await gateway.cameraStatusReport()
                return JSONResponse.make(["status": status(of: report), "funcstatus": SDK.success])
            } catch {
                return JSONResponse.make(StatusFailure(status: SDK.notInitialized, funcstatus: SDK.notInitialized,
                                                       message: error.message, error: .init(error)),
                                         status: error.status, headers: error.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
            }
        }
        router.get("initialize") { request, _ -> Response in
            try await evora {
                try gateway.authorize(request)
                let report = try await gateway.camera(InitializeCommand.self, timeout: .seconds(60))
                // evora cooled to -10 C on start-up.
                _ = try? await gateway.camera(CoolCommand.self, .init(setpoint: -10, cooler: true))
                return JSONResponse.make(Initialized(dimensions: [report.info?.width ?? 0, report.info?.height ?? 0],
                                                     status: SDK.success))
            }
        }
        router.get("shutdown") { request, _ -> Response in
            try await evora {
                try gateway.authorize(request)
                _ = try await gateway.shutdownCamera()
                return JSONResponse.make(["status": SDK.success])
            }
        }
        router.get("getTemperature") { _, _ -> Response in
            do throws(APIError) {
                let reading = try await gateway.temperature()
                return JSONResponse.make(Temperature(temperature: reading.celsius, status: code(of: reading.state)))
            } catch {
                // evora answers a camera that is not initialised with `{status: 20075, temperature: -999}`;
                // its web client reads `temperature` whatever the HTTP status, so a number is always there.
                let off = error.code == .notConnected
                return JSONResponse.make(TemperatureUnknown(temperature: SDK.noTemperature, status: SDK.notInitialized,
                                                            message: error.message, error: off ? nil : .init(error)),
                                         status: off ? .ok : error.status,
                                         headers: error.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
            }
        }
        router.post("setTemperature") { request, _ -> Response in
            try await evora {
                try await setTemperature(request, gateway: gateway)
            }
        }
        router.post("capture") { request, _ -> Response in
            try await evora {
                try await capture(request, gateway: gateway)
            }
        }
        router.get("abort") { request, _ -> Response in
            try await evora {
                try gateway.authorize(request)
                let reply = try await gateway.camera(AbortCommand.self, timeout: .seconds(10))
                return JSONResponse.make(Abort(message: "Aborting exposure", aborted: reply.aborted))
            }
        }
        router.get("getFilterWheel") { _, _ -> Response in
            await filterWheel { try await gateway.camera(FilterCommand.self, .init()) }
        }
        router.post("setFilterWheel") { request, _ -> Response in
            await filterWheel {
                let fields = try await fields(of: request, gateway: gateway)
                guard let value = fields["filter"], !(value is NSNull) else {
                    throw APIError.invalid("filter", "filter: is required (a name such as V, or a slot number)")
                }
                if let name = value as? String {
                    if let slot = Int(name) { return try await gateway.camera(FilterCommand.self, .init(slot: slot)) }
                    return try await gateway.camera(FilterCommand.self, .init(name: name))
                }
                let slot = try number(value, name: "filter")
                guard slot == slot.rounded(), abs(slot) < 1_000_000 else { throw APIError.invalid("filter", "filter: a slot is a whole number such as 2") }
                return try await gateway.camera(FilterCommand.self, .init(slot: Int(slot)))
            }
        }
        router.get("homeFilterWheel") { request, _ -> Response in
            await filterWheel {
                try gateway.authorize(request)
                return try await gateway.camera(FilterCommand.self, .init(home: true), timeout: .seconds(60))
            }
        }
        EvoraAppRoutes.register(on: router, gateway: gateway)
    }

    // MARK: temperature

    /// `POST /setTemperature`: evora answers the set-point itself as a bare JSON number (the web
    /// client shows "Cooling to: N °C") and `-999` when it is outside the cooler's range (the
    /// client shows "Temperature out of range!"). Aperture answers the same bodies, the refusal
    /// with 400 and the rule in an `Aperture-Error` header; a value that is no whole number
    /// gets evora's JSON failure naming `temperature`.
    static func setTemperature(_ request: Request, gateway: Gateway) async throws(APIError) -> Response {
        let fields = try await fields(of: request, gateway: gateway)
        let setpoint = try number(fields["temperature"], name: "temperature")
        guard setpoint == setpoint.rounded() else {
            throw APIError.invalid("temperature", "temperature: the set-point is whole degrees Celsius (got \(setpoint))")
        }
        let range = try await gateway.cameraStatusReport().info.map { $0.minimumSetpoint...$0.maximumSetpoint }
        guard abs(setpoint) < 1000, let range, range.contains(Int(setpoint)) else {
            let rule = range.map { "\($0.lowerBound)...\($0.upperBound) C" } ?? "known once the camera is initialised"
            return Response(status: .badRequest,
                            headers: [.contentType: "application/json",
                                      apertureError: "temperature: \(setpoint) C is outside the cooler's range \(rule)"],
                            body: .init(byteBuffer: ByteBuffer(string: String(SDK.outOfRange))))
        }
        let status = try await gateway.camera(CoolCommand.self, .init(setpoint: Int(setpoint), cooler: true))
        return Response(status: .ok, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(string: String(status.setpoint))))
    }

    /// The header that says why a reply whose body is evora's bare number refused the request.
    static let apertureError = HTTPField.Name("Aperture-Error")!

    // MARK: capture

    /// `POST /capture`: takes the exposure and answers when it is done, as evora did.
    static func capture(_ request: Request, gateway: Gateway) async throws(APIError) -> Response {
        let fields = try await fields(of: request, gateway: gateway, twice: true)
        var plan = try captureRequest(fields)
        let warning = try await moveFilter(for: &plan, gateway: gateway)
        let record = try await gateway.camera(ExposeCommand.self, plan.request)
        let finished = try await waitUntilDone(record, gateway: gateway)
        switch finished.status {
        case .completed:
            if plan.realTime {
                return JSONResponse.make(Captured(filename: "latest", url: link(request, "v1/frames/latest.fits"),
                                                  message: "Capture Successful", status: 0, warning: warning))
            }
            guard let last = finished.files.last else {
                throw APIError(.internalServerError, .internal, "the exposure finished without a file")
            }
            let night = URL(fileURLWithPath: last.path).deletingLastPathComponent().lastPathComponent
            let name = URL(fileURLWithPath: last.path).lastPathComponent
            return JSONResponse.make(Captured(filename: name, url: link(request, "v1/files/\(night)/\(name)"),
                                              message: "Capture Successful", status: 0, warning: warning))
        case .aborted:
            return JSONResponse.make(Outcome(message: "Capture aborted", status: 1))
        case .failed, .running:
            let failure = finished.error
            let error = APIError(failure?.busError ?? BusError(.internal, "the exposure failed"), from: .camera)
            return JSONResponse.make(Failure(message: error.message, status: 2, error: .init(error)), status: error.status)
        }
    }

    /// Moves the wheel to `filtype` before a capture, as a user who picks a filter expects.
    ///
    /// evora only wrote `filtype` into FILTER, wherever the wheel was; Aperture moves the wheel and
    /// FILTER says where it actually was. When the wheel cannot move (unreachable, failing), the
    /// exposure is taken all the same, where the wheel is, with FILTER from the wheel's reading
    /// (left out when it cannot be read), and the reply says so in `warning`: one broken wheel
    /// does not stop every exposure. A name the wheel does not hold is refused (400, `filtype`),
    /// and a busy camera stays busy.
    /// - Returns: the warning for the reply, nil when the wheel is where it was asked to be.
    static func moveFilter(for plan: inout CapturePlan, gateway: Gateway) async throws(APIError) -> String? {
        guard let filter = plan.request.filter else { return nil }
        do {
            _ = try await gateway.camera(FilterCommand.self, .init(name: filter), timeout: .seconds(90))
            return nil
        } catch where error.code == .invalidArgument {
            throw APIError.invalid("filtype", "filtype: \(error.message)")
        } catch where error.code == .busy || error.status == .serviceUnavailable || error.code == .unauthorized {
            throw error
        } catch {
            plan.request.filter = nil
            gateway.logger.warning("capture: the filter wheel did not move to \(filter) (\(error.message)); exposing where it is")
            return "the filter wheel did not move to \(filter): \(error.message); the frame was taken where the wheel was, "
                + "and its FILTER header says where that is (no FILTER when the wheel could not be read)"
        }
    }

    /// What evora's `/capture` form asks for: the exposure request, and whether it is a Real Time frame (a preview, not saved).
    package struct CapturePlan {
        /// The request sent to the camera.
        package var request: ExposureRequest
        var realTime: Bool
    }

    /// Reads evora's capture fields: `exptime`, `exptype` (Single, Real Time, Series),
    /// `imgtype` (Bias, Dark, Flat, Object), `filtype`, `comment`, `expnum`. Numbers may come as
    /// strings, as the web client sends them.
    package static func captureRequest(_ fields: [String: Any]) throws(APIError) -> CapturePlan {
        let imageTypes: [String: ImageType] = ["bias": .bias, "dark": .dark, "flat": .flat, "object": .object]
        guard let imageName = fields["imgtype"] as? String else {
            throw APIError.invalid("imgtype", "imgtype: is required, one of Bias, Dark, Flat, Object")
        }
        guard let type = imageTypes[imageName.lowercased()] else {
            throw APIError.invalid("imgtype", "imgtype: '\(imageName)' is not one of Bias, Dark, Flat, Object")
        }
        let exposureType = (fields["exptype"] as? String) ?? "Single"
        let time: Double
        if type == .bias, fields["exptime"] == nil || (fields["exptime"] as? String)?.isEmpty == true {
            time = 0
        } else {
            time = try number(fields["exptime"], name: "exptime")
        }
        var request = ExposureRequest(type: type, time: type == .bias ? 0 : time)
        if let filter = fields["filtype"] as? String, !filter.isEmpty { request.filter = filter }
        if let comment = fields["comment"] as? String, !comment.isEmpty { request.comment = comment }
        switch exposureType.lowercased() {
        case "single":
            request.mode = .single
            return CapturePlan(request: request, realTime: false)
        case "real time", "realtime", "real_time":
            request.mode = .preview
            request.count = 1
            if fields["exptime"] == nil { request.time = 1 }
            return CapturePlan(request: request, realTime: true)
        case "series":
            let count = try number(fields["expnum"], name: "expnum")
            guard count == count.rounded(), count >= 1, count <= Double(ExposureRequest.maximumCount) else {
                throw APIError.invalid("expnum", "expnum: must be a whole number from 1 to \(ExposureRequest.maximumCount) (got \(count))")
            }
            request.mode = .series
            request.count = Int(count)
            return CapturePlan(request: request, realTime: false)
        default:
            throw APIError.invalid("exptype", "exptype: '\(exposureType)' is not one of Single, Real Time, Series")
        }
    }

    /// Waits for the exposure to end without holding anything: woken by the camera's
    /// `camera.exposure` event; the camera is asked once at the start (the exposure may be over
    /// already) and again only when no event came for a while (events are lossy, and the camera
    /// may restart meanwhile). Every other request is served during the wait.
    static func waitUntilDone(_ record: ExposureRecord, gateway: Gateway) async throws(APIError) -> ExposureRecord {
        let waiter = gateway.events.exposures.register(record.id)
        defer { waiter.cancel() }
        var current = record
        var failures = 0
        while current.status == .running {
            do {
                current = try await gateway.camera(ExposureQueryCommand.self, .init(id: record.id))
                failures = 0
            } catch where error.status == .serviceUnavailable {
                // The camera may be restarting; give it a while before giving up.
                failures += 1
                if failures > 30 { throw error }
            }
            guard current.status == .running else { break }
            if let finished = await waiter.finished(within: failures > 0 ? .seconds(1) : .seconds(5)) {
                current = finished
            }
            if Task.isCancelled { throw APIError(.serviceUnavailable, .cancelled, "the request was cancelled") }
        }
        return current
    }

    // MARK: helpers

    /// Runs a route body; an ``APIError`` becomes evora's failure shape with its HTTP status.
    static func evora(_ body: () async throws -> Response) async throws -> Response {
        do {
            return try await body()
        } catch {
            let error = APIError(any: error)
            var headers: HTTPFields = [:]
            if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
            return JSONResponse.make(Failure(message: error.message, status: 2, error: .init(error)),
                                     status: error.status, headers: headers)
        }
    }

    /// Filter wheel routes reply `{success, filter?, message?, error}`.
    static func filterWheel(_ body: () async throws -> FilterStatus) async -> Response {
        do {
            let status = try await body()
            return JSONResponse.make(FilterReply(success: true, filter: status.name, slot: status.slot,
                                                 message: "Filter wheel at \(status.name) (slot \(status.slot))", error: nil))
        } catch {
            let error = APIError(any: error)
            return JSONResponse.make(FilterReply(success: false, filter: nil, slot: nil, message: error.message,
                                                 error: error.message), status: error.status,
                                     headers: error.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
        }
    }

    /// The body's fields: a JSON object, a JSON string holding one (when `twice`), or a form.
    package static func fields(of request: Request, gateway: Gateway, twice: Bool = false) async throws(APIError) -> [String: Any] {
        var buffer = try await RequestBody.collect(request, limit: gateway.configuration.gateway.maxBody)
        let data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        if data.isEmpty { return [:] }
        var parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            // A form, as HTML forms and `curl -d a=b` send; JSON is tried first because
            // scripts often send JSON under the form content type.
            if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
                return form(data)
            }
            throw APIError.invalid(nil, "the body is not valid JSON")
        }
        if twice, let inner = parsed as? String {
            guard let object = try? JSONSerialization.jsonObject(with: Data(inner.utf8), options: []) else {
                throw APIError.invalid(nil, "the body is a JSON string that does not hold a JSON object")
            }
            parsed = object
        }
        guard let object = parsed as? [String: Any] else {
            throw APIError.invalid(nil, "the body must be a JSON object")
        }
        return object
    }

    /// `a=1&b=two` as fields (a repeated key keeps its last value).
    package static func form(_ data: Data) -> [String: Any] {
        Dictionary(RequestBody.formPairs(String(decoding: data, as: UTF8.self)).map { ($0.key, $0.value as Any) },
                   uniquingKeysWith: { $1 })
    }

    /// A number given as a JSON number or a numeric string.
    package static func number(_ value: Any?, name: String) throws(APIError) -> Double {
        let parsed: Double?
        switch value {
        case nil, is NSNull:
            throw APIError.invalid(name, "\(name): is required (a number)")
        case let text as String:
            parsed = Double(text.trimmingCharacters(in: .whitespaces))
        default:
            parsed = JSONNumberFit.number(value)?.doubleValue  // nil for JSON true: not a number
        }
        guard let parsed, parsed.isFinite else {
            throw APIError.invalid(name, "\(name): must be a number (got \(describe(value)))")
        }
        return parsed
    }

    private static func describe(_ value: Any?) -> String {
        if let number = JSONNumberFit.number(value) { return number.stringValue }
        switch value {
        case let text as String: return "'\(text.prefix(40))'"
        case let flag as Bool: return "\(flag)"
        default: return "\(type(of: value as Any))"
        }
    }

    /// An absolute URL to a gateway path, honouring nginx's `X-Forwarded-Prefix` (`/api`).
    static func link(_ request: Request, _ path: String) -> String {
        let host = request.head.authority ?? "localhost"
        let scheme = request.headers[HTTPField.Name("X-Forwarded-Proto")!] ?? "http"
        var prefix = request.headers[HTTPField.Name("X-Forwarded-Prefix")!] ?? ""
        if prefix.hasSuffix("/") { prefix.removeLast() }
        return "\(scheme)://\(host)\(prefix)/\(path)"
    }

    static func status(of report: CameraStatusReport) -> Int {
        guard report.connected else { return SDK.notInitialized }
        switch report.state {
        case .exposing, .reading, .saving, .aborting: return SDK.acquiring
        case .idle: return SDK.idle
        case .error: return SDK.notInitialized
        }
    }

    static func code(of state: TemperatureState) -> Int {
        switch state {
        case .off: return SDK.temperatureOff
        case .notReached: return SDK.temperatureNotReached
        case .notStabilized: return SDK.temperatureNotStabilized
        case .stabilized: return SDK.temperatureStabilized
        case .drifted: return SDK.temperatureDrift
        }
    }

    // MARK: replies

    struct StatusFailure: Encodable {
        var status: Int
        var funcstatus: Int
        var message: String
        var error: Failure.Detail
    }
    struct Initialized: Encodable { var dimensions: [Int]; var status: Int }
    struct Temperature: Encodable { var temperature: Double; var status: Int }
    struct TemperatureUnknown: Encodable {
        var temperature: Double
        var status: Int
        var message: String
        var error: Failure.Detail?
    }
    struct Captured: Encodable {
        var filename: String
        var url: String
        var message: String
        var status: Int
        /// Why the frame was not taken in the filter asked for (the wheel did not move); absent otherwise.
        var warning: String?
    }
    struct Outcome: Encodable { var message: String; var status: Int }
    struct Abort: Encodable { var message: String; var aborted: Bool }
    struct FilterReply: Encodable {
        var success: Bool
        var filter: String?
        var slot: Int?
        var message: String?
        var error: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(success, forKey: .success)
            try container.encodeIfPresent(filter, forKey: .filter)
            try container.encodeIfPresent(slot, forKey: .slot)
            try container.encodeIfPresent(message, forKey: .message)
            try container.encode(error, forKey: .error)  // evora always sends `error` (null on success)
        }
        enum CodingKeys: String, CodingKey { case success, filter, slot, message, error }
    }
    struct Failure: Encodable {
        struct Detail: Encodable {
            var code: ErrorCode
            var message: String
            var field: String?
            init(_ error: APIError) {
                code = error.code
                message = error.message
                field = error.field
            }
        }
        var message: String
        var status: Int
        var error: Detail
    }
}
