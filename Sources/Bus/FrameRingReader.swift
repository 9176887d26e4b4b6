internal import CFrameRing
import Foundation
import Synchronization

/// The reading side of a frame ring: the processor, the gateway, any number of them.
///
/// The file is mapped read-only. Every read checks the slot's seqlock before and after: a
/// frame the writer overwrote meanwhile is reported as ``FrameReadResult/overwritten`` and
/// counted as dropped, never returned torn. The mapping outlives the writer: after the camera
/// crashes, the last frames stay readable; after it restarts (a new file, a new generation),
/// ``reopenIfReplaced()`` maps the new ring.
///
/// A consumer that must not fall behind (the processor) treats each `camera.frame` notice as
/// a wake-up and takes the newest frame with ``withNext(after:_:)`` or ``next(after:into:)``,
/// passing the sequence of the last frame it handled: notices that queued up while it was busy
/// then cost nothing, and what it passed over shows in ``counters``. A consumer that wants one
/// particular frame uses ``read(_:into:)`` or ``withFrame(_:_:)`` with the notice's location.
/// A ``FrameReadResult/staleGeneration`` result, or ``isReplaced``, means the camera restarted:
/// call ``reopenIfReplaced()``.
///
/// Safe to use from several threads; ``reopenIfReplaced()`` swaps the mapping while reads on
/// the old one finish undisturbed.
public final class FrameRingReader: Sendable {
    /// The ring file's path.
    public let path: String
    private let current: Mutex<FrameRingMapping>
    private let readCount = Atomic<Int>(0)
    private let droppedCount = Atomic<Int>(0)
    private let skippedCount = Atomic<Int>(0)
    private let invalidCount = Atomic<Int>(0)

    /// Maps the ring at `path` read-only and validates its header.
    /// - Parameter path: the ring file, normally ``EndpointName/cameraFrames`` in the runtime
    ///   directory.
    /// - Throws: ``BusError`` `frame_ring_missing` when there is no file (the camera has not
    ///   created it yet); `frame_ring_corrupt` naming what is wrong with the header (magic,
    ///   version, checksum, sizes against the file's size); `internal` when it cannot be mapped.
    public init(path: String) throws(BusError) {
        self.path = path
        self.current = Mutex(try Self.map(path))
    }

    private static func map(_ path: String) throws(BusError) -> FrameRingMapping {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            if errno == ENOENT {
                throw BusError(.frameRingMissing, "frame ring \(path) does not exist: \(reason)")
            }
            throw BusError(.invalidArgument, "cannot open frame ring \(path): \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw BusError(.internal, "cannot inspect frame ring \(path): \(String(cString: strerror(errno)))")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw BusError(.frameRingCorrupt, "frame ring \(path): not a regular file")
        }
        let size = Int(info.st_size)
        guard size >= FrameRingLayout.fileHeaderSize else {
            throw BusError(.frameRingCorrupt, "frame ring \(path): the file is \(size) bytes, shorter than the "
                + "\(FrameRingLayout.fileHeaderSize)-byte header (truncated)")
        }
        return try FrameRingMapping(fd: fd, length: size, writable: false, path: path)
    }

    private var mapping: FrameRingMapping { current.withLock { $0 } }

    /// The generation of the ring currently mapped.
    public var generation: UInt64 { mapping.header.generation }
    /// The number of slots of the ring currently mapped.
    public var slotCount: Int { mapping.header.slotCount }
    /// Bytes of pixels per slot of the ring currently mapped.
    public var slotCapacity: Int { mapping.header.slotCapacity }
    /// The pid of the process that created the ring currently mapped.
    public var writerPID: Int32 { mapping.header.writerPID }

    /// What this reader has read, dropped, skipped, and refused so far.
    public var counters: FrameRingReaderCounters {
        FrameRingReaderCounters(read: readCount.load(ordering: .relaxed),
                                dropped: droppedCount.load(ordering: .relaxed),
                                skipped: skippedCount.load(ordering: .relaxed),
                                invalid: invalidCount.load(ordering: .relaxed))
    }

