import ApertureProtocol
import Foundation
import Synchronization

/// One catalogue star: J2000 position and visual magnitude.
public struct CatalogStar: Sendable, Hashable {
    /// Right ascension in degrees, 0..<360.
    public var ra: Double
    /// Declination in degrees.
    public var dec: Double
    /// Tycho-2 V_T magnitude (the index's `MAG_VT` column).
    public var magnitude: Double

    /// Creates a star.
    /// - Parameters:
    ///   - ra: right ascension in degrees.
    ///   - dec: declination in degrees.
    ///   - magnitude: V_T magnitude.
    public init(ra: Double, dec: Double, magnitude: Double) {
        self.ra = ra
        self.dec = dec
        self.magnitude = magnitude
    }
}

/// The stars of an astrometry.net index file (Debian's `astrometry-data-tycho2-*` packages:
/// `/usr/share/astrometry/index-tycho2-NN.littleendian.fits`), read with plain file reads.
///
/// The file is FITS: blocks of 2880 bytes, each header a list of 80-character cards ending at
/// `END`, each binary-table extension's data `NAXIS1 * NAXIS2` bytes padded to a whole block. Of
/// its tables three are used, found by their `TTYPE1`:
/// - `kdtree_range_stars`: 7 little-endian doubles, the lower bounds of x, y, z, the upper bounds,
///   and the scale (tree units per data unit);
/// - `kdtree_data_stars`: 3 little-endian `UInt32` per star, a unit vector on the celestial sphere
///   (x towards RA 0 Dec 0, z towards the north pole), each `lower + value / scale`;
/// - `MAG_VT`: a FITS `1E` column (big-endian Float32), in the same star order.
///
/// Only the little-endian files are read (the `ENDIAN` card of the primary header says so).
public final class SkyCatalog: Sendable {
    /// The file read.
    public let path: String
    /// Unit vectors, x, y, z per star.
    private let vectors: [Double]
    /// Magnitudes, one per star.
    private let magnitudes: [Float]

    /// The number of stars.
    public var count: Int { magnitudes.count }

