import CameraCore
import Foundation
import Synchronization

/// The latest frame, kept for readers that want its pixels.
///
/// This is the one abstraction behind which frames reach other processes; today a reader asks
/// `frame.latest` on camera.ctl and gets the pixels inside the reply. The shared-memory frame
/// ring (issue 5) replaces the transport without changing the camera's side of it.
final class LatestFrameStore: Sendable {
    struct Frame: Sendable {
        var exposureId: String
        var frame: Int
        var sequence: Int
        var width: Int
        var height: Int
        var preview: Bool
        var path: String?
        var time: Double
        var pixels: [UInt16]
        var rowOrder: String = "TOP-DOWN"

        /// The bus reply; pixels as base64 of little-endian UInt16, row-major, in `rowOrder`.
        func reply(includePixels: Bool) -> LatestFrame {
            let encoded = includePixels
                ? pixels.map { $0.littleEndian }.withUnsafeBytes { Data($0).base64EncodedString() }
                : nil
            return LatestFrame(exposureId: exposureId, frame: frame, sequence: sequence, width: width, height: height,
                               preview: preview, path: path, time: time, pixels: encoded, rowOrder: rowOrder)
        }
    }

    private let storage = Mutex<Frame?>(nil)

    func store(_ frame: Frame) { storage.withLock { $0 = frame } }
    func latest() -> Frame? { storage.withLock { $0 } }
}
