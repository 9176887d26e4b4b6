internal import CFrameRing
import Foundation
import Synchronization

/// The writing side of a frame ring: the camera process, and only it.
///
/// `init` creates the ring file afresh under a temporary name, fills in its header, and renames
/// it over `path`. A reader still mapping the previous file (a camera that crashed or restarted)
/// keeps that file's inode and sees the old frames, and every new ``FrameLocation`` carries the
/// new ``generation``, so the reader knows to reopen. Writing never waits for readers: a slot
/// is reused round-robin, and a reader still on it sees the overwrite and drops its copy.
public final class FrameRingWriter: Sendable {
    /// The ring file's path.
    public let path: String
    /// This ring's generation, random, chosen at creation.
    public let generation: UInt64
    /// The number of slots.
    public let slotCount: Int
    /// Bytes of pixels one slot holds.
    public let slotCapacity: Int
    private let mapping: FrameRingMapping
    private struct State {
        var nextSequence: UInt64 = 1
        var last: FrameLocation?
    }
    private let state = Mutex(State())

    /// Creates a new ring file at `path` (mode 0600), replacing any previous one atomically.
    /// - Parameters:
    ///   - path: the file, normally ``EndpointName/cameraFrames`` in the runtime directory.
    ///   - slots: how many frames the ring holds, 1 to 65536 (at least 2 lets a reader finish
    ///     one frame while the next is written).
    ///   - slotCapacity: bytes of pixels per slot (2 per UInt16 pixel), at least 2.
    /// - Throws: ``BusError`` `invalid_argument` for bad sizes, or naming the path and the
    ///   system's reason when the file cannot be created, sized, mapped or renamed.
    public init(path: String, slots: Int, slotCapacity: Int) throws(BusError) {
        guard (1...FrameRingLayout.maximumSlots).contains(slots) else {
            throw BusError(.invalidArgument, "frame ring \(path): slots must be in 1...\(FrameRingLayout.maximumSlots), not \(slots)")
        }
        guard slotCapacity >= 2, slotCapacity <= Int(Int32.max) * 4 else {
            throw BusError(.invalidArgument, "frame ring \(path): slot capacity must be 2 bytes to 8 GiB, not \(slotCapacity)")
        }
        let stride = FrameRingLayout.stride(capacity: slotCapacity)
        let (slotBytes, overflow) = slots.multipliedReportingOverflow(by: stride)
        guard !overflow, slotBytes <= Int.max - FrameRingLayout.fileHeaderSize else {
            throw BusError(.invalidArgument, "frame ring \(path): \(slots) slots of \(slotCapacity) bytes is too large")
        }
        var random = SystemRandomNumberGenerator()
        let header = FrameRingHeader(
            generation: UInt64.random(in: 1...FrameRingLayout.maximumGeneration, using: &random),
            slotCount: slots, slotCapacity: slotCapacity, slotStride: stride,
            created: Date().timeIntervalSince1970, writerPID: getpid())
        let length = header.fileSize

        func failure(_ what: String) -> BusError {
            BusError(.invalidArgument, "frame ring \(path): \(what): \(String(cString: strerror(errno)))")
        }
        let temporary = path + ".new-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        let fd = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        defer { close(fd) }
        var renamed = false
        defer { if !renamed { unlink(temporary) } }
        // The umask may have cleared bits, never added any; set exactly 0600 all the same.
        guard fchmod(fd, 0o600) == 0 else { throw failure("cannot make \(temporary) mode 0600") }
        guard ftruncate(fd, off_t(length)) == 0 else { throw failure("cannot size \(temporary) to \(length) bytes") }
        // Reserve the memory now: on a full tmpfs, a write into a hole of a mapped file kills
        // the process with SIGBUS; this turns that into an error at start-up.
        let reserved = posix_fallocate(fd, 0, off_t(length))
        guard reserved == 0 || reserved == EOPNOTSUPP || reserved == EINVAL else {
            errno = reserved
            throw failure("cannot reserve \(length) bytes for \(temporary)")
        }
        // The header is complete before the file appears under its name: a reader never maps
        // a half-initialised ring.
        let mapping = try FrameRingMapping(fd: fd, length: length, header: header, path: path)
        guard rename(temporary, path) == 0 else { throw failure("cannot rename \(temporary) to \(path)") }
        renamed = true

        self.path = path
        self.generation = header.generation
        self.slotCount = slots
        self.slotCapacity = slotCapacity
        self.mapping = mapping
    }

    /// The location of the last frame written, nil before the first.
    public var lastLocation: FrameLocation? { state.withLock { $0.last } }