    // MARK: Reading one frame

    /// Copies the frame at `location` into `buffer` (resized to the frame's pixel count).
    /// - Parameters:
    ///   - location: a location from the camera's `camera.frame` notice.
    ///   - buffer: receives the pixels; its contents are meaningful only for `.frame`.
    /// - Returns: `.frame` with the header; `.overwritten` (counted as dropped) when the writer
    ///   reused the slot before or during the copy; `.staleGeneration` when the location is of
    ///   another generation; `.invalid` naming what is wrong with the location or the slot.
    public func read(_ location: FrameLocation, into buffer: inout [UInt16]) -> FrameReadResult {
        switch access(location, in: mapping, { metadata, pixels in Self.copy(pixels, into: &buffer) }) {
        case .frame(let metadata, _): return .frame(metadata)
        case .overwritten: return .overwritten
        case .stale: return .staleGeneration
        case .invalid(let reason): return .invalid(reason)
        }
    }

    /// Runs `body` directly on the mapped pixels of the frame at `location`, without a copy,
    /// and returns its result if the frame was not overwritten meanwhile.
    ///
    /// `body` may see a frame that the writer is overwriting under it (values of two frames
    /// mixed): it must not trust the pixels for anything but a computation whose result this
    /// method discards in that case. It must not keep the buffer past its return.
    /// - Parameters:
    ///   - location: a location from the camera's `camera.frame` notice.
    ///   - body: computes on the header and the pixels (`metadata.pixelCount` of them).
    /// - Returns: `body`'s result, or nil when the frame was overwritten before or during
    ///   `body` (counted as dropped), the location is stale, or the slot is invalid.
    /// - Throws: whatever `body` throws.
    public func withFrame<T, E: Error>(
        _ location: FrameLocation,
        _ body: (FrameMetadata, UnsafeBufferPointer<UInt16>) throws(E) -> T
    ) throws(E) -> T? {
        if case .frame(_, let value) = try access(location, in: mapping, body) { return value }
        return nil
    }

    // MARK: The newest frame

    /// The location of the newest complete frame in the ring (the highest even seqlock), nil
    /// when no frame has been written yet.
    public func latestLocation() -> FrameLocation? {
        Self.newest(in: mapping)
    }

    /// Copies the newest complete frame into `buffer`.
    ///
    /// When the writer overwrites the newest frame while it is copied (counted as dropped),
    /// the then newest one is tried, a few times at most.
    /// - Parameter buffer: receives the pixels.
    /// - Returns: the frame's location and header, nil when the ring holds no complete frame.
    public func latest(into buffer: inout [UInt16]) -> FrameRingEntry? {
        let mapping = self.mapping
        for _ in 0..<Self.attempts(mapping) {
            guard let location = Self.newest(in: mapping) else { return nil }
            switch access(location, in: mapping, { _, pixels in Self.copy(pixels, into: &buffer) }) {
            case .frame(let metadata, _): return FrameRingEntry(location: location, metadata: metadata)
            case .overwritten: continue
            case .stale, .invalid: return nil
            }
        }
        return nil
    }

    /// Copies the newest frame whose sequence is greater than `sequence`, skipping any older
    /// ones: a reader that fell behind catches up at once, and counts what it passed over.
    /// - Parameters:
    ///   - sequence: the sequence of the last frame this reader handled (0 for none; a reader
    ///     joining late should start with ``latest(into:)`` to count nothing as skipped).
    ///   - buffer: receives the pixels.
    /// - Returns: the frame and how many frames were skipped (also added to
    ///   ``counters``), nil when there is no newer complete frame yet.
    public func next(after sequence: UInt64, into buffer: inout [UInt16]) -> FrameRingNext? {
        nextFrame(after: sequence) { _, pixels in Self.copy(pixels, into: &buffer) }?.next
    }

