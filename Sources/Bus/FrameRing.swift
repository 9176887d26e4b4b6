import Foundation

// The frame path (DESIGN.md, "Bus"; issue 5): frames travel from the camera to its readers
// through a ring of slots in a shared-memory file in the runtime directory, and only a small
// notice (a ``FrameLocation``) travels on the bus.
//
// File layout, version 1 (all integers little-endian, as the host; the ring never leaves
// the machine):
//
//   file header, 4096 bytes (one page)
//     0  magic "APFRAME1"         8 bytes
//     8  layout version           UInt32 (1)
//    12  file header size         UInt32 (4096)
//    16  generation               UInt64 (random, chosen when the file is created)
//    24  slot count               UInt32
//    28  slot header size         UInt32 (256)
//    32  slot capacity            UInt64 (bytes of pixels a slot holds)
//    40  slot stride              UInt64 (slot header + capacity, rounded up to a page)
//    48  created                  Double (unix time)
//    56  writer pid               Int32
//    60  reserved                 UInt32 (0)
//    64  header checksum          UInt64 (FNV-1a 64 of bytes 0..<64)
//
//   slot i at 4096 + i * stride: a 256-byte slot header, then the pixels
//     0  seqlock                  UInt64: 2s-1 while frame s is being written, 2s once it is
//                                 complete, 0 before the first frame; accessed atomically
//     8  sequence                 UInt64 (s, the frame's sequence number, from 1)
//    16  frame number             Int64
//    24  width, height            UInt32, UInt32
//    32  pixel type               UInt32 (1 = UInt16)
//    36  flags                    UInt32 (bit 0 preview, bit 1 rows top-down, bit 2 focus set)
//    40  binning x, y             UInt32, UInt32
//    48  subframe x, y            UInt32, UInt32
//    56  exposure time            Double (seconds)
//    64  exposure start           Double (unix time)
//    72  readout time             Double (unix time)
//    80  pixel bytes              UInt64 (width * height * 2)
//    88  image type               16 bytes, UTF-8, NUL-padded
//   104  exposure id              64 bytes, UTF-8, NUL-padded
//   168  focus position           Double (the observer's, from the comment; valid when bit 2 is set)
//   176  reserved up to 256
//
// Frame s goes to slot (s - 1) % slot count. The writer marks the slot odd, issues a release
// fence, copies the header and the pixels, then stores the even value with release ordering;
// it never waits for a reader. A reader loads the seqlock (acquire), copies or computes, issues
// an acquire fence and loads it again: a different value means the slot was overwritten
// meanwhile and what was read is discarded.

/// The well-known name of the camera's frame ring in the runtime directory.
extension EndpointName {
    /// `camera.frames`: the shared-memory frame ring the camera writes (a file, not a socket).
    public static let cameraFrames = "camera.frames"
}

/// The pixel type of the frames in a ring.
public enum FramePixelType: UInt32, Sendable, Hashable, Codable {
    /// Unsigned 16-bit pixels, the camera's native type.
    case uint16 = 1

    /// Bytes per pixel.
    public var bytesPerPixel: Int { 2 }
}

/// Which row of the pixels comes first, as FITS `ROWORDER` names it.
public enum RowOrder: String, Sendable, Hashable, Codable {
    /// The first row is the top of the image (the simulator, most CMOS cameras).
    case topDown = "TOP-DOWN"
    /// The first row is the bottom of the image (Andor's SDK).
    case bottomUp = "BOTTOM-UP"

    /// The order for a camera whose first row is, or is not, the top.
    public init(firstRowIsTop: Bool) { self = firstRowIsTop ? .topDown : .bottomUp }
}

/// Everything a ring slot says about its frame, besides the pixels: the one description of a
/// frame, which the `camera.frame` notice, the camera's `frame.latest` reply, the gateway's
/// `/v1/frames/latest` and its FITS copy are all made from.
///
/// Pixels are row-major, `width` pixels per row, `height` rows, in the order ``topDown`` says.
public struct FrameMetadata: Sendable, Hashable, Codable {
    /// The exposure request this frame belongs to (at most 64 bytes of UTF-8).
    public var exposureId: String
    /// The frame's number within its exposure (1 for the first).
    public var frameNumber: Int
    /// Pixels per row.
    public var width: Int
    /// Rows.
    public var height: Int
    /// The pixels' type.
    public var pixelType: FramePixelType
    /// Horizontal binning.
    public var binningX: Int
    /// Vertical binning.
    public var binningY: Int
    /// The subframe's first column on the sensor (unbinned pixels, from 0).
    public var subframeX: Int
    /// The subframe's first row on the sensor (unbinned pixels, from 0).
    public var subframeY: Int
    /// The exposure time in seconds.
    public var exposureTime: Double
    /// When the exposure started, in seconds since 1970 (UTC).
    public var exposureStart: Double
    /// When the readout finished, in seconds since 1970 (UTC).
    public var readoutTime: Double
    /// The image type (`bias`, `dark`, `flat`, `object`; at most 16 bytes of UTF-8).
    public var imageType: String
    /// A preview frame (not saved to FITS).
    public var preview: Bool
    /// Rows run from the top of the image down (FITS `ROWORDER = 'TOP-DOWN'`).
    public var topDown: Bool
    /// The focus position the observer gave for this frame (`focus: N` in the comment), nil when
    /// none was given.
    public var focus: Double?

