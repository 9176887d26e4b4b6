import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web dashboard at `/` (also `/index.html`) and its files under `/assets/`, all shipped
/// inside the gateway (see ``DashboardAssets``). The page uses `/v1` (relative URLs, so that it
/// works behind nginx under `/api/` too) and the events stream; it needs nothing from the
/// internet.
enum DashboardRoutes {
    /// What the page may load: only from the gateway itself (the preview arrives as a blob).
    static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; script-src 'self'; style-src 'self'; "
        + "object-src 'none'; base-uri 'self'; frame-ancestors 'self'; form-action 'self'"

    static func register(on router: Router<GatewayApplication.Context>, gateway: Gateway) {
        for path in ["/", "index.html"] {
            router.get(RouterPath(path)) { request, _ -> Response in
                respond(DashboardAssets.index, request: request, cache: "no-cache", page: true)
            }
            router.head(RouterPath(path)) { request, _ -> Response in
                respond(DashboardAssets.index, request: request, cache: "no-cache", page: true, head: true)
            }
        }
        router.get("assets/{name}") { request, context -> Response in
            try asset(request, context: context)
        }
        router.head("assets/{name}") { request, context -> Response in
            try asset(request, context: context, head: true)
        }
    }

    static func asset(_ request: Request, context: GatewayApplication.Context, head: Bool = false) throws -> Response {
        let name = context.parameters.get("name") ?? ""
        guard let asset = DashboardAssets.files[name] else {
            throw APIError.notFound("no dashboard asset '\(name.prefix(80))'; the assets are \(DashboardAssets.files.keys.sorted().joined(separator: ", "))")
        }
        // Links from the page carry the asset's hash: those can be kept for good.
        let versioned = request.uri.queryParameters.get("v") == asset.hash
        return respond(asset, request: request,
                       cache: versioned ? "public, max-age=31536000, immutable" : "no-cache", page: false, head: head)
    }

    static func respond(_ asset: DashboardAssets.Asset, request: Request, cache: String, page: Bool, head: Bool = false) -> Response {
        var headers: HTTPFields = [
            .contentType: asset.contentType,
            .cacheControl: cache,
            .eTag: asset.etag,
            .xContentTypeOptions: "nosniff",
        ]
        if page {
            headers[.contentSecurityPolicy] = contentSecurityPolicy
            if let referrer = HTTPField.Name("Referrer-Policy") { headers[referrer] = "same-origin" }
        }
        if let match = request.headers[.ifNoneMatch],
           match.split(separator: ",").contains(where: {
               let tag = $0.trimmingCharacters(in: .whitespaces)
               return tag == asset.etag || tag == "W/" + asset.etag || tag == "*"
           }) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(asset.body.count)
        if head { return Response(status: .ok, headers: headers) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.body)))
    }
}
