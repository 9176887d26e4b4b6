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
/// Every reply is `{state: "ok"|"error", status: "processing"|"stopped", ...}` with psen's
/// request-specific field (`roi_background`, `roi_signal`, `statistics`). Unlike the original,
/// which answered 200 with state "error", failures carry a proper status code and a message
/// naming the field (an invalid ROI is 400, a processor that is down is 503).
package enum PsenRoutes {
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
                    return [key: reply.roi.map { JSONValue.array($0.map { .number(Double($0)) }) } ?? .null]
                }
            }
            group.post(RouterPath(stringLiteral: key)) { request, _ -> Response in
                await psen(gateway) {
                    let roi = try await roiBody(request, key: key, gateway: gateway)
                    let reply = try await gateway.processor(SetROICommand.self, .init(which: kind, roi: roi))
                    return [key: reply.roi.map { JSONValue.array($0.map { .number(Double($0)) }) } ?? .null]
                }
            }
        }
        group.get("statistics") { _, _ -> Response in
            await psen(gateway) {
                let statistics = try await gateway.processor(StatisticsCommand.self)
                return ["statistics": try JSONValue(encoding: statistics)]
            }
        }
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
            throw APIError.invalid(key, "\(key): must be a list [offset_x, size_x, offset_y, size_y], [] or null")
        }
        var values: [Int] = []
        for (index, element) in list.enumerated() {
            guard let number = JSONNumberFit.number(element), number.doubleValue == number.doubleValue.rounded(),
                  abs(number.doubleValue) < 1e9 else {
                throw APIError.invalid(key, "\(key)[\(index)]: must be an integer")
            }
            values.append(number.intValue)
        }
        return values
    }

    /// Runs a psen route: the processor's status is always included; an ``APIError`` becomes
    /// `{state: "error", status, message, error}` with its HTTP status.
    static func psen(_ gateway: Gateway, _ body: () async throws -> [String: JSONValue]) async -> Response {
        var reply: [String: JSONValue]
        var status: HTTPResponse.Status = .ok
        var headers: HTTPFields = [:]
        do {
            reply = try await body()
            let state = try await gateway.processor(ProcessorStatusCommand.self)
            reply["state"] = .string("ok")
            reply["status"] = .string(state.status)
        } catch {
            let error = APIError(any: error)
            let current = try? await gateway.processor(ProcessorStatusCommand.self, timeout: .milliseconds(500))
            reply = [
                "state": .string("error"),
                "status": .string(current?.status ?? "stopped"),
                "message": .string(error.message),
                "error": .object(["code": .string(error.code.rawValue), "message": .string(error.message),
                                  "field": error.field.map { .string($0) } ?? .null]),
            ]
            status = error.status
            if let retryAfter = error.retryAfter { headers[.retryAfter] = String(retryAfter) }
        }
        return JSONResponse.make(reply, status: status, headers: headers)
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
