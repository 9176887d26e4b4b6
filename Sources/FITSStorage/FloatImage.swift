internal import CFITSIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// 32-bit floating-point images (BITPIX = -32): the master calibration frames.

extension FITSFile {
    /// Reads an image with its pixels as 32-bit floats, whatever its BITPIX (cfitsio converts
    /// and applies BZERO/BSCALE): a 16-bit frame reads as its unsigned values, a master as stored.
    ///
    /// - Parameter path: A FITS file, plain or tile-compressed, as ``read(path:)`` takes.
    /// - Returns: The dimensions, the pixels, and the header as ``read(path:)`` gives it
    ///   (HISTORY cards joined with newlines under `HISTORY`).
    /// - Throws: ``StorageError`` as ``read(path:)`` does.
    public static func readFloat(path: String) throws(StorageError)
        -> (width: Int, height: Int, pixels: [Float], header: [String: String]) {
        try readImage(path: path, cfitsioType: TFLOAT, as: Float.self)
    }

    /// Why a HISTORY text cannot be written as one card: empty, longer than 72 characters, or
    /// with characters outside printable ASCII; `nil` if it can.
    ///
    /// - Parameter history: The text.
    public static func historyProblem(_ history: String) -> String? {
        if history.isEmpty { return "a HISTORY text is empty" }
        if let bad = FITSFormat.firstNonPrintable(history) {
            return "HISTORY '\(history.prefix(72))' contains \(FITSFormat.describe(bad)), not printable ASCII"
        }
        if history.utf8.count > 72 { return "HISTORY '\(history.prefix(72))...' is longer than 72 characters" }
        return nil
    }
}

extension FrameStore {
    /// Saves a 32-bit floating-point image (BITPIX = -32) directly in the root, as
    /// `ROOT/PREFIX-NNNN.fits` (no night folder: masters live in a folder of their own), with
    /// the same durability as ``save(pixels:width:height:cards:comments:date:)``: a hidden
    /// temporary file, fsync, rename without replacing, folder fsync; `NNNN` continues from the
    /// highest number in the folder.
    ///
    /// - Parameters:
    ///   - pixels: `width * height` finite or NaN values, row after row.
    ///   - width: NAXIS1.
    ///   - height: NAXIS2.
    ///   - cards: Header cards after the mandatory ones (each must pass ``FITSFile/validate(_:)``).
    ///   - comments: COMMENT texts.
    ///   - history: HISTORY texts, one card each (each must pass ``FITSFile/historyProblem(_:)``).
    /// - Returns: The final path and the file's size.
    /// - Throws: ``StorageError`` naming the folder and the reason; nothing is left behind.
    public func saveFloat(
        pixels: UnsafeBufferPointer<Float>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], history: [String]
    ) throws(StorageError) -> SavedFile {
        let folder = root
        let context = "cannot save an image in \(folder)"
        if let problem = Self.prefixProblem(prefix) { throw StorageError(message: "\(context): \(problem)") }
        guard width >= 1, height >= 1 else { throw StorageError(message: "\(context): image size \(width)x\(height) is not at least 1x1") }
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, count == pixels.count else {
            throw StorageError(message: "\(context): \(pixels.count) pixels given for a \(width)x\(height) image")
        }
        if let problem = FITSFile.headerProblem(cards: cards, comments: comments) {
            throw StorageError(message: "\(context): \(problem.message)")
        }
        if let problem = history.lazy.compactMap(FITSFile.historyProblem).first {
            throw StorageError(message: "\(context): \(problem)")
        }
        let file = try FloatImageFile(pixels: pixels, width: width, height: height, cards: cards, comments: comments,
                                      history: history, path: folder)
        let created = try POSIXFile.makeDirectories(folder)
        for newFolder in created {
            try POSIXFile.syncDirectory(POSIXFile.parent(of: newFolder))
        }
        let number = try highestNumber(in: folder) + 1
        let temporary = folder + "/." + fileName(number) + ".tmp-\(getpid())-" + String(UInt32.random(in: .min ... .max), radix: 16)
        let bytes = try FITSFile.writeBytes(file.bytes, to: temporary, durable: true, startingWriteback: startsWriteback)
        let final = try place(temporary, in: folder, from: number)
        return SavedFile(path: final, bytes: bytes)
    }
}

extension FrameStore {
    /// Removes the hidden temporary files that ``saveFloat(pixels:width:height:cards:comments:history:)``
    /// left in the root when a crash interrupted it (`.PREFIX-NNNN.fits.tmp-<pid>-<hex>` of any
    /// prefix, of processes that no longer exist). Final files are never touched.
    /// - Returns: the files removed.
    public func removeStaleFloatTemporaries() -> [String] {
        Self.removeStaleTemporaries(in: root, head: ".")
    }
}

/// A whole 32-bit floating-point FITS file built by cfitsio in memory (`ffimem`): the primary
/// HDU (`FLOAT_IMG`), the cards, COMMENT and HISTORY cards, the pixels (`ffppr` with `TFLOAT`,
/// big-endian IEEE), CHECKSUM and DATASUM (`ffpcks`). Written to disk by the caller.
struct FloatImageFile: ~Copyable {
    private let file: InMemoryFITSFile

    /// Builds the file. The caller has checked sizes, cards and HISTORY texts.
    init(pixels: UnsafeBufferPointer<Float>, width: Int, height: Int, cards: [FITSCard], comments: [String],
         history: [String], path: String) throws(StorageError) {
        // Room for the whole file at once (cfitsio copies the extent on every growth).
        let headerCards = 16 + cards.count + history.count + comments.reduce(0) { $0 + FITSFormat.commentLines($1).count * 2 }
        let size = (headerCards * 80 + 2879) / 2880 * 2880 + (pixels.count * 4 + 2879) / 2880 * 2880
        file = try InMemoryFITSFile(size: size, growth: 1 << 20, action: "format", path: path) { file, status in
            var axes = [width, height]
            ffcrim(file, FLOAT_IMG, 2, &axes, &status)
            writeCards(cards, comments: comments, into: file, status: &status)
            for text in history where status == 0 { ffphis(file, text, &status) }
            ffppr(file, TFLOAT, 1, LONGLONG(pixels.count), UnsafeMutableRawPointer(mutating: pixels.baseAddress), &status)
            ffpcks(file, &status)
        }
    }

    /// The file's bytes, valid while this value lives.
    var bytes: UnsafeRawBufferPointer { file.bytes }
}
