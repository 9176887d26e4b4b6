import ApertureProtocol
import Bus
import CameraCore
import Foundation
import Synchronization

/// The latest frame, kept for readers that want its pixels over the bus (`frame.latest`).
///
/// The pixels are not copied here: the store keeps the frame's location in the shared-memory
/// frame ring and reads them from there when asked. Only when a frame could not be put into the
/// ring (no ring) does it keep its own copy.
final class LatestFrameStore: Sendable {
    /// Where the newest frame's pixels are.
    enum Pixels: Sendable {
        case ring(FrameLocation)
        case copy([UInt16])
    }

    struct Frame: Sendable {
        /// The frame as the ring describes it.
        var metadata: FrameMetadata
        /// Its number over all frames of this camera process.
        var sequence: Int
        /// Its FITS file, nil for a preview.
        var path: String?
        var pixels: Pixels
    }

    private let ringPath: String
    private let latest = Mutex<Frame?>(nil)
    private let reader = Mutex<FrameRingReader?>(nil)

    /// - Parameter ringPath: the camera's frame ring.
    init(ringPath: String) {
        self.ringPath = ringPath
    }

    func store(_ frame: Frame) { latest.withLock { $0 = frame } }

    /// The bus reply for the newest frame; pixels as base64 of little-endian UInt16, row-major,
    /// in `rowOrder`.
    /// - Throws: ``CameraError`` `invalid_argument` before the first frame, `driver_error` when
    ///   the ring cannot be read.
    func reply(includePixels: Bool) throws(CameraError) -> LatestFrame {
        // A newer frame may overwrite the one being read; then the newest is read instead.
        for _ in 0..<3 {
            guard let frame = latest.withLock({ $0 }) else {
                throw CameraError(.invalidArgument, "no frame has been taken since the camera process started")
            }
            var encoded: String?
            if includePixels {
                guard let pixels = try self.pixels(of: frame) else { continue }
                encoded = pixels.map { $0.littleEndian }.withUnsafeBytes { Data($0).base64EncodedString() }
            }
            return LatestFrame(frame.metadata, sequence: frame.sequence, path: frame.path, pixels: encoded)
        }
        throw CameraError(.driver, "the newest frame kept being overwritten while it was read; ask again")
    }

    /// The frame's pixels, or nil when the ring slot was overwritten meanwhile.
    private func pixels(of frame: Frame) throws(CameraError) -> [UInt16]? {
        switch frame.pixels {
        case .copy(let pixels):
            return pixels
        case .ring(let location):
            let ring = try currentReader(for: location)
            var buffer: [UInt16] = []
            switch ring.read(location, into: &buffer) {
            case .frame: return buffer
            case .overwritten, .staleGeneration: return nil
            case .invalid(let reason): throw CameraError(.driver, "the frame ring: \(reason)")
            }
        }
    }

    /// A reader of the camera's own ring, (re)opened when the ring was recreated.
    private func currentReader(for location: FrameLocation) throws(CameraError) -> FrameRingReader {
        do throws(BusError) {
            return try reader.withLock { current throws(BusError) -> FrameRingReader in
                if let existing = current, existing.generation == location.generation { return existing }
                let opened = try FrameRingReader(path: ringPath)
                current = opened
                return opened
            }
        } catch {
            throw CameraError(.driver, "cannot read the frame ring: \(error.message)")
        }
    }
}
