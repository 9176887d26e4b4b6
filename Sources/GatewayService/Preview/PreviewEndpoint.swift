import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `GET /v1/frames/latest.png?width=N&stretch=zscale|asinh|linear`: the newest frame of the
/// camera's frame ring as an 8-bit greyscale PNG, box-averaged down to `width` columns
/// (1...4096, default 512; never enlarged; the height keeps the aspect ratio), the top of the
/// image at the top whatever the camera's row order, stretched by ``PreviewStretch`` (default
/// zscale).
///
/// Headers: `X-Exposure-Id`, `X-Frame-Number`, `X-Frame-Sequence`, `X-Frame-Width` and
/// `X-Frame-Height` (the frame's own size), `X-Stretch`, `X-Stretch-Low` and `X-Stretch-High`
/// (the pixel values shown black and white), and an `ETag` per frame, width and stretch.
/// Errors: 400 `invalid_argument` naming `width` or `stretch`; 404 before the first frame; 503
/// without a frame ring (the camera is down).
///
/// The last few renderings are kept, so that many dashboards reloading the preview after each
/// frame cost one rendering per frame.
public enum PreviewEndpoint {
    /// The default, smallest and largest width.
    public static let defaultWidth = 512
    /// The widths a client may ask for (`width`).
    public static let widths = 1...4096

    /// Registers `frames/latest.png` on the `/v1` group.
    public static func register(on group: RouterGroup<GatewayApplication.Context>, gateway: Gateway) {
        let cache = PreviewCache()
        group.get("frames/latest.png") { request, _ -> Response in
            try await respond(request, gateway: gateway, cache: cache)
        }
    }

    /// The query's width and stretch.
    /// - Throws: ``APIError`` 400 naming the parameter.
    static func parameters(_ request: Request) throws(APIError) -> (width: Int, stretch: PreviewStretch) {
        let query = request.uri.queryParameters
        var width = defaultWidth
        if let text = query.get("width") {
            guard let value = Int(text), widths.contains(value) else {
                throw APIError.invalid("width", "width: expected an integer from \(widths.lowerBound) to \(widths.upperBound) (pixels), got '\(text.prefix(40))'")
            }
            width = value
        }
        var stretch = PreviewStretch.zscale
        if let text = query.get("stretch") {
            guard let value = PreviewStretch(rawValue: text) else {
                throw APIError.invalid("stretch", "stretch: expected one of \(PreviewStretch.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text.prefix(40))'")
            }
            stretch = value
        }
        return (width, stretch)
    }

    static func respond(_ request: Request, gateway: Gateway, cache: PreviewCache) async throws(APIError) -> Response {
        let (width, stretch) = try parameters(request)
        let ring = try gateway.frames.current()
        if let location = ring.latestLocation(),
           let cached = cache.lookup(location: location, width: width, stretch: stretch) {
            return response(cached, request: request)
        }
        // The copy, the stretch and the PNG run on the thread pool (see Gateway.offload).
        let rendered = try await Gateway.offload {
            var pixels: [UInt16] = []
            let entry = try gateway.frames.latest(into: &pixels)
            return try render(pixels, entry: entry, width: width, stretch: stretch)
        }
        cache.store(rendered)
        return response(rendered, request: request)
    }

    /// Renders and encodes one frame.
    static func render(_ pixels: [UInt16], entry: FrameRingEntry, width: Int, stretch: PreviewStretch) throws(APIError) -> RenderedPreview {
        let metadata = entry.metadata
        guard metadata.width > 0, metadata.height > 0, pixels.count >= metadata.pixelCount else {
            throw APIError(.internalServerError, .internal, "the frame ring returned \(pixels.count) pixels for a \(metadata.width)x\(metadata.height) frame")
        }
        let image = pixels.withUnsafeBufferPointer { pixels in
            PreviewImage.render(pixels, frameWidth: metadata.width, frameHeight: metadata.height, topDown: metadata.topDown,
                                width: width, stretch: stretch)
        }
        let png: [UInt8]
        do {
            png = try PNGEncoder.encodeGrey(image.grey, width: image.width, height: image.height, text: [
                ("Software", "aperture-gateway"),
                ("Comment", "\(metadata.exposureId) frame \(metadata.frameNumber), \(stretch.rawValue) \(format(image.low))..\(format(image.high))"),
            ])
        } catch {
            throw APIError(.internalServerError, .internal, "cannot encode the preview: \(error)")
        }
        return RenderedPreview(location: entry.location, metadata: metadata, width: width, stretch: stretch,
                               low: image.low, high: image.high, png: png)
    }

    static func response(_ preview: RenderedPreview, request: Request) -> Response {
        let metadata = preview.metadata
        let etag = "\"\(preview.location.generation)-\(preview.location.sequence)-\(preview.width)-\(preview.stretch.rawValue)\""
        var headers: HTTPFields = [
            .contentType: "image/png",
            .cacheControl: "no-cache",
            .eTag: etag,
        ]
        let fields: [(String, String)] = [
            ("X-Exposure-Id", metadata.exposureId),
            ("X-Frame-Number", String(metadata.frameNumber)),
            ("X-Frame-Sequence", String(preview.location.sequence)),
            ("X-Frame-Width", String(metadata.width)),
            ("X-Frame-Height", String(metadata.height)),
            ("X-Stretch", preview.stretch.rawValue),
            ("X-Stretch-Low", format(preview.low)),
            ("X-Stretch-High", format(preview.high)),
        ]
        for (name, value) in fields {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: {
            $0.trimmingCharacters(in: .whitespaces) == etag || $0.trimmingCharacters(in: .whitespaces) == "*"
        }) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: preview.png)))
    }

    /// A limit as text: integers without a fraction, others with up to 6 decimals.
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(format: "%.6f", value)
    }
}

/// One encoded preview and what it shows.
struct RenderedPreview: Sendable {
    var location: FrameLocation
    var metadata: FrameMetadata
    var width: Int
    var stretch: PreviewStretch
    var low: Double
    var high: Double
    var png: [UInt8]
}

/// The last few renderings, newest last.
final class PreviewCache: Sendable {
    private let entries = Mutex<[RenderedPreview]>([])
    static let capacity = 8

    func lookup(location: FrameLocation, width: Int, stretch: PreviewStretch) -> RenderedPreview? {
        entries.withLock { entries in
            entries.last { $0.location == location && $0.width == width && $0.stretch == stretch }
        }
    }

    func store(_ preview: RenderedPreview) {
        entries.withLock { entries in
            entries.removeAll { $0.location == preview.location && $0.width == preview.width && $0.stretch == preview.stretch }
            entries.append(preview)
            if entries.count > Self.capacity { entries.removeFirst(entries.count - Self.capacity) }
        }
    }
}