    enum CodingKeys: String, CodingKey {
        case width, height, preview, focus
        case exposureId = "exposure_id"
        case frameNumber = "frame_number"
        case pixelType = "pixel_type"
        case binningX = "binning_x"
        case binningY = "binning_y"
        case subframeX = "subframe_x"
        case subframeY = "subframe_y"
        case exposureTime = "exposure_time"
        case exposureStart = "exposure_start"
        case readoutTime = "readout_time"
        case imageType = "image_type"
        case topDown = "top_down"
    }

    /// Creates frame metadata.
    /// - Parameters:
    ///   - exposureId: the exposure's id, at most 64 bytes of UTF-8.
    ///   - frameNumber: the frame's number within its exposure.
    ///   - width: pixels per row, at least 1.
    ///   - height: rows, at least 1.
    ///   - pixelType: the pixels' type.
    ///   - binningX: horizontal binning.
    ///   - binningY: vertical binning.
    ///   - subframeX: the subframe's first column on the sensor.
    ///   - subframeY: the subframe's first row on the sensor.
    ///   - exposureTime: seconds.
    ///   - exposureStart: unix time of the exposure's start.
    ///   - readoutTime: unix time of the end of the readout.
    ///   - imageType: `bias`, `dark`, `flat` or `object`, at most 16 bytes of UTF-8.
    ///   - preview: whether the frame is a preview.
    ///   - topDown: whether rows run from the top down.
    ///   - focus: the observer's focus position for this frame, if any (finite).
    public init(exposureId: String = "", frameNumber: Int = 0, width: Int, height: Int,
                pixelType: FramePixelType = .uint16, binningX: Int = 1, binningY: Int = 1,
                subframeX: Int = 0, subframeY: Int = 0, exposureTime: Double = 0,
                exposureStart: Double = 0, readoutTime: Double = 0, imageType: String = "object",
                preview: Bool = false, topDown: Bool = true, focus: Double? = nil) {
        self.exposureId = exposureId
        self.frameNumber = frameNumber
        self.width = width
        self.height = height
        self.pixelType = pixelType
        self.binningX = binningX
        self.binningY = binningY
        self.subframeX = subframeX
        self.subframeY = subframeY
        self.exposureTime = exposureTime
        self.exposureStart = exposureStart
        self.readoutTime = readoutTime
        self.imageType = imageType
        self.preview = preview
        self.topDown = topDown
        self.focus = focus
    }

    /// `width * height`.
    public var pixelCount: Int { width * height }

    /// ``topDown`` as FITS `ROWORDER`.
    public var rowOrder: RowOrder { RowOrder(firstRowIsTop: topDown) }
}

/// Where a frame is in a ring: what the camera's `camera.frame` notice carries.
public struct FrameLocation: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The slot, from 0.
    public var slot: Int
    /// The frame's sequence number in this ring, from 1.
    public var sequence: UInt64
    /// The ring file's generation: a new camera process creates a ring with a new one. At most
    /// 2^53 - 1, so that JSON readers that use doubles (JavaScript) keep it exact.
    public var generation: UInt64

    /// Creates a location.
    /// - Parameters:
    ///   - slot: the slot.
    ///   - sequence: the frame's sequence number.
    ///   - generation: the ring's generation.
    public init(slot: Int, sequence: UInt64, generation: UInt64) {
        self.slot = slot
        self.sequence = sequence
        self.generation = generation
    }

    /// `slot S, sequence N, generation G`, for logs.
    public var description: String { "slot \(slot), sequence \(sequence), generation \(generation)" }
}

