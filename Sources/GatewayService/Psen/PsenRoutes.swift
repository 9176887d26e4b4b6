import ApertureConfig
import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ApertureProtocol

/// psen_processing's REST API under `/psen/`, backed by the processor, so that
/// `PsenProcessingClient(address="http://host:8000/psen/")` works unchanged.
///
/// What the client reads (psen_processing `rest_api/client.py`), and so what every reply holds:
/// - `state`: `"ok"`, else the client raises `ValueError(reply["status"])` (its
///   `validate_response`); so an error's `status` is the error's text, as psen's own 500 handler
///   answered (`{"state": "error", "status": str(exception)}`).
/// - `status`: `processing` or `stopped` on success (start, stop, status).
/// - `roi_signal`, `roi_background`: the ROI in force as `[offset_x, size_x, offset_y, size_y]`,
///   `[]` when none (psen's manager keeps a list and clears it).
/// - `statistics`: `{}` until processing first started; then psen's four keys
///   (`processing_start_time` and `last_sent_time` as Python's `str(datetime.now())`,
///   `last_sent_pulse_id` the 0-based frame number in the camera's ring, `n_processed_images`
///   counted from the last start) beside Aperture's own.
///
/// Unlike the original, which answered 200 with state "error", failures carry a proper status
/// code (an invalid ROI is 400, a processor that is down is 503) and Aperture's `error` object
/// (`code`, `message`, `field`). Errors raised before a route runs (404, 405, 401, 403, 413) get
/// the same envelope (``APIError``'s `response(from:context:)`).
package enum PsenRoutes {
    /// The routes' prefix, without its slash.
    static let prefix = "psen"

    static func register(on group: RouterGroup<GatewayApplication.Context>, gateway: Gateway) {
        group.post("start") { _, _ -> Response in
            await psen(gateway) {
                _ = try await gateway.processor(ProcessorStartCommand.self)
                return [:]
            }
        }
        group.post("stop") { _, _ -> Response in
            await psen(gateway) {
                _ = try await gateway.processor(ProcessorStopCommand.self)
                return [:]
            }
        }
        group.get("status") { _, _ -> Response in
            await psen(gateway) { [:] }
        }
        for kind in [ROIKind.background, .signal] {
            let key = "roi_\(kind.rawValue)"
            group.get(RouterPath(stringLiteral: key)) { _, _ -> Response in
                await psen(gateway) {
                    let reply = try await gateway.processor(GetROICommand.self, .init(which: kind))
                    return [key: roiList(reply.roi)]
                }
            }
            group.post(RouterPath(stringLiteral: key)) { request, _ -> Response in
                await psen(gateway) {
                    let roi = try await roiBody(request, key: key, gateway: gateway)
                    let reply = try await gateway.processor(SetROICommand.self, .init(which: kind, roi: roi),
                                                           timeout: Gateway.roiTimeout)
                    return [key: roiList(reply.roi)]
                }
            }
        }
        group.get("statistics") { _, _ -> Response in
            await psen(gateway) {
                let statistics = try await gateway.processor(StatisticsCommand.self)
                return ["statistics": try psenStatistics(statistics)]
            }
        }
    }

    /// psen's routes and their methods (the router answers 404 for a known path with another
    /// method; ``methodNotAllowed(_:_:)`` turns that into 405 with `Allow`).
    static let methods: [String: [HTTPRequest.Method]] = [
        "start": [.post], "stop": [.post], "status": [.get], "statistics": [.get],
        "roi_signal": [.get, .post], "roi_background": [.get, .post],
    ]

    /// 405 `method_not_allowed` with `Allow` for a psen route asked with another method; nil
    /// for any other path.
    static func methodNotAllowed(_ method: HTTPRequest.Method, _ path: String) -> APIError? {
        guard isPsen(path) else { return nil }
        let name = path.dropFirst(prefix.count + 2).trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard let allowed = methods[name], !allowed.contains(method) else { return nil }
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        var error = APIError(.methodNotAllowed, .methodNotAllowed, "\(method) is not allowed on \(path): use \(list)")
        error.allow = list
        return error
    }

    /// Whether a request path is psen's (`/psen` or under `/psen/`), whose errors take psen's envelope.
    package static func isPsen(_ path: String) -> Bool {
        path == "/" + prefix || path.hasPrefix("/" + prefix + "/")
    }

    /// An ROI as psen's manager holds it: the list, or `[]` when none is set.
    static func roiList(_ roi: [Int]?) -> JSONValue {
        .array((roi ?? []).map { .number(Double($0)) })
    }

    /// psen's statistics: `{}` before processing first started (psen's manager starts with an
    /// empty dict), else its four keys with their types, beside Aperture's own counters.
    static func psenStatistics(_ statistics: ProcessorStatistics) throws(APIError) -> JSONValue {
        guard let start = statistics.processingStartTime else { return .object([:]) }
        guard case .object(var figures) = try JSONValue(encoding: statistics) else { return .object([:]) }
        // The envelope's members, repeated inside by the processor's reply, are not statistics.
        figures["state"] = nil
        figures["status"] = nil
        let run = statistics.runFramesProcessed ?? 0
        figures["processing_start_time"] = .string(pythonDateTime(start))
        figures["n_processed_images"] = .number(Double(run))
        if run > 0, let sequence = statistics.lastSequence, sequence >= 1, let time = statistics.lastProcessedTime {
            figures["last_sent_pulse_id"] = .number(Double(sequence - 1))
            figures["last_sent_time"] = .string(pythonDateTime(time))
        } else {
            figures["last_sent_pulse_id"] = JSONValue.null
            figures["last_sent_time"] = JSONValue.null
        }
        return .object(figures)
    }

    /// A Unix time as Python's `str(datetime.datetime.fromtimestamp(t))` writes it, in local
    /// time: `2026-12-06 04:31:07.250113` (no fraction when the microseconds are 0).
    static func pythonDateTime(_ unix: Double) -> String {
        guard unix.isFinite, abs(unix) < 1e11 else { return String(unix) }
        var seconds = time_t(unix.rounded(.down))
        var micro = Int(((unix - unix.rounded(.down)) * 1_000_000).rounded())
        if micro >= 1_000_000 { seconds += 1; micro -= 1_000_000 }
        var parts = tm()
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let date = "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
        let time = "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))"
        guard micro > 0 else { return "\(date) \(time)" }
        let fraction = String(micro)
        return "\(date) \(time).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }

    /// The body of a ROI POST: the bare JSON list, `[]` or `null` (psen's client sends
    /// `json=roi`). Any other shape is a 400 naming the rule.
    package static func roiBody(_ request: Request, key: String, gateway: Gateway) async throws(APIError) -> [Int]? {
        var buffer = try await RequestBody.collect(request, limit: gateway.configuration.gateway.maxBody)
        let data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        guard let parsed = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            throw APIError.invalid(key, "\(key): the body is not JSON; send [offset_x, size_x, offset_y, size_y], [] or null")
        }
        if parsed is NSNull { return nil }
        guard let list = parsed as? [Any] else {
            throw APIError.invalid(key, "\(key): ROI must be a list [offset_x, size_x, offset_y, size_y], [] or null")
        }
        var values: [Int] = []
        for (index, element) in list.enumerated() {
            guard let number = JSONNumberFit.number(element), number.doubleValue == number.doubleValue.rounded(),
                  abs(number.doubleValue) < 1e9 else {
                throw APIError.invalid(key, "\(key)[\(index)]: must be an integer from -999999999 to 999999999, got \(element)")
            }
            values.append(number.intValue)
        }
        return values
    }

    /// Runs a psen route: on success the processor's status is added as `status` with `state`
    /// "ok"; an error becomes psen's envelope (``errorResponse(_:)``).
    static func psen(_ gateway: Gateway, _ body: () async throws -> [String: JSONValue]) async -> Response {
        do {
            var reply = try await body()
            let state = try await gateway.processor(ProcessorStatusCommand.self)
            reply["state"] = .string("ok")
            reply["status"] = .string(state.status)
            return JSONResponse.make(reply)
        } catch {
            return errorResponse(APIError(any: error))
        }
    }

    /// psen's error envelope with the proper HTTP status: `{"state": "error", "status":
    /// <message>, "error": {"code", "message", "field"}}`. The client raises
    /// `ValueError(status)`, so `status` is the message naming the field, value and rule.
    package static func errorResponse(_ error: APIError) -> Response {
        let reply: [String: JSONValue] = [
            "state": .string("error"),
            "status": .string(error.message),
            "error": .object(["code": .string(error.code.rawValue), "message": .string(error.message),
                              "field": error.field.map { .string($0) } ?? .null]),
        ]
        return JSONResponse.make(reply, status: error.status, headers: error.headers)
    }
}

/// Any JSON value, for replies assembled from parts.
enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Converts an `Encodable` value.
    init<T: Encodable>(encoding value: T) throws(APIError) {
        do {
            let data = try JSONResponse.encoder.encode(value)
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw APIError(.internalServerError, .internal, "cannot encode \(T.self): \(error)")
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            if value == value.rounded(), abs(value) < 1e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }
}
