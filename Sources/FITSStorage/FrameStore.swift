import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where saved frames go: `ROOT/YYYYMMDD/PREFIX-NNNN.fits` (or `.fits.fz` with
/// ``FITSCompression/rice``), durably, never overwriting.
///
/// - The folder is the UTC date of the frame (it rolls over at midnight UTC).
/// - `NNNN` continues from the highest number already in that folder: at least 4 digits, more
///   when needed (`PREFIX-10000.fits`). Files named by hand (`image-0007.fits`) count too.
///   `.fits` and `.fits.fz` names are one sequence: `image-0007.fits.fz` is never written
///   beside `image-0007.fits`, whichever form the store saves.
/// - A frame is written under a hidden temporary name in the same folder
///   (`.PREFIX-NNNN.fits.tmp-<pid>-<random>`), fsynced, then renamed to its final name without
///   replacing anything (`renameat2(RENAME_NOREPLACE)`, or `link`), and the folder is fsynced. If
///   the name was taken meanwhile (another `FrameStore`, another process), the next number is
///   tried. A crash leaves at most a hidden temporary file, never a partial file under a final name.
///
/// `save` blocks on disk I/O: call it from a thread of its own, not from the cooperative pool.
public struct FrameStore: Sendable {
    /// The data root, e.g. `./data`.
    public let root: String
    /// The file-name prefix, e.g. `image`.
    public let prefix: String
    /// How frames are saved: plain `.fits` or Rice tile-compressed `.fits.fz`.
    public let compression: FITSCompression
    /// Whether a save asks the kernel to start writing each MiB to the disk as soon as it is
    /// written (`sync_file_range`), so that the disk works while the rest of the frame is encoded
    /// and the final `fsync` has less to wait for. On by default; the benchmark compares both.
    package var startsWriteback = true
    /// The folder saved into last and the number after the last one saved there, so that a save
    /// does not list the folder (a night's folder holds thousands of files by morning).
    private let next = NextNumber()

    /// Makes a store. Nothing is created until the first save.
    ///
    /// - Parameters:
    ///   - root: The data root; created (mode 0755, with missing parents) on the first save.
    ///   - prefix: The file-name prefix: not empty, no `/`, not starting with `.`; checked by
    ///     ``save(pixels:width:height:cards:comments:date:)``.
    ///   - compression: How frames are saved (plain by default).
    public init(root: String, prefix: String, compression: FITSCompression = .none) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed.isEmpty ? "." : trimmed
        self.prefix = prefix
        self.compression = compression
    }

    /// The folder for a date: `ROOT/YYYYMMDD`, the UTC day.
    ///
    /// - Parameter date: Usually the start of the exposure.
    /// - Returns: The folder's path.
    public func folder(for date: Date) -> String {
        (root == "/" ? "" : root) + "/" + FITSTime.dayFolderName(date)
    }

    /// Saves one frame as `ROOT/YYYYMMDD/PREFIX-NNNN.fits`, or `PREFIX-NNNN.fits.fz` when
    /// compressed (see ``FrameStore``).
    ///
    /// - Parameters:
    ///   - pixels: `width * height` pixels, row after row; `pixels[0..<width]` is FITS row 1.
    ///   - width: Pixels per row (NAXIS1).
    ///   - height: Rows (NAXIS2).
    ///   - cards: Header cards after the mandatory ones (each must pass ``FITSFile/validate(_:)``).
    ///   - comments: COMMENT texts (each must pass ``FITSFile/validate(comment:)``).
    ///   - date: Chooses the folder (its UTC day); usually the start of the exposure.
    /// - Returns: The final path and the file's size in bytes.
    /// - Throws: ``StorageError`` naming the folder or file and the reason (an invalid card or
    ///   prefix, a folder that cannot be created, "No space left on device", "Read-only file
    ///   system", "Permission denied", "File too large"...). Nothing from this call is left
    ///   behind: no partial file under any name, no temporary file.
    public func save(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], date: Date
    ) throws(StorageError) -> SavedFile {
        try save(pixels: pixels, width: width, height: height, cards: cards, comments: comments, date: date, firstNumber: nil)
    }

    /// ``save(pixels:width:height:cards:comments:date:)`` with the first number to try given
    /// (tests: it makes a name collision deterministic); `nil` scans the folder.
    func save(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], date: Date, firstNumber: Int?
    ) throws(StorageError) -> SavedFile {
        let folder = folder(for: date)
        if let problem = Self.prefixProblem(prefix) {
            throw StorageError(message: "cannot save a frame in \(folder): \(problem)")
        }
        try FITSFile.checkFrame(
            pixels: pixels, width: width, height: height, cards: cards, comments: comments,
            context: "cannot save a frame in \(folder)")
        // Formatted (and for Rice, compressed) before anything is created: a refused card leaves
        // no folder behind.
        let encoded = try Encoded(compression, pixels: pixels, width: width, height: height, cards: cards,
                                  comments: comments, folder: folder)

        let created = try POSIXFile.makeDirectories(folder)
        // A new folder's name lives in its parent: make that durable too.
        for newFolder in created {
            try POSIXFile.syncDirectory(POSIXFile.parent(of: newFolder))
        }
        var number: Int
        if let firstNumber {
            number = firstNumber
        } else if !created.contains(folder), let known = next.number(in: folder) {
            number = known
        } else {
            number = try highestNumber(in: folder) + 1
        }

        let temporary = folder + "/." + fileName(number) + ".tmp-\(getpid())-" + String(UInt32.random(in: .min ... .max), radix: 16)
        let bytes: Int
        switch consume encoded {
        case .plain(let header):
            bytes = try FITSFile.writeSynced(pixels, header: header, to: temporary, startingWriteback: startsWriteback)
        case .compressed(let file):
            bytes = try FITSFile.writeFile(file, to: temporary, durable: true, startingWriteback: startsWriteback)
        }

        let final = try place(temporary, in: folder, from: number)
        return SavedFile(path: final, bytes: bytes)
    }

    /// Gives a complete, fsynced temporary file in `folder` its final name: the first free
    /// `PREFIX-NNNN` from `number` on (renamed without replacing; the folder fsynced).
    /// - Returns: the final path.
    /// - Throws: ``StorageError``; the temporary file is removed.
    func place(_ temporary: String, in folder: String, from first: Int) throws(StorageError) -> String {
        var number = first
        var attempts = 0
        while true {
            let final = folder + "/" + fileName(number)
            // The number is taken if the other form holds it (renameat2 only sees this name).
            let result = POSIXFile.exists(folder + "/" + fileName(number, compression: otherForm))
                ? EEXIST : POSIXFile.renameWithoutReplacing(temporary, final)
            if result == 0 {
                do {
                    try POSIXFile.syncDirectory(folder)
                } catch {
                    // The caller is told the save failed: leave nothing behind.
                    _ = unlink(final)
                    throw error
                }
                next.set(number + 1, in: folder)
                return final
            }
            guard result == EEXIST else {
                _ = unlink(temporary)
                throw StorageError.posix("cannot rename \(temporary) to", final, errno: result)
            }
            // Taken meanwhile by another writer: try the next number; after many collisions,
            // look at the folder again in case another writer has run far ahead.
            attempts += 1
            if attempts > 10_000 {
                _ = unlink(temporary)
                throw StorageError(message: "cannot save a frame in \(folder): no free name after \(attempts) attempts")
            }
            number += 1
            if attempts % 16 == 0, let highest = try? highestNumber(in: folder) {
                number = max(number, highest + 1)
            }
        }
    }

    /// Removes the hidden temporary files of saves that a crash interrupted
    /// (`.PREFIX-NNNN.fits.tmp-<pid>-<hex>` or `.PREFIX-NNNN.fits.fz.tmp-<pid>-<hex>` in the day
    /// folders under the root, whichever form this store saves), those of
    /// processes that no longer exist: a live writer's are left alone. The camera calls it at
    /// start-up. Final files are never touched.
    /// - Returns: the files removed.
    public func removeStaleTemporaries() -> [String] {
        guard let folders = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        let head = "." + prefix + "-"
        var removed: [String] = []
        for day in folders where Self.isNightFolderName(day) {
            removed += Self.removeStaleTemporaries(in: (root == "/" ? "" : root) + "/" + day, head: head)
        }
        return removed
    }

    /// Removes `folder`'s hidden temporaries whose names start with `head` and whose writer
    /// (the pid in the name) no longer exists.
    /// - Returns: the files removed.
    static func removeStaleTemporaries(in folder: String, head: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var removed: [String] = []
        for name in names where name.hasPrefix(head) {
            guard let marker = name.range(of: ".fits.tmp-") ?? name.range(of: ".fits.fz.tmp-") else { continue }
            let pid = name[marker.upperBound...].prefix { $0 != "-" }
            if let pid = Int32(pid), pid > 0, kill(pid, 0) == 0 || errno == EPERM { continue }
            if unlink(folder + "/" + name) == 0 { removed.append(folder + "/" + name) }
        }
        return removed
    }

    /// Whether a folder name is a night folder's: `YYYYMMDD`, eight ASCII digits.
    ///
    /// - Parameter name: A folder name under the data root.
    public static func isNightFolderName(_ name: String) -> Bool {
        name.utf8.count == 8 && name.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }

    /// `PREFIX-NNNN.fits` (or `.fits.fz`), at least 4 digits, in this store's form.
    func fileName(_ number: Int) -> String {
        fileName(number, compression: compression)
    }

    /// `PREFIX-NNNN` and the ending of `compression`.
    func fileName(_ number: Int, compression: FITSCompression) -> String {
        "\(prefix)-\(FITSTime.pad(number, 4))" + compression.suffix
    }

    /// The form this store does not save, whose names share the numbers.
    private var otherForm: FITSCompression { compression == .none ? .rice : .none }

    /// Why a prefix cannot be used, or `nil`.
    static func prefixProblem(_ prefix: String) -> String? {
        if prefix.isEmpty { return "the file-name prefix is empty" }
        if prefix.hasPrefix(".") { return "the file-name prefix '\(prefix)' starts with '.' (hidden files are temporary)" }
        if prefix.contains("/") || prefix.utf8.contains(0) {
            return "the file-name prefix '\(prefix)' contains '/' or NUL"
        }
        return nil
    }

    /// The highest `NNNN` among `PREFIX-NNNN.fits` and `PREFIX-NNNN.fits.fz` in `folder` (any
    /// number of digits), or 0.
    func highestNumber(in folder: String) throws(StorageError) -> Int {
        guard let directory = opendir(folder) else {
            throw .posix("cannot list folder", folder, errno: errno)
        }
        defer { closedir(directory) }
        let head = Array((prefix + "-").utf8)
        let tails = [Array(FITSFile.plainSuffix.utf8), Array(FITSFile.compressedSuffix.utf8)]
        var highest = 0
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: &entry.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 })
            }
            guard name.starts(with: head),
                let tail = tails.first(where: { name.count > head.count + $0.count && name.suffix($0.count).elementsEqual($0) })
            else { continue }
            let digits = name[head.count..<(name.count - tail.count)]
            guard digits.count <= 18, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                continue
            }
            let number = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            highest = max(highest, number)
        }
        return highest
    }
}

