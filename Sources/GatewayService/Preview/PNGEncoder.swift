import CZlib
import Foundation

/// Encodes 8-bit greyscale PNG images (colour type 0, no interlace), compressed with zlib.
public enum PNGEncoder {
    /// An encoding failure (zlib's own code).
    public struct Failure: Error, CustomStringConvertible {
        /// zlib's return code.
        public var code: Int32
        /// `zlib compress2 failed with code N`.
        public var description: String { "zlib compress2 failed with code \(code)" }
    }

    /// The PNG file of a greyscale image.
    /// - Parameters:
    ///   - grey: `width * height` grey levels, the top row first.
    ///   - width: pixels per row, at least 1.
    ///   - height: rows, at least 1.
    ///   - level: zlib's compression level (1 fastest ... 9 smallest).
    ///   - text: `tEXt` chunks (Latin-1 keywords of 1 to 79 characters).
    /// - Returns: the file's bytes.
    public static func encodeGrey(_ grey: [UInt8], width: Int, height: Int, level: Int32 = 4,
                                  text: [(String, String)] = []) throws(Failure) -> [UInt8] {
        precondition(width > 0 && height > 0 && grey.count >= width * height)
        // Each scanline: a filter byte, then the row. Filter 2 (Up) costs little and compresses
        // the smooth skies of astronomical frames better than no filter.
        let stride = width + 1
        var raw = [UInt8](repeating: 0, count: stride * height)
        raw.withUnsafeMutableBufferPointer { raw in
            grey.withUnsafeBufferPointer { grey in
                for y in 0..<height {
                    let line = y * stride
                    let row = y * width
                    if y == 0 {
                        raw[line] = 0
                        for x in 0..<width { raw[line + 1 + x] = grey[x] }
                    } else {
                        raw[line] = 2
                        let above = row - width
                        for x in 0..<width { raw[line + 1 + x] = grey[row + x] &- grey[above + x] }
                    }
                }
            }
        }

        var compressedSize = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(compressedSize))
        let status = compressed.withUnsafeMutableBufferPointer { out in
            raw.withUnsafeBufferPointer { input in
                compress2(out.baseAddress, &compressedSize, input.baseAddress, uLong(input.count), level)
            }
        }
        guard status == Z_OK else { throw Failure(code: status) }

        var png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        png.reserveCapacity(Int(compressedSize) + 128)
        var header: [UInt8] = []
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        header += [8, 0, 0, 0, 0]  // bit depth 8, greyscale, deflate, adaptive filters, no interlace
        appendChunk("IHDR", header, to: &png)
        for (keyword, value) in text {
            appendChunk("tEXt", Array(keyword.utf8.prefix(79)) + [0] + Array(value.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }), to: &png)
        }
        appendChunk("IDAT", compressed[0..<Int(compressedSize)], to: &png)
        appendChunk("IEND", [], to: &png)
        return png
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }

    private static func appendChunk<Data: Collection<UInt8>>(_ type: String, _ data: Data, to png: inout [UInt8]) {
        appendBigEndian(UInt32(data.count), to: &png)
        let start = png.count
        png += Array(type.utf8)
        png += data
        let crc = png[start...].withContiguousStorageIfAvailable { bytes in
            crc32(0, bytes.baseAddress, uInt(bytes.count))
        } ?? Array(png[start...]).withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        appendBigEndian(UInt32(truncatingIfNeeded: crc), to: &png)
    }
}