    /// Writes one frame into the next slot and returns where it is.
    ///
    /// The slot is marked odd (being written), its header and pixels are copied in, and it is
    /// marked even with the new sequence (release ordering): readers of the slot see either the
    /// whole frame or a changed sequence. Never waits for readers.
    /// - Parameters:
    ///   - metadata: the frame's header; `pixelCount` must equal `pixels.count`.
    ///   - pixels: `width * height` pixels, row-major.
    /// - Returns: where the frame is, to be announced in a `camera.frame` notice.
    /// - Throws: ``BusError`` `invalid_argument` when the frame is larger than a slot (naming
    ///   both sizes), the pixel count does not match the size, or a field does not fit its slot
    ///   header field (an exposure id over 64 bytes, a negative binning).
    @discardableResult
    public func write(_ metadata: FrameMetadata, pixels: UnsafeBufferPointer<UInt16>) throws(BusError) -> FrameLocation {
        let encoded = try EncodedSlotHeader(metadata, pixelCount: pixels.count, capacity: slotCapacity, path: path)
        let byteCount = pixels.count * MemoryLayout<UInt16>.stride
        return state.withLock { state in
            let sequence = state.nextSequence
            state.nextSequence += 1
            let index = Int((sequence - 1) % UInt64(slotCount))
            let slot = mapping.slot(index)
            let seqlock = mapping.seqlock(index)
            aperture_ring_store_relaxed(seqlock, 2 &* sequence &- 1)
            aperture_ring_fence_release()
            encoded.store(at: slot, sequence: sequence)
            if byteCount > 0 {
                (slot + FrameRingLayout.slotHeaderSize).copyMemory(from: pixels.baseAddress!, byteCount: byteCount)
            }
            aperture_ring_store_release(seqlock, 2 &* sequence)
            let location = FrameLocation(slot: index, sequence: sequence, generation: generation)
            state.last = location
            return location
        }
    }

    /// Writes one frame from an array, as the `UnsafeBufferPointer` variant does.
    /// - Parameters:
    ///   - metadata: the frame's header.
    ///   - pixels: `width * height` pixels, row-major.
    /// - Returns: where the frame is.
    /// - Throws: ``BusError`` `invalid_argument` as the buffer variant does.
    @discardableResult
    public func write(_ metadata: FrameMetadata, pixels: [UInt16]) throws(BusError) -> FrameLocation {
        let result = pixels.withUnsafeBufferPointer { buffer in
            Result { () throws(BusError) in try write(metadata, pixels: buffer) }
        }
        return try result.get()
    }
}

/// A slot header checked and encoded before the slot is claimed, so that a bad frame leaves
/// the ring untouched.
struct EncodedSlotHeader {
    var frameNumber: Int64
    var width: UInt32
    var height: UInt32
    var flags: UInt32
    var binningX: UInt32
    var binningY: UInt32
    var subframeX: UInt32
    var subframeY: UInt32
    var exposureTime: Double
    var exposureStart: Double
    var readoutTime: Double
    var focus: Double
    var pixelBytes: UInt64
    var imageType: [UInt8]
    var exposureId: [UInt8]

    init(_ metadata: FrameMetadata, pixelCount: Int, capacity: Int, path: String) throws(BusError) {
        func invalid(_ what: String) -> BusError {
            BusError(.invalidArgument, "frame ring \(path): \(what)")
        }
        func field(_ name: String, _ value: Int) throws(BusError) -> UInt32 {
            guard let narrow = UInt32(exactly: value) else {
                throw invalid("\(name) \(value) is outside 0...\(UInt32.max)")
            }
            return narrow
        }
        guard metadata.width >= 1, metadata.height >= 1 else {
            throw invalid("width and height must be at least 1, not \(metadata.width) x \(metadata.height)")
        }
        width = try field("width", metadata.width)
        height = try field("height", metadata.height)
        let (pixels, overflow) = metadata.width.multipliedReportingOverflow(by: metadata.height)
        let bytes = pixels.multipliedReportingOverflow(by: metadata.pixelType.bytesPerPixel)
        guard !overflow, !bytes.overflow, bytes.partialValue <= capacity else {
            throw invalid("a \(metadata.width) x \(metadata.height) frame of UInt16 pixels is "
                + "\(overflow || bytes.overflow ? "too many" : String(bytes.partialValue)) bytes, "
                + "larger than the slot capacity of \(capacity) bytes")
        }
        guard pixels == pixelCount else {
            throw invalid("the metadata says \(metadata.width) x \(metadata.height) = \(pixels) pixels "
                + "but \(pixelCount) pixels were given")
        }
        binningX = try field("binning x", metadata.binningX)
        binningY = try field("binning y", metadata.binningY)
        subframeX = try field("subframe x", metadata.subframeX)
        subframeY = try field("subframe y", metadata.subframeY)
        frameNumber = Int64(metadata.frameNumber)
        exposureTime = metadata.exposureTime
        exposureStart = metadata.exposureStart
        readoutTime = metadata.readoutTime
        pixelBytes = UInt64(bytes.partialValue)
        if let focus = metadata.focus, !focus.isFinite {
            throw invalid("focus position \(focus) is not a finite number")
        }
        focus = metadata.focus ?? 0
        flags = (metadata.preview ? FrameRingLayout.flagPreview : 0)
            | (metadata.topDown ? FrameRingLayout.flagTopDown : 0)
            | (metadata.focus != nil ? FrameRingLayout.flagFocus : 0)
        imageType = Array(metadata.imageType.utf8)
        exposureId = Array(metadata.exposureId.utf8)
        guard imageType.count <= FrameRingLayout.Slot.imageTypeSize, !imageType.contains(0) else {
            throw invalid("image type '\(metadata.imageType)' is \(imageType.count) bytes of UTF-8; "
                + "at most \(FrameRingLayout.Slot.imageTypeSize), without NUL")
        }
        guard exposureId.count <= FrameRingLayout.Slot.exposureIdSize, !exposureId.contains(0) else {
            throw invalid("exposure id '\(metadata.exposureId)' is \(exposureId.count) bytes of UTF-8; "
                + "at most \(FrameRingLayout.Slot.exposureIdSize), without NUL")
        }
    }

