import ApertureConfig
import Bus
import ApertureProtocol
import CameraCore
import FITSStorage
import Foundation
import Logging
import Synchronization

/// Where each frame goes once it is read out: its FITS file (``FrameStore``), the shared-memory
/// frame ring, the latest-frame store behind `frame.latest`, and the `camera.frame` notice.
///
/// Used from the SDK thread, one frame at a time: ``save(pixels:header:)`` (not for a preview),
/// ``putInRing(_:pixels:)``, then ``announce(_:count:pixels:location:file:)``. A frame is
/// described by its ring slot's ``FrameMetadata``, also when there is no ring.
final class FramePublisher: Sendable {
    private let ringPath: String
    private let ringSlots: Int
    /// The shared-memory frame ring, created once the sensor size is known.
    private let ring = Mutex<FrameRingWriter?>(nil)
    /// Counts the frames announced since the process started.
    private let sequence = Mutex(0)
    private let store: FrameStore
    private let latestFrames: LatestFrameStore
    private let events: Publisher
    private let logger: Logger

    /// - Parameters:
    ///   - configuration: the data root, file prefix, compression and ring size.
    ///   - runtime: where the frame ring lives.
    ///   - events: where `camera.frame` goes.
    ///   - logger: for saved files and failures.
    init(configuration: ApertureConfiguration, runtime: RuntimeDirectory, events: Publisher, logger: Logger) {
        ringPath = runtime.path + "/" + EndpointName.cameraFrames
        ringSlots = configuration.camera.ringSlots
        latestFrames = LatestFrameStore(ringPath: ringPath)
        // Records and events carry absolute paths, whatever directory the process started in.
        let root = configuration.storage.dataRoot.hasPrefix("/")
            ? configuration.storage.dataRoot
            : FileManager.default.currentDirectoryPath + "/" + configuration.storage.dataRoot
        let compression: FITSCompression = switch configuration.storage.compression {
        case .none: .none
        case .rice: .rice
        }
        store = FrameStore(root: URL(fileURLWithPath: root).standardizedFileURL.path, prefix: configuration.storage.filePrefix,
                           compression: compression)
        self.events = events
        self.logger = logger
    }

    /// Removes what crashed predecessors left: the frame ring's temporary files in the runtime
    /// directory and the hidden FITS temporary files under the data root (see
    /// ``FrameStore/removeStaleTemporaries()``). Called once at start-up, before connecting.
    func removeLeftovers() {
        let removed = FrameRingWriter.removeStaleTemporaries(of: ringPath) + store.removeStaleTemporaries()
        for file in removed {
            logger.notice("removed \(file), left by a process that ended while writing it")
        }
    }

    /// Creates the frame ring for the sensor's full frame (a new file, so readers of a previous
    /// camera process notice the new generation), unless the ring there already holds it. When
    /// the ring cannot be created, the one there stays, and without one frames reach readers
    /// through `frame.latest` only.
    /// - Parameter info: the connected camera.
    func prepareRing(for info: CameraInfo) {
        let needed = info.width * info.height * 2
        if let existing = ring.withLock({ $0 }), existing.slotCapacity >= needed { return }
        do throws(BusError) {
            let created = try FrameRingWriter(path: ringPath, slots: ringSlots, slotCapacity: needed)
            logger.info("frame ring \(ringPath): \(created.slotCount) slots of \(created.slotCapacity) bytes")
            ring.withLock { $0 = created }
        } catch {
            logger.error("no frame ring, frames reach readers through frame.latest only: \(error.message)")
        }
    }

    /// Writes the frame's FITS file (temporary name, fsync, rename).
    /// - Parameters:
    ///   - pixels: its pixels, row-major.
    ///   - header: what its header describes (the frame, its size, its start).
    /// - Returns: the file.
    /// - Throws: ``StorageError`` when it cannot be written.
    func save(pixels: [UInt16], header: FITSHeader.Context) throws(StorageError) -> SavedFrame {
        let cards = FITSHeader.cards(header)
        let saved = try pixels.withUnsafeBufferPointer { buffer throws(StorageError) in
            try store.save(pixels: buffer, width: header.settings.imageWidth, height: header.settings.imageHeight,
                           cards: cards.cards, comments: cards.comments, date: header.start)
        }
        return SavedFrame(frame: header.frame, path: saved.path, bytes: saved.bytes)
    }

    /// Puts the frame into the ring.
    /// - Parameters:
    ///   - frame: the frame.
    ///   - pixels: its pixels, row-major.
    /// - Returns: where it is, or nil when there is no ring or the write failed (logged).
    func putInRing(_ frame: FrameMetadata, pixels: [UInt16]) -> FrameLocation? {
        guard let ring = ring.withLock({ $0 }) else { return nil }
        do throws(BusError) {
            return try pixels.withUnsafeBufferPointer { buffer throws(BusError) in try ring.write(frame, pixels: buffer) }
        } catch {
            logger.error("frame \(frame.frameNumber) of \(frame.exposureId) not put in the frame ring: \(error.message)")
            return nil
        }
    }

    /// Makes the frame the latest one (`frame.latest`) and publishes its `camera.frame` notice.
    /// - Parameters:
    ///   - frame: the frame.
    ///   - count: its exposure's frame count; nil for a preview that runs until aborted.
    ///   - pixels: its pixels; kept as a copy only when it is not in the ring.
    ///   - location: where ``putInRing(_:pixels:)`` put it.
    ///   - file: its FITS file; nil for a preview frame.
    func announce(_ frame: FrameMetadata, count: Int?, pixels: [UInt16], location: FrameLocation?, file: SavedFrame?) {
        let sequence = sequence.withLock { value -> Int in
            value += 1
            return value
        }
        latestFrames.store(.init(metadata: frame, sequence: sequence, path: file?.path,
                                 pixels: location.map { .ring($0) } ?? .copy(pixels)))
        try? events.publish(CameraTopic.frame, FrameNotice(frame, sequence: sequence, count: count, path: file?.path,
                                                           bytes: file?.bytes ?? pixels.count * 2, ring: location))
        if let file {
            logger.info("saved \(file.path)", metadata: ["exposure.id": "\(frame.exposureId)", "frame": "\(frame.frameNumber)"])
        }
    }

    /// The bus reply for the newest frame (see ``LatestFrameStore/reply(includePixels:)``).
    /// - Parameter includePixels: whether to send its pixels.
    /// - Throws: ``CameraError`` `invalid_argument` before the first frame, `driver_error` when
    ///   the ring cannot be read.
    func latestFrame(includePixels: Bool) throws(CameraError) -> LatestFrame {
        try latestFrames.reply(includePixels: includePixels)
    }
}
