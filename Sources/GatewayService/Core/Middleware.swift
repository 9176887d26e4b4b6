import Bus
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Turns the router's own errors (no such route, wrong method) into the JSON error shape.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            switch error.status {
            case .notFound:
                if let wrongMethod = PsenRoutes.methodNotAllowed(request.method, request.uri.path) { throw wrongMethod }
                throw APIError(.notFound, .notFound, "no route \(request.method) \(request.uri.path)")
            case .methodNotAllowed:
                throw APIError(.methodNotAllowed, .methodNotAllowed, "\(request.method) is not allowed on \(request.uri.path)")
            case .contentTooLarge:
                throw APIError(.contentTooLarge, .bodyTooLarge, error.body ?? "the request body is too large")
            default:
                throw APIError(error.status, error.status.code < 500 ? .badRequest : .internal,
                               error.body ?? error.status.reasonPhrase)
            }
        } catch let error where PsenRoutes.isPsen(request.uri.path) {
            // Anything else under /psen/ still answers psen's envelope (as a 500).
            throw APIError(any: error)
        }
    }
}

/// Reads stay open; anything that changes state needs `Authorization: Bearer <gateway.token>`
/// when a token is configured (it must be whenever the gateway listens beyond loopback).
///
/// The middleware guards every method but GET, HEAD and OPTIONS. evora's GET routes that act on
/// the camera (`/initialize`, `/shutdown`, `/abort`, `/homeFilterWheel`) check the token in
/// their handlers (``authorize(_:token:)``), so no spelling of their path gets past it.
struct AuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    let cors: CORSPolicy

    init(token: String, cors: CORSPolicy) {
        self.token = Array(token.utf8)
        self.cors = cors
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        switch request.method {
        case .get, .head, .options: break
        default:
            try Self.authorize(request, token: token, cors: cors)
            if token.isEmpty, request.headers[RequestGuards.forwardedForHeader] != nil,
               !warnedAboutProxy.exchange(true, ordering: .relaxed) {
                context.logger.warning("""
                    \(request.method) \(request.uri.path) came through a proxy that opted out of the token \
                    (X-Aperture-Open-Proxy): anyone who reaches the proxy can drive the camera. Set gateway.token \
                    (docs/operations.md).
                    """)
            }
        }
        return try await next(request, context)
    }

    /// Checks a request that changes state: its Origin and, through a proxy, that a token is
    /// configured (``RequestGuards``), then its bearer token.
    /// - Throws: ``APIError`` 403 for a foreign Origin or a proxied request without a configured
    ///   token; 401 when a token is configured and the request does not carry it.
    static func authorize(_ request: Request, token: [UInt8], cors: CORSPolicy) throws(APIError) {
        try RequestGuards.checkOrigin(request, cors: cors)
        try RequestGuards.checkProxy(request, tokenConfigured: !token.isEmpty)
        guard !token.isEmpty else { return }
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, .unauthorized,
                           "\(request.method) \(request.uri.path) changes state: send 'Authorization: Bearer <token>'",
                           field: "Authorization")
        }
        let prefix = "Bearer "
        guard header.hasPrefix(prefix), equalInConstantTime(Array(header.utf8.dropFirst(prefix.utf8.count)), token) else {
            throw APIError(.unauthorized, .unauthorized, "the bearer token in Authorization is not the configured one",
                           field: "Authorization")
        }
    }

    static func equalInConstantTime(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// Whether the gateway has warned that it serves state changes through a proxy without a token.
private let warnedAboutProxy = Atomic<Bool>(false)

/// Refuses bodies larger than `gateway.max_body` with 413, from `Content-Length` before
/// reading, and while reading for chunked bodies (see ``RequestBody/collect(_:limit:)``).
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, .bodyTooLarge,
                           "the request body is \(length) bytes; the limit is \(limit) (gateway.max_body)")
        }
        return try await next(request, context)
    }
}

/// Reading request bodies.
package enum RequestBody {
    /// The pairs of `application/x-www-form-urlencoded` text (a PUT body, a query): `a=1&b=x+y`,
    /// percent-decoded, `+` as a space, in order; a pair without `=` has an empty value.
    package static func formPairs(_ text: String) -> [(key: String, value: String)] {
        func decode(_ text: Substring) -> String {
            let plus = text.replacingOccurrences(of: "+", with: " ")
            return plus.removingPercentEncoding ?? plus
        }
        return text.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decode(pieces[0]), pieces.count > 1 ? decode(pieces[1]) : "")
        }
    }

    /// The whole body, at most `limit` bytes.
    /// - Throws: ``APIError`` 413 when it is longer.
    static func collect(_ request: Request, limit: Int) async throws(APIError) -> ByteBuffer {
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw APIError(.contentTooLarge, .bodyTooLarge, "the request body is over the limit of \(limit) bytes (gateway.max_body)")
        }
    }

    /// Decodes a JSON body. An empty body decodes as `{}`.
    /// - Parameter twice: also accept a JSON string that holds the JSON (evora's web client
    ///   encodes the capture body twice).
    /// - Throws: ``APIError`` 400 naming the field that does not fit.
    package static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int, twice: Bool = false) async throws(APIError) -> T {
        var buffer = try await collect(request, limit: limit)
        var data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { data = Data("{}".utf8) }
        if twice, let inner = try? JSONDecoder().decode(String.self, from: data) {
            data = Data(inner.utf8)
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let error as DecodingError {
            if let misfit = JSONNumberFit.misfit(explaining: error, in: data, decoding: T.self) {
                throw APIError.invalid(misfit.field, "\(misfit.field): \(misfit.rule)")
            }
            throw describe(error)
        } catch {
            throw APIError.invalid(nil, "the body is not valid JSON: \(error)")
        }
    }

    /// A decoding error as a 400 naming the field.
    static func describe(_ error: DecodingError) -> APIError {
        func path(_ codingPath: [any CodingKey]) -> String? {
            let parts = codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return parts.isEmpty ? nil : parts.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .typeMismatch(let type, let context):
            let field = path(context.codingPath)
            return .invalid(field, "\(field ?? "body"): expected \(describe(type))")
        case .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return .invalid(field, "\(field ?? "body"): expected \(describe(type)), found null")
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key]) ?? key.stringValue
            return .invalid(field, "\(field): is required")
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            let reason = context.underlyingError.map { "\($0)" } ?? context.debugDescription
            if field == nil { return .invalid(nil, "the body is not valid JSON (\(reason.prefix(200)))") }
            return .invalid(field, "\(field!): \(context.debugDescription)")
        @unknown default:
            return .invalid(nil, "the body does not fit: \(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Double.Type, is Float.Type: return "a number"
        case is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        default: return "\(type)"
        }
    }
}
