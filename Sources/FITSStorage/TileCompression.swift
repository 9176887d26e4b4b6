internal import CFITSIO
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How ``FrameStore`` saves a frame.
public enum FITSCompression: String, Sendable, CaseIterable {
    /// A plain FITS file: the image in the primary HDU, `PREFIX-NNNN.fits`.
    case none
    /// cfitsio's Rice tile compression (`RICE_1`, one tile per row, lossless for the 16-bit
    /// integer pixels), `PREFIX-NNNN.fits.fz`: an empty primary HDU and the image in a
    /// compressed BINTABLE extension, as fpack writes it. Both HDUs carry CHECKSUM and DATASUM.
    case rice

    /// The file-name ending: `.fits` or `.fits.fz`.
    public var suffix: String {
        switch self {
        case .none: FITSFile.plainSuffix
        case .rice: FITSFile.compressedSuffix
        }
    }
}

extension FITSFile {
    /// The ending of a plain FITS file's name.
    public static let plainSuffix = ".fits"
    /// The ending of a tile-compressed FITS file's name (fpack's convention).
    public static let compressedSuffix = ".fits.fz"

    /// Whether a file name ends as a FITS file does: `.fits` or `.fits.fz`.
    ///
    /// - Parameter name: A file name or path.
    public static func isFITSName(_ name: String) -> Bool {
        name.hasSuffix(plainSuffix) || name.hasSuffix(compressedSuffix)
    }

    /// Whether a file name is a WCS version the plate solver wrote beside a frame
    /// (`NAME.wcs.fits`, `NAME.wcs-2.fits`..., or `NAME.wcs.fits.fz`... beside a compressed frame):
    /// a derived file, not a frame.
    ///
    /// - Parameter name: A file name or path.
    public static func isWCSVersion(_ name: String) -> Bool {
        name.range(of: #"\.wcs(-[0-9]+)?\.fits(\.fz)?$"#, options: .regularExpression) != nil
    }

    /// Whether a file name is a frame's: a FITS name (``isFITSName(_:)``), not hidden (a save's
    /// temporary), not a WCS version (``isWCSVersion(_:)``).
    ///
    /// - Parameter name: A file name.
    public static func isFrameName(_ name: String) -> Bool {
        !name.hasPrefix(".") && isFITSName(name) && !isWCSVersion(name)
    }

    /// A file name without its FITS ending (`image-0003.fits.fz` -> `image-0003`), or `nil`
    /// when it has neither `.fits` nor `.fits.fz`.
    ///
    /// - Parameter name: A file name or path.
    public static func stem(of name: String) -> String? {
        if name.hasSuffix(compressedSuffix) { return String(name.dropLast(compressedSuffix.count)) }
        if name.hasSuffix(plainSuffix) { return String(name.dropLast(plainSuffix.count)) }
        return nil
    }

    /// The most a compressed image is taken to expand: its pixels' bytes at most this many times
    /// the file's size. Rice on 16-bit rows of constant value stays under 110 (a 32-pixel block
    /// costs at least about 5 bits, a row its 8-byte descriptor and 2-byte first pixel); gzip
    /// on large tiles of a constant image reaches about 1,000. A file stating more (a few
    /// kilobytes claiming 60000 x 60000 pixels) is refused before anything is allocated.
    public static let maximumCompressionRatio = 4096

    /// Writes a tile-compressed image (``FITSCompression/rice``) to a new file. Like
    /// ``write(pixels:width:height:cards:comments:to:)``: written and closed, not fsynced;
    /// removed on failure.
    ///
    /// - Parameters:
    ///   - pixels: `width * height` pixels, row after row.
    ///   - width: Pixels per row (ZNAXIS1).
    ///   - height: Rows (ZNAXIS2).
    ///   - cards: Header cards of the image; each must pass ``validate(_:)``, no repeats.
    ///   - comments: COMMENT texts; each must pass ``validate(comment:)``.
    ///   - path: The file to create; it must not exist.
    /// - Throws: ``StorageError`` naming `path` and the reason.
    public static func writeCompressed(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], to path: String
    ) throws(StorageError) {
        try checkFrame(pixels: pixels, width: width, height: height, cards: cards, comments: comments, context: "cannot write \(path)")
        let file = try TileCompressedFile(pixels: pixels, width: width, height: height, cards: cards, comments: comments, path: path)
        _ = try writeFile(file, to: path, durable: false, startingWriteback: false)
    }

