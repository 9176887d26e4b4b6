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
    public var code: ErrorCode
    /// What was wrong, for humans, naming the field.
    public var message: String
    /// The request field at fault, when one is.
    public var field: String?
    /// Seconds a client should wait before trying again (503).
    public var retryAfter: Int?
    /// The methods the path allows, sent as `Allow` (405).
    public var allow: String?

    /// Creates an error.
    /// - Parameters:
    ///   - status: the HTTP status.
    ///   - code: the stable code.
    ///   - message: what was wrong, naming the field or path.
    ///   - field: the request field at fault, if any.
    ///   - retryAfter: seconds to wait before trying again (sent as `Retry-After`).
    public init(_ status: HTTPResponse.Status, _ code: ErrorCode, _ message: String, field: String? = nil, retryAfter: Int? = nil) {
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
        self.init(.internalServerError, .internal, "\(error)")
    }

    /// 400 `invalid_argument` naming `field`.
    public static func invalid(_ field: String?, _ message: String) -> APIError {
        APIError(.badRequest, .invalidArgument, message, field: field)
    }

    /// 404 `not_found`.
    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, .notFound, message)
    }

    /// 503 `<process>_unavailable` with `Retry-After`.
    public static func unavailable(_ process: BusProcess, _ message: String) -> APIError {
        APIError(.serviceUnavailable, .unavailable(process), message, retryAfter: 2)
    }

    /// Maps an error from a child's control socket to its HTTP meaning: the one place where a
    /// bus error code becomes an HTTP status.
    /// - Parameters:
    ///   - error: the bus error (the child's own code, or a local timeout/closed).
    ///   - process: which process was asked.
    public init(_ error: BusError, from process: BusProcess) {
        let field = error.field
        switch error.code {
        case .invalidArgument, .badRequest:
            self.init(.badRequest, .invalidArgument, error.message, field: field)
        case .notFound:
            self.init(.notFound, .notFound, error.message, field: field)
        case .busy, .notConnected:
            self.init(.conflict, error.code, error.message)
        case .notConfigured:
            // A feature the configuration turned off (export.enabled = false): the key is the field.
            self.init(.conflict, .notConfigured, error.message, field: field)
        case .notSupported:
            self.init(.notImplemented, .notSupported, error.message, field: field)
        case .insufficientData, .notAMinimum:
            // A focus fit without enough samples, or whose samples have no minimum: the data is
            // not there yet, not a fault.
            self.init(.conflict, error.code, error.message, field: field)
        case .storage:
            self.init(APIError.insufficientStorage, .storage, error.message)
        case .driver:
            self.init(.badGateway, .driver, error.message)
        case .unavailable(.camera), .unavailable(.processor), .unavailable(.supervisor), .unavailable(.catalog):
            // A child that needed another one which is down (the processor asking the camera
            // for the sensor's size): that one's 503, passed through.
            self.init(.serviceUnavailable, error.code, error.message, field: field, retryAfter: 2)
        case _ where error.code.isNoAnswer:
            self = .unavailable(process, "the \(process.rawValue) process does not answer (\(error.message))")
        default:
            self.init(.internalServerError, .internal, "\(process.rawValue): \(error.message)")
        }
    }

    /// The JSON body.
    struct Body: Encodable {
        struct Detail: Encodable {
            var code: ErrorCode
            var message: String
            var field: String?
        }
        var error: Detail
    }

    /// The headers that go with the status: `Retry-After` (503), `WWW-Authenticate` (401).
    var headers: HTTPFields {
        var headers: HTTPFields = [:]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if status == .unauthorized { headers[.wwwAuthenticate] = #"Bearer realm="aperture""# }
        if let allow { headers[.allow] = allow }
        return headers
    }

    /// The error as an HTTP response.
    public var response: Response {
        JSONResponse.make(Body(error: .init(code: code, message: message, field: field)),
                          status: status, headers: headers)
    }
}

extension APIError: HTTPResponseError {
    /// The error as Hummingbird answers it: ``response``, or psen's envelope for a path under
    /// `/psen/` (``PsenRoutes/isPsen(_:)``), whatever produced the error (a route, the router's
    /// 404 and 405, the token, Host and Origin guards, the body limit).
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        PsenRoutes.isPsen(request.uri.path) ? PsenRoutes.errorResponse(self) : response
    }
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
