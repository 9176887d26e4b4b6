import ApertureConfig
import Bus
import Foundation
import HTTPTypes
import Hummingbird

/// Which browser origins besides the gateway's own may call it (`gateway.cors_origins`), as
/// evora-server's `CORS(app)` let its web client, served from another port, call it (and
/// psen_processing's server answered every origin). It applies to every path of the listener.
///
/// Off by default: then only pages the gateway served may change state (``RequestGuards``), and
/// no CORS header is sent. An origin listed here may also change state (its pages are trusted
/// as the gateway's own; the token, when configured, is still required). `*` trusts every page
/// a browser opens: the gateway logs a warning at start.
struct CORSPolicy: Sendable {
    /// Listed origins, lower case, `scheme://host[:port]`.
    let origins: Set<String>
    /// `*`: every origin.
    let anyOrigin: Bool

    /// The methods a preflight may ask for.
    static let methods = "GET, HEAD, POST, PUT, DELETE, OPTIONS"
    /// Headers a page may send beyond the simple ones (a preflight's own list is checked against these).
    /// (psen_processing's server allowed `Origin, Accept, Content-Type, X-Requested-With, X-CSRF-Token`.)
    static let headers: Set<String> = ["content-type", "authorization", "accept", "cache-control", "last-event-id",
                                       "origin", "x-requested-with", "x-csrf-token"]
    /// How long a browser may keep a preflight's answer, in seconds.
    static let maximumAge = "600"

    /// - Parameter configuration: `gateway.cors_origins`.
    init(configuration: ApertureConfiguration) {
        let listed = configuration.gateway.corsOrigins
        anyOrigin = listed.contains("*")
        origins = Set(listed.filter { $0 != "*" }.map { Self.normalized($0) })
    }

    /// Whether pages of `origin` may call the gateway.
    func allows(_ origin: String) -> Bool {
        anyOrigin || origins.contains(Self.normalized(origin))
    }

    /// An origin in lower case without its scheme's default port.
    static func normalized(_ origin: String) -> String {
        let lower = origin.lowercased()
        if lower.hasPrefix("http://"), lower.hasSuffix(":80") { return String(lower.dropLast(3)) }
        if lower.hasPrefix("https://"), lower.hasSuffix(":443") { return String(lower.dropLast(4)) }
        return lower
    }
}

/// Answers CORS preflights and marks replies to an allowed origin (``CORSPolicy``); replies to
/// other origins carry no CORS header, so a browser keeps their bodies from the page.
///
/// A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin gets 204
/// with the methods and headers allowed; from any other origin, 403 naming the origin and the key
/// to set. Errors thrown by later middleware and routes are rendered here, so that a page sees
/// an error's JSON too.
struct CORSMiddleware<Context: RequestContext>: RouterMiddleware {
    let policy: CORSPolicy

    static var requestMethod: HTTPField.Name { HTTPField.Name("Access-Control-Request-Method")! }
    static var requestHeaders: HTTPField.Name { HTTPField.Name("Access-Control-Request-Headers")! }
    static var allowOrigin: HTTPField.Name { HTTPField.Name("Access-Control-Allow-Origin")! }
    static var allowMethods: HTTPField.Name { HTTPField.Name("Access-Control-Allow-Methods")! }
    static var allowHeaders: HTTPField.Name { HTTPField.Name("Access-Control-Allow-Headers")! }
    static var maximumAge: HTTPField.Name { HTTPField.Name("Access-Control-Max-Age")! }
    static var exposeHeaders: HTTPField.Name { HTTPField.Name("Access-Control-Expose-Headers")! }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else { return try await next(request, context) }
        if request.method == .options, request.headers[Self.requestMethod] != nil {
            return try preflight(request, origin: origin)
        }
        guard policy.allows(origin) else { return try await next(request, context) }
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[Self.allowOrigin] = policy.anyOrigin ? "*" : origin
        response.headers[Self.exposeHeaders] = "Retry-After, Content-Disposition, Aperture-Error"
        response.headers[values: .vary] = response.headers[values: .vary] + ["Origin"]
        return response
    }

    /// The answer to a preflight.
    private func preflight(_ request: Request, origin: String) throws -> Response {
        guard policy.allows(origin) else {
            throw APIError(.forbidden, .forbiddenOrigin,
                           "a page of Origin '\(origin)' asked to call \(request.uri.path), but that origin is not in "
                           + "gateway.cors_origins (add it there, e.g. gateway.cors_origins = \(origin))",
                           field: "Origin")
        }
        let asked = (request.headers[Self.requestHeaders] ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if let refused = asked.first(where: { !CORSPolicy.headers.contains($0) }) {
            throw APIError(.forbidden, .badRequest,
                           "a page may send the headers \(CORSPolicy.headers.sorted().joined(separator: ", ")), not '\(refused)'",
                           field: "Access-Control-Request-Headers")
        }
        var headers: HTTPFields = [
            Self.allowOrigin: policy.anyOrigin ? "*" : origin,
            Self.allowMethods: CORSPolicy.methods,
            Self.maximumAge: CORSPolicy.maximumAge,
        ]
        if !asked.isEmpty { headers[Self.allowHeaders] = asked.joined(separator: ", ") }
        headers[values: .vary] = ["Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"]
        return Response(status: .noContent, headers: headers)
    }
}