/// A frame found in a ring: where it is and what it is.
public struct FrameRingEntry: Sendable, Hashable {
    /// Where the frame was read.
    public var location: FrameLocation
    /// Its header.
    public var metadata: FrameMetadata

    /// Creates an entry.
    /// - Parameters:
    ///   - location: where the frame was read.
    ///   - metadata: its header.
    public init(location: FrameLocation, metadata: FrameMetadata) {
        self.location = location
        self.metadata = metadata
    }
}

/// The newest frame after a given sequence, and how many frames were passed over to get to it.
public struct FrameRingNext: Sendable, Hashable {
    /// The frame.
    public var entry: FrameRingEntry
    /// Frames after the given sequence and before this one that the reader never looked at
    /// (frames it tried but found overwritten count as dropped instead).
    public var skipped: Int

    /// Creates a result.
    /// - Parameters:
    ///   - entry: the frame.
    ///   - skipped: the frames passed over.
    public init(entry: FrameRingEntry, skipped: Int) {
        self.entry = entry
        self.skipped = skipped
    }
}

/// What reading one frame from a ring gave.
public enum FrameReadResult: Sendable, Hashable {
    /// The frame, complete and consistent; the buffer holds its pixels.
    case frame(FrameMetadata)
    /// The writer reused the slot before or during the copy: the frame is lost (counted as
    /// dropped) and the buffer's contents are meaningless.
    case overwritten
    /// The location belongs to another generation of the ring (the camera restarted): call
    /// ``FrameRingReader/reopenIfReplaced()`` and use the new camera's locations.
    case staleGeneration
    /// The location or the slot's header makes no sense; the reason names what is wrong.
    case invalid(String)
}

/// Counters of a ``FrameRingReader``.
public struct FrameRingReaderCounters: Sendable, Hashable, Codable {
    /// Frames read completely (copied, or seen whole by a `withFrame` body).
    public var read: Int
    /// Frames lost because the writer overwrote their slot before or while they were read.
    public var dropped: Int
    /// Frames passed over by ``FrameRingReader/next(after:into:)`` to reach the newest one.
    public var skipped: Int
    /// Reads refused because the location or the slot's header was invalid.
    public var invalid: Int

    /// Creates counters.
    /// - Parameters:
    ///   - read: frames read.
    ///   - dropped: frames overwritten while being read.
    ///   - skipped: frames passed over.
    ///   - invalid: invalid reads.
    public init(read: Int = 0, dropped: Int = 0, skipped: Int = 0, invalid: Int = 0) {
        self.read = read
        self.dropped = dropped
        self.skipped = skipped
        self.invalid = invalid
    }
}

// MARK: - Layout

/// Offsets and sizes of the ring file, version 1 (see the comment at the top of this file).
enum FrameRingLayout {
    static let magic: [UInt8] = Array("APFRAME1".utf8)
    static let version: UInt32 = 1
    static let fileHeaderSize = 4096
    static let slotHeaderSize = 256
    static let pageSize = 4096
    /// The checksum covers bytes `0..<checksumOffset` of the file header.
    static let checksumOffset = 64
    /// The largest slot count a reader accepts (a sanity bound against a garbage header).
    static let maximumSlots = 1 << 16
    /// Generations stay below 2^53 so that JSON readers using doubles keep them exact.
    static let maximumGeneration: UInt64 = (1 << 53) - 1

    enum File {
        static let magic = 0
        static let version = 8
        static let headerSize = 12
        static let generation = 16
        static let slotCount = 24
        static let slotHeaderSize = 28
        static let slotCapacity = 32
        static let slotStride = 40
        static let created = 48
        static let writerPID = 56
        static let checksum = 64
    }

    enum Slot {
        static let seqlock = 0
        static let sequence = 8
        static let frameNumber = 16
        static let width = 24
        static let height = 28
        static let pixelType = 32
        static let flags = 36
        static let binningX = 40
        static let binningY = 44
        static let subframeX = 48
        static let subframeY = 52
        static let exposureTime = 56
        static let exposureStart = 64
        static let readoutTime = 72
        static let pixelBytes = 80
        static let imageType = 88
        static let imageTypeSize = 16
        static let exposureId = 104
        static let exposureIdSize = 64
        static let focus = 168
    }

    static let flagPreview: UInt32 = 1 << 0
    static let flagTopDown: UInt32 = 1 << 1
    static let flagFocus: UInt32 = 1 << 2

    /// Slot header plus `capacity` bytes of pixels, rounded up to whole pages so that every
    /// slot's pixels start page-aligned plus 256 bytes.
    static func stride(capacity: Int) -> Int {
        let bytes = slotHeaderSize + capacity
        return (bytes + pageSize - 1) / pageSize * pageSize
    }

