import ApertureProtocol
import Crypto
import FITSStorage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One file's catalog values, read from the file alone (its bytes and its header).
package struct FrameEntry: Sendable, Hashable {
    /// The path relative to the data root.
    var path: String
    var bytes: Int64
    /// The file's modification time (seconds since 1970); a file without DATE-OBS outside a
    /// night folder gets its night from it.
    var modified: Double
    var sha256: String
    var night: String
    /// DATE-OBS in canonical form; empty when the header has none.
    var dateObs: String
    var exptime: Double?
    var imagetyp: String?
    var filter: String?
    var object: String?
    var exposure: String?
    var frame: Int?
    var xbinning: Int?
    var ybinning: Int?
    var xorigin: Int?
    var yorigin: Int?
    var width: Int?
    var height: Int?
    var ccdTemp: Double?
    var setTemp: Double?
    var gain: String?
    var readoutMode: String?
    var ra: Double?
    var dec: Double?
    var plan: String?
    var planStep: Int?
    var planIndex: Int?
    /// SITE and CAMERA, the facility identity (nil in files older than them, or when the value is
    /// no ``FacilityName``: a user's own SITE keyword of an older file).
    var site: String?
    var camera: String?
    /// Every card, keyword to value (strings unquoted), as JSON.
    var headers: [String: String]
}

/// Why a file could not be catalogued.
struct IndexError: Error, Sendable, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// Reads what the catalog keeps of a FITS file: its size, SHA-256 and header values.
package enum FrameIndexer {
    /// Reads one file.
    /// - Parameters:
    ///   - root: the data root.
    ///   - path: the file's path relative to it.
    /// - Throws: ``IndexError`` naming the file and the reason (gone, unreadable, not FITS).
    static func index(root: String, path: String) throws(IndexError) -> FrameEntry {
        let full = root + "/" + path
        // A plain file's header is parsed from the first block read for the hash; a compressed
        // one (its image in the second HDU) is read by cfitsio, which restores its header.
        var parsed: [(keyword: String, value: String)]?
        var parseError: StorageError?
        let digest = try hash(full) { first in
            do throws(StorageError) { parsed = try FITSFile.primaryImageHeader(first, path: full) } catch { parseError = error }
        }
        let cards: [(keyword: String, value: String)]
        do throws(StorageError) {
            if let parseError { throw parseError }
            if let parsed { cards = parsed } else { cards = try FITSFile.readHeader(path: full) }
        } catch {
            throw IndexError(message: "\(path): \(error.message)")
        }
        var headers: [String: String] = [:]
        headers.reserveCapacity(cards.count)
        for card in cards where headers[card.keyword] == nil {
            // Strings without their quotes (FITSFile's own reading of a value); the rest as written.
            headers[card.keyword] = FITSFile.displayText(fromCardText: card.value)
        }
        return entry(path: path, bytes: digest.bytes, modified: digest.modified, sha256: digest.sha256, headers: headers)
    }

    /// The entry for a file's header values.
    package static func entry(path: String, bytes: Int64, modified: Double, sha256: String, headers: [String: String]) -> FrameEntry {
        func text(_ key: String) -> String? {
            guard let value = headers[key], !value.isEmpty else { return nil }
            return value
        }
        func number(_ key: String) -> Double? {
            headers[key].flatMap(FITSFile.number(fromValueText:))
        }
        func integer(_ key: String) -> Int? {
            guard let value = number(key), value.rounded() == value, abs(value) < 1e15 else { return nil }
            return Int(value)
        }
        let compressed = headers["ZIMAGE"] == "T"
        let date = text("DATE-OBS").flatMap(FrameTime.parse)
        let folder = path.split(separator: "/").first.map(String.init) ?? ""
        let night: String
        if let date {
            night = FrameTime.night(of: date, longitude: number("SITELONG"))
        } else if FrameStore.isNightFolderName(folder) {
            night = folder.prefix(4) + "-" + folder.dropFirst(4).prefix(2) + "-" + folder.suffix(2)
        } else {
            night = FrameTime.day(Date(timeIntervalSince1970: modified))
        }
        let imagetyp = text("IMAGETYP").map { FrameQuery.imageType($0) ?? $0 }
        return FrameEntry(
            path: path, bytes: bytes, modified: modified, sha256: sha256, night: night,
            dateObs: date.map(FrameTime.canonical) ?? "", exptime: number("EXPTIME") ?? number("EXPOSURE"),
            imagetyp: imagetyp, filter: text("FILTER"), object: text("OBJECT"), exposure: text("EXPID"),
            frame: integer("FRAMENUM"), xbinning: integer("XBINNING"), ybinning: integer("YBINNING"),
            xorigin: integer("XORGSUBF"), yorigin: integer("YORGSUBF"),
            width: integer(compressed ? "ZNAXIS1" : "NAXIS1"), height: integer(compressed ? "ZNAXIS2" : "NAXIS2"),
            ccdTemp: number("CCD-TEMP"), setTemp: number("SET-TEMP"), gain: text("GAIN"), readoutMode: text("READOUTM"),
            ra: number("RA"), dec: number("DEC"), plan: text("PLAN"),
            planStep: integer("PLANSTEP"), planIndex: integer("PLANIDX"),
            site: text("SITE").flatMap { FacilityName.isValid($0) ? $0 : nil },
            camera: text("CAMERA").flatMap { FacilityName.isValid($0) ? $0 : nil }, headers: headers)
    }

    /// The file's SHA-256 (lower-case hex), size and modification time, read in 1 MiB blocks.
    /// - Parameters:
    ///   - path: the file.
    ///   - firstBlock: given the first block read (up to 1 MiB), before it is hashed.
    /// - Throws: ``IndexError`` naming the file and the system's reason.
    static func hash(_ path: String, firstBlock: (UnsafeRawBufferPointer) -> Void = { _ in })
        throws(IndexError) -> (sha256: String, bytes: Int64, modified: Double) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw IndexError(message: "\(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw IndexError(message: "\(path): \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw IndexError(message: "\(path): not a regular file") }
        _ = posix_fadvise(descriptor, 0, 0, POSIX_FADV_SEQUENTIAL)
        var hasher = SHA256()
        var total: Int64 = 0
        let block = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: block, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let count = read(descriptor, buffer.baseAddress, block)
            if count < 0 {
                if errno == EINTR { continue }
                throw IndexError(message: "\(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            if total == 0 { firstBlock(bytes) }
            hasher.update(bufferPointer: bytes)
            total += Int64(count)
        }
        let hex = FrameExport.hexadecimal(hasher.finalize())
        let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
        return (hex, total, modified)
    }
}
