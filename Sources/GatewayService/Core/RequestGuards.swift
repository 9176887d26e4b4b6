import Bus
import ApertureConfig
import Foundation
import HTTPTypes
import Hummingbird

/// The rules a request meets before any route sees it (issue 11, docs/http-api.md "Host and
/// Origin"): a `Host` this gateway answers to (against DNS rebinding), a same-origin `Origin`
/// on a request that changes state (against cross-site requests from a browser), and a token on
/// a state change that came through a proxy.
struct RequestGuards: Sendable {
    /// Host names accepted besides IP addresses and `*.localhost`, lower case.
    let hostNames: Set<String>
    /// `gateway.allowed_hosts = *`: every Host.
    let anyHost: Bool

    /// The header that the shipped nginx site's opt-out line sets (`allow`): acting requests
    /// through the proxy are then served without a token.
    static let openProxyHeader = HTTPField.Name("X-Aperture-Open-Proxy")!
    static let forwardedForHeader = HTTPField.Name("X-Forwarded-For")!
    /// Where a browser's request came from (`same-origin`, `same-site`, `cross-site`, `none`).
    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// - Parameter configuration: `gateway.allowed_hosts` and `gateway.listen`'s host.
    init(configuration: ApertureConfiguration) {
        var names: Set<String> = ["localhost", configuration.gateway.host.lowercased()]
        var buffer = [CChar](repeating: 0, count: 256)
        if gethostname(&buffer, buffer.count) == 0 {
            let machine = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self).lowercased()
            if !machine.isEmpty {
                let short = String(machine.prefix { $0 != "." })
                names.formUnion([machine, short, short + ".local"])  // .local: its mDNS name
            }
        }
        names.formUnion(configuration.gateway.allowedHosts)
        hostNames = names
        anyHost = configuration.gateway.allowedHosts.contains("*")
    }

    /// The `Host` of a request (HTTP/1.1's header, which Hummingbird keeps as the authority).
    static func authority(of request: Request) -> String? {
        request.head.authority
    }

    /// The host of an authority, lower case, without its port (an IPv6 address keeps no brackets).
    static func host(ofAuthority authority: String) -> String {
        let lower = authority.lowercased()
        if lower.hasPrefix("["), let close = lower.firstIndex(of: "]") {
            return String(lower[lower.index(after: lower.startIndex)..<close])
        }
        if lower.filter({ $0 == ":" }).count == 1, let colon = lower.firstIndex(of: ":") {
            return String(lower[..<colon])
        }
        return lower
    }

    /// Refuses a `Host` that is neither an IP address (which no DNS rebinding can produce),
    /// `localhost` (or a name under `.localhost`), the machine's name (its short name, and that
    /// under `.local`), `gateway.listen`'s host,
    /// nor a name in `gateway.allowed_hosts`. A request without `Host` (HTTP/1.0: no browser)
    /// passes.
    /// - Throws: ``APIError`` 403 `forbidden_host` naming the Host and the rule.
    func checkHost(_ request: Request) throws(APIError) {
        guard !anyHost, let authority = Self.authority(of: request) else { return }
        let host = Self.host(ofAuthority: authority)
        if AddressRange.bytes(of: host) != nil || hostNames.contains(host) || host.hasSuffix(".localhost") { return }
        throw APIError(.forbidden, .forbiddenHost,
                       "Host '\(authority)' is not a name this gateway answers to: the Host must be an IP address, localhost, "
                       + "this machine's name, gateway.listen's host, or a name listed in gateway.allowed_hosts "
                       + "(add the name a proxy or a browser uses there)",
                       field: "Host")
    }

    /// Refuses a state change whose `Origin` is neither the gateway's own (the scheme and the
    /// `Host` it was sent to) nor one of `gateway.cors_origins`. A request without `Origin`
    /// (scripts, curl, Alpaca clients) passes.
    /// - Parameters:
    ///   - request: the request that changes state.
    ///   - cors: the origins trusted besides the gateway's own (none for the Alpaca listener).
    /// - Throws: ``APIError`` 403 `forbidden_origin` naming the Origin and the rule.
    static func checkOrigin(_ request: Request, cors: CORSPolicy? = nil) throws(APIError) {
        guard let origin = request.headers[.origin] else {
            // A browser sends no Origin with a plain GET (an <img>, a link) but says where it came
            // from: an acting GET (evora's /shutdown, /testLongExposure...) from another site is
            // refused too. Scripts send neither header.
            if request.headers[secFetchSite]?.lowercased() == "cross-site" {
                throw APIError(.forbidden, .forbiddenOrigin,
                               "\(request.method) \(request.uri.path) changes state and was sent by a page of another site "
                               + "(Sec-Fetch-Site: cross-site): a browser may only change state from pages the gateway served",
                               field: "Sec-Fetch-Site")
            }
            return
        }
        if let cors, cors.allows(origin) { return }
        let authority = Self.authority(of: request) ?? ""
        if let (scheme, originAuthority) = split(origin: origin),
           normalized(originAuthority, scheme: scheme) == normalized(authority, scheme: scheme) {
            return
        }
        throw APIError(.forbidden, .forbiddenOrigin,
                       "\(request.method) \(request.uri.path) changes state and was sent by a page of Origin '\(origin)', "
                       + "which is not this gateway's own (http(s)://\(authority)): a browser may only change state from "
                       + "pages the gateway served, or of an origin listed in gateway.cors_origins (scripts send no Origin)",
                       field: "Origin")
    }

    /// Refuses a state change that came through a proxy (it carries `X-Forwarded-For`, which
    /// the shipped nginx site always sets) when no token is configured, unless the proxy says
    /// the operator opted out (`X-Aperture-Open-Proxy: allow`, one commented line in the site).
    /// - Throws: ``APIError`` 403 `token_required`.
    static func checkProxy(_ request: Request, tokenConfigured: Bool) throws(APIError) {
        guard !tokenConfigured, request.headers[forwardedForHeader] != nil,
              request.headers[openProxyHeader]?.lowercased() != "allow" else { return }
        throw APIError(.forbidden, .tokenRequired,
                       "\(request.method) \(request.uri.path) changes state and came through a proxy (X-Forwarded-For), "
                       + "but the gateway has no gateway.token: set gateway.token and send 'Authorization: Bearer <token>', "
                       + "or let anyone who reaches the proxy act by uncommenting the X-Aperture-Open-Proxy line of the "
                       + "nginx site (docs/operations.md)",
                       field: "Authorization")
    }

    /// `scheme://authority` of an Origin, nil when it has another form (`null`).
    private static func split(origin: String) -> (String, String)? {
        guard let range = origin.range(of: "://") else { return nil }
        let scheme = origin[..<range.lowerBound].lowercased()
        let rest = origin[range.upperBound...]
        guard scheme == "http" || scheme == "https", !rest.isEmpty, !rest.contains("/") else { return nil }
        return (scheme, String(rest))
    }

    /// An authority in lower case without the scheme's default port.
    private static func normalized(_ authority: String, scheme: String) -> String {
        let lower = authority.lowercased()
        let defaultPort = scheme == "https" ? ":443" : ":80"
        return lower.hasSuffix(defaultPort) ? String(lower.dropLast(defaultPort.count)) : lower
    }
}

/// Refuses every request whose `Host` the gateway does not answer to (``RequestGuards/checkHost(_:)``).
struct HostGuardMiddleware<Context: RequestContext>: RouterMiddleware {
    let guards: RequestGuards

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try guards.checkHost(request)
        return try await next(request, context)
    }
}