    /// FNV-1a, 64 bits: enough to tell a damaged header from a good one (not a defence
    /// against someone forging a ring, who could as well write a valid one).
    static func checksum(_ bytes: UnsafeRawPointer, count: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for index in 0..<count {
            hash ^= UInt64(bytes.load(fromByteOffset: index, as: UInt8.self))
            hash &*= 0x0000_0100_0000_01b3
        }
        return hash
    }
}

/// The fields of a valid file header.
struct FrameRingHeader: Sendable, Hashable {
    var generation: UInt64
    var slotCount: Int
    var slotCapacity: Int
    var slotStride: Int
    var created: Double
    var writerPID: Int32

    /// The file size this header describes.
    var fileSize: Int { FrameRingLayout.fileHeaderSize + slotCount * slotStride }

    /// Writes this header, with its magic, version and checksum, at `base`.
    func store(at base: UnsafeMutableRawPointer) {
        typealias F = FrameRingLayout.File
        for (index, byte) in FrameRingLayout.magic.enumerated() {
            base.storeBytes(of: byte, toByteOffset: F.magic + index, as: UInt8.self)
        }
        base.storeBytes(of: FrameRingLayout.version, toByteOffset: F.version, as: UInt32.self)
        base.storeBytes(of: UInt32(FrameRingLayout.fileHeaderSize), toByteOffset: F.headerSize, as: UInt32.self)
        base.storeBytes(of: generation, toByteOffset: F.generation, as: UInt64.self)
        base.storeBytes(of: UInt32(slotCount), toByteOffset: F.slotCount, as: UInt32.self)
        base.storeBytes(of: UInt32(FrameRingLayout.slotHeaderSize), toByteOffset: F.slotHeaderSize, as: UInt32.self)
        base.storeBytes(of: UInt64(slotCapacity), toByteOffset: F.slotCapacity, as: UInt64.self)
        base.storeBytes(of: UInt64(slotStride), toByteOffset: F.slotStride, as: UInt64.self)
        base.storeBytes(of: created, toByteOffset: F.created, as: Double.self)
        base.storeBytes(of: writerPID, toByteOffset: F.writerPID, as: Int32.self)
        base.storeBytes(of: UInt32(0), toByteOffset: F.writerPID + 4, as: UInt32.self)
        let sum = FrameRingLayout.checksum(base, count: FrameRingLayout.checksumOffset)
        base.storeBytes(of: sum, toByteOffset: F.checksum, as: UInt64.self)
    }

    /// Reads and validates the header of a ring file of `fileSize` bytes mapped at `base`.
    /// - Throws: ``BusError`` `frame_ring_corrupt` naming the first thing that is wrong.
    static func load(from base: UnsafeRawPointer, fileSize: Int, path: String) throws(BusError) -> FrameRingHeader {
        typealias F = FrameRingLayout.File
        func corrupt(_ what: String) -> BusError {
            BusError(.frameRingCorrupt, "frame ring \(path): \(what)")
        }
        guard fileSize >= FrameRingLayout.fileHeaderSize else {
            throw corrupt("the file is \(fileSize) bytes, shorter than the \(FrameRingLayout.fileHeaderSize)-byte header (truncated)")
        }
        let magic = (0..<8).map { base.load(fromByteOffset: F.magic + $0, as: UInt8.self) }
        guard magic == FrameRingLayout.magic else {
            let shown = magic.map { (0x20..<0x7f).contains($0) ? String(UnicodeScalar($0)) : "." }.joined()
            throw corrupt("bad magic \"\(shown)\" (expected \"APFRAME1\"): not a frame ring")
        }
        let version = base.load(fromByteOffset: F.version, as: UInt32.self)
        guard version == FrameRingLayout.version else {
            throw corrupt("layout version \(version), this build reads version \(FrameRingLayout.version)")
        }
        let stored = base.load(fromByteOffset: F.checksum, as: UInt64.self)
        let computed = FrameRingLayout.checksum(base, count: FrameRingLayout.checksumOffset)
        guard stored == computed else {
            throw corrupt("header checksum \(hex(stored)) does not match its contents (\(hex(computed))): the header is damaged")
        }
        let headerSize = Int(base.load(fromByteOffset: F.headerSize, as: UInt32.self))
        guard headerSize == FrameRingLayout.fileHeaderSize else {
            throw corrupt("file header size \(headerSize), expected \(FrameRingLayout.fileHeaderSize)")
        }
        let slotHeaderSize = Int(base.load(fromByteOffset: F.slotHeaderSize, as: UInt32.self))
        guard slotHeaderSize == FrameRingLayout.slotHeaderSize else {
            throw corrupt("slot header size \(slotHeaderSize), expected \(FrameRingLayout.slotHeaderSize)")
        }
        let slotCount = Int(base.load(fromByteOffset: F.slotCount, as: UInt32.self))
        guard (1...FrameRingLayout.maximumSlots).contains(slotCount) else {
            throw corrupt("slot count \(slotCount) is outside 1...\(FrameRingLayout.maximumSlots)")
        }
        let capacity = base.load(fromByteOffset: F.slotCapacity, as: UInt64.self)
        let stride = base.load(fromByteOffset: F.slotStride, as: UInt64.self)
        guard capacity >= 2, capacity <= UInt64(Int32.max) * 4,
              stride == UInt64(FrameRingLayout.stride(capacity: Int(capacity))) else {
            throw corrupt("slot capacity \(capacity) bytes and slot stride \(stride) bytes do not fit together")
        }
        let header = FrameRingHeader(
            generation: base.load(fromByteOffset: F.generation, as: UInt64.self),
            slotCount: slotCount, slotCapacity: Int(capacity), slotStride: Int(stride),
            created: base.load(fromByteOffset: F.created, as: Double.self),
            writerPID: base.load(fromByteOffset: F.writerPID, as: Int32.self))
        guard fileSize >= header.fileSize else {
            throw corrupt("the file is \(fileSize) bytes but its header describes \(header.fileSize) "
                + "(\(slotCount) slots of \(stride) bytes after a \(FrameRingLayout.fileHeaderSize)-byte header): truncated")
        }
        return header
    }