    /// Stores everything but the seqlock into the slot header at `slot`.
    func store(at slot: UnsafeMutableRawPointer, sequence: UInt64) {
        typealias S = FrameRingLayout.Slot
        slot.storeBytes(of: sequence, toByteOffset: S.sequence, as: UInt64.self)
        slot.storeBytes(of: frameNumber, toByteOffset: S.frameNumber, as: Int64.self)
        slot.storeBytes(of: width, toByteOffset: S.width, as: UInt32.self)
        slot.storeBytes(of: height, toByteOffset: S.height, as: UInt32.self)
        slot.storeBytes(of: FramePixelType.uint16.rawValue, toByteOffset: S.pixelType, as: UInt32.self)
        slot.storeBytes(of: flags, toByteOffset: S.flags, as: UInt32.self)
        slot.storeBytes(of: binningX, toByteOffset: S.binningX, as: UInt32.self)
        slot.storeBytes(of: binningY, toByteOffset: S.binningY, as: UInt32.self)
        slot.storeBytes(of: subframeX, toByteOffset: S.subframeX, as: UInt32.self)
        slot.storeBytes(of: subframeY, toByteOffset: S.subframeY, as: UInt32.self)
        slot.storeBytes(of: exposureTime, toByteOffset: S.exposureTime, as: Double.self)
        slot.storeBytes(of: exposureStart, toByteOffset: S.exposureStart, as: Double.self)
        slot.storeBytes(of: readoutTime, toByteOffset: S.readoutTime, as: Double.self)
        slot.storeBytes(of: pixelBytes, toByteOffset: S.pixelBytes, as: UInt64.self)
        slot.storeBytes(of: focus, toByteOffset: S.focus, as: Double.self)
        Self.storeText(imageType, at: slot + S.imageType, size: S.imageTypeSize)
        Self.storeText(exposureId, at: slot + S.exposureId, size: S.exposureIdSize)
    }

    private static func storeText(_ bytes: [UInt8], at field: UnsafeMutableRawPointer, size: Int) {
        bytes.withUnsafeBytes { source in
            if source.count > 0 { field.copyMemory(from: source.baseAddress!, byteCount: source.count) }
        }
        if bytes.count < size {
            (field + bytes.count).initializeMemory(as: UInt8.self, repeating: 0, count: size - bytes.count)
        }
    }
}

extension FrameRingWriter {
    /// Removes the temporary files a ring writer killed mid-creation left beside `path`
    /// (`NAME.new-<pid>-<hex>`), those of processes that no longer exist. Called by the camera
    /// at start-up, before it creates its ring.
    /// - Parameter path: the ring's final path (e.g. `RUNTIME/camera.frames`).
    /// - Returns: the files removed.
    public static func removeStaleTemporaries(of path: String) -> [String] {
        let folder = (path as NSString).deletingLastPathComponent
        let stem = (path as NSString).lastPathComponent + ".new-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.isEmpty ? "." : folder) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(stem) {
            let pid = name.dropFirst(stem.count).prefix { $0 != "-" }
            // A live writer (this process, or another camera with the same runtime directory) keeps its file.
            if let pid = Int32(pid), pid > 0, kill(pid, 0) == 0 || errno == EPERM { continue }
            let file = folder + "/" + name
            if unlink(file) == 0 { removed.append(file) }
        }
        return removed
    }
}