    /// Runs `body` on the mapped pixels of the newest frame whose sequence is greater than
    /// `sequence`, as ``next(after:into:)`` chooses it, without a copy (see
    /// ``withFrame(_:_:)`` for what `body` may assume).
    /// - Parameters:
    ///   - sequence: the sequence of the last frame this reader handled.
    ///   - body: computes on the header and the pixels.
    /// - Returns: the frame, the number skipped, and `body`'s result; nil when there is no newer
    ///   complete frame, or every attempt was overwritten.
    /// - Throws: whatever `body` throws.
    public func withNext<T, E: Error>(
        after sequence: UInt64,
        _ body: (FrameMetadata, UnsafeBufferPointer<UInt16>) throws(E) -> T
    ) throws(E) -> (next: FrameRingNext, value: T)? {
        try nextFrame(after: sequence, body)
    }

    /// The location of the oldest complete frame whose sequence is greater than `sequence`,
    /// nil when the ring holds none: a reader that must see every frame still in the ring takes
    /// them in order with this and ``withFrame(_:_:)`` (frames the writer overwrote before the
    /// reader came to them show as a gap in the sequence).
    public func oldestLocation(after sequence: UInt64) -> FrameLocation? {
        Self.complete(in: mapping, after: sequence, newest: false)
    }

    // MARK: Replacement

    /// Whether `path` now names a different file than the one mapped (the camera restarted).
    public var isReplaced: Bool {
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        let mapping = self.mapping
        return UInt64(info.st_ino) != mapping.inode || UInt64(info.st_dev) != mapping.device
    }

    /// Maps the ring anew if `path` now names a different file (a restarted camera's ring).
    ///
    /// Reads running on the old mapping finish on it; it is unmapped after the last one.
    /// When the file is missing (the camera is down), the old mapping stays.
    /// - Returns: true when a new ring was mapped.
    /// - Throws: ``BusError`` `frame_ring_corrupt` when the new file's header is invalid (the
    ///   old mapping stays), or another error from opening it.
    @discardableResult
    public func reopenIfReplaced() throws(BusError) -> Bool {
        guard isReplaced else { return false }
        let fresh: FrameRingMapping
        do {
            fresh = try Self.map(path)
        } catch where error.code == .frameRingMissing {
            return false
        }
        current.withLock { $0 = fresh }
        return true
    }

    // MARK: The seqlock protocol

    private enum Access<T> {
        case frame(FrameMetadata, T)
        case overwritten
        case stale
        case invalid(String)
    }