/// A frame saved by ``FrameStore``.
public struct SavedFile: Sendable, Hashable {
    /// The final path, e.g. `./data/20261121/image-0008.fits` (or `.fits.fz`).
    public var path: String
    /// The file's size in bytes (header and data unit, in 2880-byte blocks).
    public var bytes: Int

    /// Makes a value.
    ///
    /// - Parameters:
    ///   - path: The final path.
    ///   - bytes: The file's size in bytes.
    public init(path: String, bytes: Int) {
        self.path = path
        self.bytes = bytes
    }
}

/// The number the next save in a folder tries first: the one after the last saved there.
private final class NextNumber: Sendable {
    private let state = Mutex<(folder: String, number: Int)?>(nil)

    func number(in folder: String) -> Int? {
        state.withLock { $0?.folder == folder ? $0?.number : nil }
    }

    func set(_ number: Int, in folder: String) {
        state.withLock { $0 = (folder, number) }
    }
}

/// A frame ready to be written: its plain header (the data unit is streamed), or its whole
/// compressed file.
private enum Encoded: ~Copyable {
    case plain(CFITSIOHeader)
    case compressed(TileCompressedFile)

    init(_ compression: FITSCompression, pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
         cards: [FITSCard], comments: [String], folder: String) throws(StorageError) {
        switch compression {
        case .none:
            self = .plain(try CFITSIOHeader(width: width, height: height, cards: cards, comments: comments, path: folder))
        case .rice:
            self = .compressed(try TileCompressedFile(pixels: pixels, width: width, height: height, cards: cards,
                                                      comments: comments, path: folder))
        }
    }
}