    /// Why a catalogue file could not be read.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        /// What went wrong, naming the file.
        public var description: String
    }

    /// Reads every star of an index file.
    /// - Parameter path: the index file.
    /// - Throws: ``ReadError`` naming the file and what is missing or malformed.
    public init(path: String) throws(ReadError) {
        self.path = path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(description: "\(path): cannot be read (missing or unreadable)")
        }
        let tables = try Self.tables(in: data, path: path)
        func table(_ name: String) throws(ReadError) -> Table {
            guard let table = tables.first(where: { $0.name == name }) else {
                throw ReadError(description: "\(path): no \(name) table (not an astrometry.net star index)")
            }
            return table
        }
        let range = try table("kdtree_range_stars")
        let stars = try table("kdtree_data_stars")
        let mags = try table("MAG_VT")
        guard range.length >= 56, stars.rowBytes == 12, mags.rowBytes == 4, mags.rows == stars.rows else {
            throw ReadError(description: "\(path): unexpected table shapes (range \(range.length) bytes, "
                + "\(stars.rowBytes)-byte star rows, \(mags.rows) magnitudes for \(stars.rows) stars)")
        }
        var vectors = [Double](repeating: 0, count: stars.rows * 3)
        var magnitudes = [Float](repeating: 0, count: stars.rows)
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            func double(_ offset: Int) -> Double {
                Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
            }
            let lower = (0..<3).map { double(range.offset + 8 * $0) }
            let scale = double(range.offset + 48)
            let inverse = scale > 0 ? 1 / scale : 0
            for star in 0..<stars.rows {
                let base = stars.offset + star * 12
                for axis in 0..<3 {
                    let value = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: base + 4 * axis, as: UInt32.self))
                    vectors[star * 3 + axis] = lower[axis] + Double(value) * inverse
                }
                let bits = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: mags.offset + star * 4, as: UInt32.self))
                magnitudes[star] = Float(bitPattern: bits)
            }
        }
        self.vectors = vectors
        self.magnitudes = magnitudes
    }

    /// The stars within `radius` degrees of a position, in catalogue order.
    /// - Parameters:
    ///   - ra: right ascension of the centre, degrees.
    ///   - dec: declination of the centre, degrees.
    ///   - radius: degrees (at most 180).
    public func stars(aroundRA ra: Double, dec: Double, radius: Double) -> [CatalogStar] {
        let centre = Self.unitVector(ra: ra, dec: dec)
        let limit = cos(min(180, max(0, radius)) * .pi / 180)
        var found: [CatalogStar] = []
        vectors.withUnsafeBufferPointer { v in
            for star in 0..<magnitudes.count {
                let x = v[star * 3], y = v[star * 3 + 1], z = v[star * 3 + 2]
                let norm = (x * x + y * y + z * z).squareRoot()
                guard norm > 0, (x * centre.x + y * centre.y + z * centre.z) / norm >= limit else { continue }
                var starRA = atan2(y, x) * 180 / .pi
                if starRA < 0 { starRA += 360 }
                let starDec = asin(max(-1, min(1, z / norm))) * 180 / .pi
                found.append(CatalogStar(ra: starRA, dec: starDec, magnitude: Double(magnitudes[star])))
            }
        }
        return found
    }

    /// The unit vector of an equatorial position.
    static func unitVector(ra: Double, dec: Double) -> (x: Double, y: Double, z: Double) {
        let alpha = ra * .pi / 180, delta = dec * .pi / 180
        return (cos(delta) * cos(alpha), cos(delta) * sin(alpha), sin(delta))
    }

    // MARK: Catalogues shared by path

    private static let loaded = Mutex<[String: SkyCatalog]>([:])

    /// The catalogue of a file, read once per process and shared (the 08 index is 1.3 million
    /// stars, about 36 MB in memory). The first caller reads it under the lock, so callers at
    /// the same time wait for that one read instead of each reading the file.
    /// - Parameter path: the index file.
    /// - Throws: ``ReadError`` naming the file.
    public static func shared(path: String) throws(ReadError) -> SkyCatalog {
        try loaded.withLock { (cache: inout [String: SkyCatalog]) throws(ReadError) -> SkyCatalog in
            if let catalog = cache[path] { return catalog }
            let catalog = try SkyCatalog(path: path)
            cache[path] = catalog
            return catalog
        }
    }

    // MARK: FITS structure

    private struct Table {
        var name: String
        var offset: Int
        var rowBytes: Int
        var rows: Int
        var length: Int { rowBytes * rows }
    }

    /// Every HDU's first column name and data extent.
    private static func tables(in data: Data, path: String) throws(ReadError) -> [Table] {
        let block = 2880
        var tables: [Table] = []
        var offset = 0
        var first = true
        while offset + block <= data.count {
            var cards: [String: String] = [:]
            var ended = false
            var position = offset
            while !ended {
                guard position + block <= data.count else {
                    throw ReadError(description: "\(path): truncated FITS header at byte \(position)")
                }
                for card in stride(from: position, to: position + block, by: 80) {
                    let text = String(decoding: data[card..<(card + 80)], as: UTF8.self)
                    let keyword = text.prefix(8).trimmingCharacters(in: .whitespaces)
                    if keyword == "END" { ended = true; break }
                    guard text.dropFirst(8).hasPrefix("= ") else { continue }
                    var value = String(text.dropFirst(10))
                    if value.trimmingCharacters(in: .whitespaces).hasPrefix("'") {
                        let parts = value.split(separator: "'", omittingEmptySubsequences: false)
                        value = parts.count > 1 ? String(parts[1]) : ""
                    } else if let slash = value.firstIndex(of: "/") {
                        value = String(value[..<slash])
                    }
                    cards[keyword] = value.trimmingCharacters(in: .whitespaces)
                }
                position += block
            }
            if first, let endian = cards["ENDIAN"], endian != "04:03:02:01" {
                throw ReadError(description: "\(path): big-endian index (ENDIAN \(endian)); use the littleendian files")
            }
            let axes = Int(cards["NAXIS"] ?? "0") ?? 0
            var size = 0
            if axes > 0 {
                size = (1...axes).reduce(1) { $0 * (Int(cards["NAXIS\($1)"] ?? "0") ?? 0) } * abs(Int(cards["BITPIX"] ?? "8") ?? 8) / 8
                size += Int(cards["PCOUNT"] ?? "0") ?? 0
            }
            guard size >= 0, position + size <= data.count else {
                throw ReadError(description: "\(path): truncated FITS data at byte \(position)")
            }
            if !first, let name = cards["TTYPE1"], axes == 2 {
                tables.append(Table(name: name, offset: position, rowBytes: Int(cards["NAXIS1"] ?? "0") ?? 0,
                                    rows: Int(cards["NAXIS2"] ?? "0") ?? 0))
            }
            first = false
            offset = position + (size + block - 1) / block * block
        }
        return tables
    }
}