    /// Reads slot `location.slot` under the seqlock: load (acquire), copy the header, run
    /// `body` on the pixels, fence (acquire), load again. Counts the outcome.
    private func access<T, E: Error>(
        _ location: FrameLocation, in mapping: FrameRingMapping,
        _ body: (FrameMetadata, UnsafeBufferPointer<UInt16>) throws(E) -> T
    ) throws(E) -> Access<T> {
        let header = mapping.header
        guard location.generation == header.generation else { return .stale }
        func invalid(_ reason: String) -> Access<T> {
            invalidCount.add(1, ordering: .relaxed)
            return .invalid(reason)
        }
        guard location.slot >= 0, location.slot < header.slotCount else {
            return invalid("slot \(location.slot) is outside the ring's \(header.slotCount) slots")
        }
        guard location.sequence >= 1,
              (location.sequence - 1) % UInt64(header.slotCount) == UInt64(location.slot) else {
            return invalid("sequence \(location.sequence) is never written to slot \(location.slot) "
                + "of a \(header.slotCount)-slot ring")
        }
        let seqlock = mapping.seqlock(location.slot)
        let before = aperture_ring_load_acquire(seqlock)
        let wanted = 2 &* location.sequence
        if before != wanted {
            // The frame in the slot, complete or being written: (before + 1) / 2, which
            // cannot overflow written this way (a damaged file may hold all ones).
            let holding = before / 2 + before % 2
            if holding > location.sequence {
                droppedCount.add(1, ordering: .relaxed)
                return .overwritten
            }
            if holding == location.sequence {
                return invalid("frame \(location.sequence) in slot \(location.slot) is still being written")
            }
            return invalid("slot \(location.slot) holds frame \(holding), not yet frame \(location.sequence)")
        }
        let slot = mapping.slot(location.slot)
        // Copy the header first, so that what is parsed below cannot change under the parser.
        let parsed = withUnsafeTemporaryAllocation(byteCount: FrameRingLayout.slotHeaderSize, alignment: 16) { copy in
            copy.copyMemory(from: UnsafeRawBufferPointer(start: slot, count: FrameRingLayout.slotHeaderSize))
            return SlotHeader.parse(UnsafeRawPointer(copy.baseAddress!), capacity: header.slotCapacity)
        }
        func unchanged() -> Bool {
            aperture_ring_fence_acquire()
            return aperture_ring_load_relaxed(seqlock) == before
        }
        switch parsed {
        case .invalid(let reason):
            // A header torn by the writer parses as garbage: that is an overwrite, not a fault.
            guard unchanged() else {
                droppedCount.add(1, ordering: .relaxed)
                return .overwritten
            }
            return invalid("slot \(location.slot): \(reason)")
        case .valid(let sequence, let metadata):
            let pixels = UnsafeBufferPointer(
                start: UnsafeRawPointer(slot + FrameRingLayout.slotHeaderSize).assumingMemoryBound(to: UInt16.self),
                count: metadata.pixelCount)
            let value = try withExtendedLifetime(mapping) { () throws(E) -> T in try body(metadata, pixels) }
            guard unchanged() else {
                droppedCount.add(1, ordering: .relaxed)
                return .overwritten
            }
            guard sequence == location.sequence else {
                return invalid("slot \(location.slot) says sequence \(sequence) under seqlock for \(location.sequence)")
            }
            readCount.add(1, ordering: .relaxed)
            return .frame(metadata, value)
        }
    }

    /// The newest frame after `sequence`, retrying on overwrites, counting skips.
    private func nextFrame<T, E: Error>(
        after sequence: UInt64,
        _ body: (FrameMetadata, UnsafeBufferPointer<UInt16>) throws(E) -> T
    ) throws(E) -> (next: FrameRingNext, value: T)? {
        let mapping = self.mapping
        var droppedHere: UInt64 = 0
        for _ in 0..<Self.attempts(mapping) {
            guard let location = Self.newest(in: mapping), location.sequence > sequence else { return nil }
            switch try access(location, in: mapping, body) {
            case .frame(let metadata, let value):
                // Every frame in (sequence, location.sequence) was dropped here or skipped.
                let passed = location.sequence - sequence - 1
                let skipped = Int(passed >= droppedHere ? passed - droppedHere : 0)
                skippedCount.add(skipped, ordering: .relaxed)
                let entry = FrameRingEntry(location: location, metadata: metadata)
                return (FrameRingNext(entry: entry, skipped: skipped), value)
            case .overwritten:
                droppedHere += 1
            case .stale, .invalid:
                return nil
            }
        }
        return nil
    }

    /// How often to chase the newest frame before giving up (a writer lapping the reader on
    /// every attempt means the reader cannot keep up with a single frame).
    private static func attempts(_ mapping: FrameRingMapping) -> Int {
        max(4, mapping.header.slotCount + 2)
    }

    private static func newest(in mapping: FrameRingMapping) -> FrameLocation? {
        complete(in: mapping, after: 0, newest: true)
    }

    /// The newest or the oldest complete frame with a sequence greater than `sequence`.
    private static func complete(in mapping: FrameRingMapping, after sequence: UInt64, newest: Bool) -> FrameLocation? {
        var best: (slot: Int, value: UInt64)?
        for index in 0..<mapping.header.slotCount {
            let value = aperture_ring_load_acquire(mapping.seqlock(index))
            guard value != 0, value & 1 == 0, value / 2 > sequence else { continue }
            if let current = best?.value, newest ? value <= current : value >= current { continue }
            best = (index, value)
        }
        guard let best else { return nil }
        return FrameLocation(slot: best.slot, sequence: best.value / 2, generation: mapping.header.generation)
    }