    /// The bytes ``writeCompressed(pixels:width:height:cards:comments:to:)`` would put in a
    /// file, built in memory: the CPU cost of a compressed save without I/O (benchmark).
    ///
    /// - Parameters:
    ///   - pixels: `width * height` pixels, row after row.
    ///   - width: ZNAXIS1.
    ///   - height: ZNAXIS2.
    ///   - cards: Header cards.
    ///   - comments: COMMENT texts.
    /// - Returns: The whole file.
    /// - Throws: ``StorageError`` for invalid cards or sizes.
    package static func encodeCompressed(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int, cards: [FITSCard], comments: [String]
    ) throws(StorageError) -> [UInt8] {
        try checkFrame(pixels: pixels, width: width, height: height, cards: cards, comments: comments, context: "cannot encode a frame")
        let file = try TileCompressedFile(pixels: pixels, width: width, height: height, cards: cards, comments: comments, path: "(memory)")
        return [UInt8](file.bytes)
    }

    /// Writes a compressed file's bytes to a new file (it must not exist), fsyncs it when
    /// `durable`, and closes it. Nothing is left behind on failure.
    /// - Returns: the file's size in bytes.
    static func writeFile(_ file: borrowing TileCompressedFile, to path: String, durable: Bool,
                          startingWriteback: Bool) throws(StorageError) -> Int {
        try writeBytes(file.bytes, to: path, durable: durable, startingWriteback: startingWriteback)
    }

    /// Writes a file's bytes to a new file (it must not exist), fsyncs it when `durable`, and
    /// closes it. Nothing is left behind on failure.
    /// - Returns: the file's size in bytes.
    static func writeBytes(_ bytes: UnsafeRawBufferPointer, to path: String, durable: Bool,
                           startingWriteback: Bool) throws(StorageError) -> Int {
        try POSIXFile.createFile(path, durable: durable) { descriptor throws(StorageError) in
            try POSIXFile.writeAll(descriptor, bytes, at: 0, path: path)
            if startingWriteback { POSIXFile.startWriteback(descriptor, offset: 0, length: bytes.count) }
            return bytes.count
        }
    }
}

/// A whole tile-compressed FITS file built by cfitsio in memory (`ffimem`): an empty primary
/// HDU, then the image compressed with `RICE_1` by `ffppr` (one tile per row, cfitsio's and
/// fpack's default), both HDUs with CHECKSUM and DATASUM (`ffpcks`). cfitsio does the
/// compression; the file is written to disk by the caller, so that a full disk is reported with
/// its `errno` and the save stays atomic (``FrameStore``).
struct TileCompressedFile: ~Copyable {
    private let file: InMemoryFITSFile

    /// Compresses an image. The caller has checked the sizes and cards (``FITSFile/checkFrame``).
    ///
    /// - Parameters:
    ///   - pixels: The image, row after row (not modified).
    ///   - width: ZNAXIS1.
    ///   - height: ZNAXIS2.
    ///   - cards: Validated cards for the image's header.
    ///   - comments: COMMENT texts.
    ///   - path: The file this is for, in error messages only.
    /// - Throws: ``StorageError`` with the cfitsio status.
    init(pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int, cards: [FITSCard], comments: [String],
         path: String) throws(StorageError) {
        // A small start, grown by cfitsio in steps of half the raw image (about what Rice leaves
        // of camera frames, so one or two steps). Small: cfitsio moves that whole extent each
        // time the heap grows, so a buffer sized for the frame up front makes a 2048x2048 save
        // take seconds instead of 60 ms.
        file = try InMemoryFITSFile(size: 2880, growth: max(1 << 20, pixels.count), action: "compress", path: path) { file, status in
            fits_set_compression_type(file, RICE_1, &status)
            var axes = [width, height]
            // With a compression type set, cfitsio writes an empty primary HDU first, then the
            // compressed image's BINTABLE.
            ffcrim(file, USHORT_IMG, 2, &axes, &status)
            // Room for the cards before the (empty) table: cfitsio cannot grow the header of a
            // compressed image whose table is not written yet ("tried to move past end of file").
            let lines = comments.reduce(0) { $0 + FITSFormat.commentLines($1).count }
            ffhdef(file, Int32(clamping: cards.count + lines + 8), &status)
            writeCards(cards, comments: comments, into: file, status: &status)
            ffppr(file, TUSHORT, 1, LONGLONG(pixels.count), UnsafeMutableRawPointer(mutating: pixels.baseAddress), &status)
            ffpcks(file, &status)
            var kind: Int32 = 0
            ffmahd(file, 1, &kind, &status)
            ffpcks(file, &status)
            ffmahd(file, 2, &kind, &status)
        }
    }

