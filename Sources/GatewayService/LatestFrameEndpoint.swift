import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// `GET /v1/frames/latest`: the newest frame, read straight from the camera's shared-memory
/// frame ring (no pixels travel over the bus).
///
/// - default: the pixels as `application/octet-stream`, little-endian unsigned 16-bit,
///   row-major, with the frame's header in `X-Frame-*` and `X-Exposure-Id` headers;
/// - `?format=json`: the header only, as JSON.
///
/// 404 while the ring holds no frame; 503 with `Retry-After` while there is no ring (the
/// camera is down or has not connected yet).
final class LatestFrameEndpoint: Sendable {
    private let path: String
    private let reader = Mutex<FrameRingReader?>(nil)

    init(runtime: RuntimeDirectory) {
        path = runtime.path + "/" + EndpointName.cameraFrames
    }

    func respond(_ request: Request) -> Response {
        let ring: FrameRingReader
        do throws(BusError) {
            ring = try currentReader()
        } catch {
            return JSONResponse.make(ErrorReply(code: "camera_unavailable", message: "no frame ring: \(error.message)"),
                                     status: .serviceUnavailable, headers: [.retryAfter: "1"])
        }
        var pixels: [UInt16] = []
        guard let entry = ring.latest(into: &pixels) else {
            return JSONResponse.make(ErrorReply(code: "not_found", message: "the camera has not taken a frame yet"),
                                     status: .notFound)
        }
        let metadata = entry.metadata
        if request.uri.queryParameters.get("format") == "json" {
            return JSONResponse.make(LatestFrameHeader(metadata: metadata, location: entry.location), status: .ok)
        }
        var headers: HTTPFields = [
            .contentType: "application/octet-stream",
            .cacheControl: "no-store",
        ]
        let fields: [(String, String)] = [
            ("X-Exposure-Id", metadata.exposureId),
            ("X-Frame-Number", String(metadata.frameNumber)),
            ("X-Frame-Sequence", String(entry.location.sequence)),
            ("X-Frame-Width", String(metadata.width)),
            ("X-Frame-Height", String(metadata.height)),
            ("X-Frame-Pixel-Type", "uint16-le"),
            ("X-Frame-Row-Order", metadata.topDown ? "TOP-DOWN" : "BOTTOM-UP"),
            ("X-Frame-Exposure-Start", String(metadata.exposureStart)),
            ("X-Frame-Readout-Time", String(metadata.readoutTime)),
        ]
        for (name, value) in fields {
            if let field = HTTPField.Name(name) { headers[field] = value }
        }
        let body = pixels.withUnsafeBytes { ByteBuffer(bytes: $0) }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The reader, opened on first use and re-opened when the camera replaced the ring.
    private func currentReader() throws(BusError) -> FrameRingReader {
        try reader.withLock { current throws(BusError) -> FrameRingReader in
            if let existing = current {
                _ = try? existing.reopenIfReplaced()
                return existing
            }
            let opened = try FrameRingReader(path: path)
            current = opened
            return opened
        }
    }
}

/// `{"error": {"code": ..., "message": ...}}`
struct ErrorReply: Encodable {
    struct Body: Encodable {
        var code: String
        var message: String
    }
    var error: Body
    init(code: String, message: String) { error = Body(code: code, message: message) }
}

/// The JSON form of `GET /v1/frames/latest?format=json`.
struct LatestFrameHeader: Encodable {
    var metadata: FrameMetadata
    var location: FrameLocation
}