    private static func copy(_ pixels: UnsafeBufferPointer<UInt16>, into buffer: inout [UInt16]) {
        if buffer.count > pixels.count {
            buffer.removeLast(buffer.count - pixels.count)
        } else if buffer.count < pixels.count {
            buffer.append(contentsOf: repeatElement(0, count: pixels.count - buffer.count))
        }
        guard let source = pixels.baseAddress else { return }
        buffer.withUnsafeMutableBytes { target in
            target.baseAddress!.copyMemory(from: source, byteCount: pixels.count * MemoryLayout<UInt16>.stride)
        }
    }
}

/// Parsing a copied slot header.
enum SlotHeader {
    enum Parsed {
        case valid(sequence: UInt64, metadata: FrameMetadata)
        case invalid(String)
    }

    static func parse(_ header: UnsafeRawPointer, capacity: Int) -> Parsed {
        typealias S = FrameRingLayout.Slot
        func u32(_ offset: Int) -> Int { Int(header.load(fromByteOffset: offset, as: UInt32.self)) }
        func f64(_ offset: Int) -> Double { header.load(fromByteOffset: offset, as: Double.self) }
        func text(_ offset: Int, _ size: Int) -> String? {
            let field = UnsafeRawBufferPointer(start: header + offset, count: size)
            let length = field.firstIndex(of: 0) ?? size
            return String(validating: field[..<length], as: UTF8.self)
        }
        let width = u32(S.width)
        let height = u32(S.height)
        let pixelTypeCode = header.load(fromByteOffset: S.pixelType, as: UInt32.self)
        guard let pixelType = FramePixelType(rawValue: pixelTypeCode) else {
            return .invalid("unknown pixel type \(pixelTypeCode)")
        }
        // Each is below 2^32, so their product may not fit an Int (a damaged or hostile file).
        let (pixels, overflow) = width.multipliedReportingOverflow(by: height)
        guard width >= 1, height >= 1, !overflow, pixels <= capacity / pixelType.bytesPerPixel else {
            return .invalid("a \(width) x \(height) frame does not fit the slot capacity of \(capacity) bytes")
        }
        let bytes = pixels * pixelType.bytesPerPixel
        guard header.load(fromByteOffset: S.pixelBytes, as: UInt64.self) == UInt64(bytes) else {
            return .invalid("pixel byte count does not match \(width) x \(height)")
        }
        guard let imageType = text(S.imageType, S.imageTypeSize) else {
            return .invalid("image type is not UTF-8")
        }
        guard let exposureId = text(S.exposureId, S.exposureIdSize) else {
            return .invalid("exposure id is not UTF-8")
        }
        let flags = header.load(fromByteOffset: S.flags, as: UInt32.self)
        if flags & FrameRingLayout.flagFocus != 0, !f64(S.focus).isFinite {
            return .invalid("focus position is not a finite number")
        }
        let metadata = FrameMetadata(
            exposureId: exposureId,
            frameNumber: Int(header.load(fromByteOffset: S.frameNumber, as: Int64.self)),
            width: width, height: height, pixelType: pixelType,
            binningX: u32(S.binningX), binningY: u32(S.binningY),
            subframeX: u32(S.subframeX), subframeY: u32(S.subframeY),
            exposureTime: f64(S.exposureTime), exposureStart: f64(S.exposureStart),
            readoutTime: f64(S.readoutTime), imageType: imageType,
            preview: flags & FrameRingLayout.flagPreview != 0,
            topDown: flags & FrameRingLayout.flagTopDown != 0,
            focus: flags & FrameRingLayout.flagFocus != 0 ? f64(S.focus) : nil)
        return .valid(sequence: header.load(fromByteOffset: S.sequence, as: UInt64.self), metadata: metadata)
    }
}