    /// The file's bytes, valid while this value lives.
    var bytes: UnsafeRawBufferPointer { file.bytes }
}

/// A whole FITS file that cfitsio builds in memory (`ffimem`), for the caller to write to disk
/// (so that a full disk is reported with its `errno` and a save stays atomic). It owns the
/// buffer: zeroed, and grown zeroed (``ZeroedMemory``), because cfitsio takes the whole buffer
/// as the file's current extent and reads back parts it has not written yet (a compressed
/// table's descriptors), which must be zeros, not what an earlier allocation left.
struct InMemoryFITSFile: ~Copyable {
    private let memory: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let memorySize: UnsafeMutablePointer<Int>
    /// The file's length (the end of its last HDU's data unit, where `build` left cfitsio).
    private let length: Int

    /// Opens an empty file in memory, lets `build` write its HDUs, and closes it.
    /// - Parameters:
    ///   - size: the buffer to start with, in bytes.
    ///   - growth: how much cfitsio adds each time it needs more.
    ///   - action: what is done, for error messages ("compress", "format").
    ///   - path: the file this is for, in error messages only.
    ///   - build: writes the HDUs into the open file, chaining cfitsio's status.
    /// - Throws: ``StorageError`` with the cfitsio status.
    init(size: Int, growth: Int, action: String, path: String,
         build: (UnsafeMutablePointer<fitsfile>, inout Int32) -> Void) throws(StorageError) {
        let memory = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        let memorySize = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        memorySize.pointee = size
        memory.pointee = ZeroedMemory.allocate(size)
        var status: Int32 = 0
        var end: LONGLONG = 0
        var opened: UnsafeMutablePointer<fitsfile>?
        if memory.pointee == nil { status = Int32(MEMORY_ALLOCATION) }
        if status == 0 { ffimem(&opened, memory, memorySize, growth, ZeroedMemory.reallocate, &status) }
        if let file = opened {
            build(file, &status)
            var headerStart: LONGLONG = 0
            var dataStart: LONGLONG = 0
            ffghadll(file, &headerStart, &dataStart, &end, &status)
            var closing: Int32 = 0
            ffclos(file, &closing)
            if status == 0 { status = closing }
        }
        guard status == 0, end > 0, Int(end) <= memorySize.pointee else {
            let failed = status
            ZeroedMemory.release(memory.pointee)
            memory.deallocate()
            memorySize.deallocate()
            ffcmsg()
            throw failed == 0
                ? StorageError(message: "cannot \(action) the image of \(path): cfitsio reported a file of \(end) bytes")
                : StorageError.fits("cannot \(action) the image of \(path)", status: failed)
        }
        self.memory = memory
        self.memorySize = memorySize
        self.length = Int(end)
    }

    deinit {
        ZeroedMemory.release(memory.pointee)
        memory.deallocate()
        memorySize.deallocate()
    }

    /// The file's bytes, valid while this value lives.
    var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: memory.pointee, count: length)
    }
}

/// Memory for cfitsio's memory files whose every byte cfitsio has not written is zero, also
/// after it grows the block (see ``TileCompressedFile``): each block starts with its size, 16
/// bytes before the address cfitsio sees, so that a growth knows which part is new.
enum ZeroedMemory {
    private static let prefix = 16

    /// A zeroed block of `size` bytes, or nil.
    static func allocate(_ size: Int) -> UnsafeMutableRawPointer? {
        guard let base = calloc(size + prefix, 1) else { return nil }
        base.storeBytes(of: size, as: Int.self)
        return base + prefix
    }

    /// Frees a block from ``allocate(_:)`` or ``reallocate``.
    static func release(_ block: UnsafeMutableRawPointer?) {
        guard let block else { return }
        free(block - prefix)
    }

    /// `realloc` as cfitsio calls it, the new bytes zeroed.
    static let reallocate: @convention(c) (UnsafeMutableRawPointer?, Int) -> UnsafeMutableRawPointer? = { old, size in
        guard let old else { return ZeroedMemory.allocate(size) }
        let base = old - ZeroedMemory.prefix
        let before = base.load(as: Int.self)
        guard let grown = realloc(base, size + ZeroedMemory.prefix) else { return nil }
        if size > before { memset(grown + ZeroedMemory.prefix + before, 0, size - before) }
        grown.storeBytes(of: size, as: Int.self)
        return grown + ZeroedMemory.prefix
    }
}
