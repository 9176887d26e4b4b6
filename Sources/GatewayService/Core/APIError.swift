import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An HTTP API error: a status, a stable machine-readable code, and a message that names the
/// field or path at fault. Every route of the gateway answers errors as
/// `{"error": {"code": ..., "message": ..., "field": ...}}` (Aperture's own API and the
/// compatibility routes alike, except where the original API fixed another shape).
public struct APIError: Error, Sendable, Hashable {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The stable code (`invalid_argument`, `busy`, `camera_unavailable`...).
    public var code: String
    /// What was wrong, for humans, naming the field.
    public var message: String
    /// The request field at fault, when one is.
    public var field: String?
    /// Seconds a client should wait before trying again (503).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, field: String? = nil, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.retryAfter = retryAfter
    }

    /// HTTP 507.
    public static let insufficientStorage = HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage")

    /// Any error as an API error (unexpected ones are 500 `internal`).
    public init(any error: any Error) {
        if let error = error as? APIError { self = error; return }
        self.init(.internalServerError, "internal", "\(error)")
    }

    /// 400 `invalid_argument` naming `field`.
    public static func invalid(_ field: String?, _ message: String) -> APIError {
        APIError(.badRequest, "invalid_argument", message, field: field)
    }

    /// 404 `not_found`.
    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, "not_found", message)
    }

    /// 503 `<child>_unavailable` with `Retry-After`.
    public static func unavailable(_ child: String, _ message: String) -> APIError {
        APIError(.serviceUnavailable, "\(child)_unavailable", message, retryAfter: 2)
    }

    /// Maps an error from a child's control socket to its HTTP meaning.
    /// - Parameters:
    ///   - error: the bus error (the child's own code, or a local timeout/closed).
    ///   - child: which child was asked (`camera`, `processor`, `supervisor`).
    public init(_ error: BusError, from child: String) {
        let field = APIError.leadingField(of: error.message)
        switch error.code.rawValue {
        case "invalid_argument", "bad_request":
            self.init(.badRequest, "invalid_argument", error.message, field: field)
        case "not_found":
            self.init(.notFound, "not_found", error.message, field: field)
        case "busy":
            self.init(.conflict, "busy", error.message)
        case "not_connected":
            self.init(.conflict, "not_connected", error.message)
        case "not_supported":
            self.init(.notImplemented, "not_supported", error.message, field: field)
        case "insufficient_data", "not_a_minimum":
            // A focus fit without enough samples, or whose samples have no minimum: the data is
            // not there yet, not a fault.
            self.init(.conflict, error.code.rawValue, error.message, field: field)
        case "storage_error":
            self.init(APIError.insufficientStorage, "storage_error", error.message)
        case "driver_error":
            self.init(.badGateway, "driver_error", error.message)
        case "timeout", "closed", "cancelled", "transport":
            self = .unavailable(child, "the \(child) process does not answer (\(error.message))")
        default:
            self.init(.internalServerError, "internal", "\(child): \(error.message)")
        }
    }

    /// `time: must be...` names `time`; messages that do not start with a field name give nil.
    static func leadingField(of message: String) -> String? {
        guard let colon = message.firstIndex(of: ":") else { return nil }
        let candidate = message[..<colon]
        guard !candidate.isEmpty, candidate.count <= 32,
              candidate.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }) else { return nil }
        return String(candidate)
    }

    /// The JSON body.
    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Detail
    }

    /// The error as an HTTP response.
    public var response: Response {
        var headers: HTTPFields = [:]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="aperture""# }
        return JSONResponse.make(Body(error: .init(code: code, message: message, field: field)),
                                 status: status, headers: headers)
    }
}

extension APIError: HTTPResponseError {
    public func response(from request: Request, context: some RequestContext) throws -> Response { response }
}

/// Encodes JSON replies.
enum JSONResponse {
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }()

    static func make<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"internal","message":"cannot encode reply"}}"#.utf8)
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