    private static func hex(_ value: UInt64) -> String {
        "0x" + String(value, radix: 16)
    }
}

// MARK: - Mapping

/// One mapping of a ring file, unmapped when the last reference goes: a reader swaps in a new
/// mapping on ``FrameRingReader/reopenIfReplaced()`` while a read on the old one may still run.
///
/// `@unchecked Sendable`: the pointer and the fields never change after `init`; what the
/// mapped memory holds is shared with another process anyway and is accessed only through the
/// seqlock protocol.
final class FrameRingMapping: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let length: Int
    let header: FrameRingHeader
    let device: UInt64
    let inode: UInt64
    let writable: Bool

    /// Maps `fd` (`length` bytes) and validates the header.
    init(fd: Int32, length: Int, writable: Bool, path: String) throws(BusError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw BusError(.internal, "cannot inspect frame ring \(path): \(String(cString: strerror(errno)))")
        }
        let protection = writable ? PROT_READ | PROT_WRITE : PROT_READ
        guard let address = mmap(nil, length, protection, MAP_SHARED | MAP_POPULATE, fd, 0),
              address != MAP_FAILED else {
            throw BusError(.internal, "cannot map frame ring \(path) (\(length) bytes): \(String(cString: strerror(errno)))")
        }
        self.base = address
        self.length = length
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
        self.writable = writable
        do {
            self.header = try FrameRingHeader.load(from: address, fileSize: Int(info.st_size), path: path)
        } catch {
            munmap(address, length)
            throw error
        }
    }

    /// Maps a header that the caller has just written (the writer's own file).
    init(fd: Int32, length: Int, header: FrameRingHeader, path: String) throws(BusError) {
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw BusError(.internal, "cannot inspect frame ring \(path): \(String(cString: strerror(errno)))")
        }
        guard let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0),
              address != MAP_FAILED else {
            throw BusError(.internal, "cannot map frame ring \(path) (\(length) bytes): \(String(cString: strerror(errno)))")
        }
        self.base = address
        self.length = length
        self.header = header
        self.device = UInt64(info.st_dev)
        self.inode = UInt64(info.st_ino)
        self.writable = true
        header.store(at: address)
    }

    deinit { munmap(base, length) }

    /// The start of slot `index`'s header.
    @inline(__always)
    func slot(_ index: Int) -> UnsafeMutableRawPointer {
        base + FrameRingLayout.fileHeaderSize + index * header.slotStride
    }

    /// Slot `index`'s seqlock word.
    @inline(__always)
    func seqlock(_ index: Int) -> UnsafeMutablePointer<UInt64> {
        (slot(index) + FrameRingLayout.Slot.seqlock).assumingMemoryBound(to: UInt64.self)
    }
}
