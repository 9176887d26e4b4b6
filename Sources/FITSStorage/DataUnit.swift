#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

#if _endian(big)
#error("DataUnit.encode loads pixel pairs as little-endian 32-bit words")
#endif

/// The data unit of a 16-bit unsigned image, encoded and checksummed in one pass.
///
/// FITS stores unsigned 16-bit pixels as signed big-endian integers with `BZERO = 32768`: the
/// stored value is `pixel - 32768`, which is `pixel ^ 0x8000` read as two's complement. This is
/// exactly what cfitsio writes for `USHORT_IMG` data given as `TUSHORT` (`ffppr`), and the tests
/// compare the two byte for byte. Doing it here, in chunks that stay in the CPU cache, lets the
/// data sum be taken while converting instead of re-reading the data unit (`ffpcks`), and lets
/// each chunk go straight to the file: 0.6 ms of CPU for a 2048x2048 frame, where cfitsio's
/// `ffppr` + `ffpcks` take 10 ms or more (see docs/performance.md).
enum DataUnit {
    /// Pixels per chunk: 256 KiB of output, even so that 32-bit checksum words never straddle.
    static let chunkPixels = 128 * 1024

    /// How much is written before the kernel is asked to start writing it to the disk.
    static let writebackBytes = 1 << 20

    /// Bytes of the data unit for `pixelCount` pixels, padded with zeros to 2880-byte blocks.
    static func paddedSize(pixelCount: Int) -> Int {
        (pixelCount * 2 + 2879) / 2880 * 2880
    }

    /// Encodes `source` into `destination` (same count, any alignment) and returns the sums of the
    /// high and low 16-bit halves of its big-endian 32-bit words.
    ///
    /// The caller keeps `source.count` at most ``chunkPixels`` so the 32-bit lane sums cannot
    /// overflow, and passes chunks starting at even pixel indices.
    @inline(__always)
    static func encode(_ source: UnsafeBufferPointer<UInt16>, into destination: UnsafeMutableRawPointer) -> (high: UInt64, low: UInt64) {
        let input = UnsafeRawPointer(source.baseAddress!)
        let words = source.count / 2
        var high: UInt32 = 0
        var low: UInt32 = 0
        for index in 0..<words {
            // Little-endian load: the first pixel is the low half, and becomes the high half of
            // the big-endian word in the file.
            let word = input.loadUnaligned(fromByteOffset: index &* 4, as: UInt32.self) ^ 0x8000_8000
            high &+= word & 0xFFFF
            low &+= word >> 16
            let swapped = ((word & 0x00FF_00FF) << 8) | ((word >> 8) & 0x00FF_00FF)
            destination.storeBytes(of: swapped, toByteOffset: index &* 4, as: UInt32.self)
        }
        if source.count % 2 == 1 {
            let last = source[source.count - 1] ^ 0x8000
            high &+= UInt32(last)
            destination.storeBytes(of: last.bigEndian, toByteOffset: words * 4, as: UInt16.self)
        }
        return (UInt64(high), UInt64(low))
    }

    /// The ones' complement sum of the big-endian words whose high and low halves sum to these.
    static func checksum(high: UInt64, low: UInt64) -> UInt32 {
        FITSChecksum.fold((high << 16) &+ low)
    }

    /// Writes the encoded, zero-padded data unit of `pixels` to `descriptor` at `offset`.
    ///
    /// - Parameters:
    ///   - pixels: The image, row after row.
    ///   - descriptor: An open, writable file.
    ///   - offset: Where the data unit starts (the header length).
    ///   - path: The file's path, for error messages.
    ///   - startingWriteback: Whether to start the disk writes of every written MiB at once
    ///     (``POSIXFile/startWriteback(_:offset:length:)``), for a file about to be fsynced.
    /// - Returns: The data unit's ones' complement sum (`DATASUM`).
    /// - Throws: ``StorageError`` with the `errno` of a failed `pwrite`.
    static func write(
        _ pixels: UnsafeBufferPointer<UInt16>, to descriptor: Int32, offset: Int, path: String,
        startingWriteback: Bool
    ) throws(StorageError) -> UInt32 {
        let chunkBytes = chunkPixels * 2
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunkBytes + 2880, alignment: 64)
        defer { buffer.deallocate() }
        var high: UInt64 = 0
        var low: UInt64 = 0
        var position = offset
        var writebackFrom = offset
        var start = 0
        while start < pixels.count {
            let count = min(chunkPixels, pixels.count - start)
            let chunk = UnsafeBufferPointer(rebasing: pixels[start..<start + count])
            let sums = encode(chunk, into: buffer)
            high &+= sums.high
            low &+= sums.low
            var length = count * 2
            start += count
            if start == pixels.count {
                // The zero fill to the 2880-byte block adds nothing to the sum.
                let fill = paddedSize(pixelCount: pixels.count) - pixels.count * 2
                (buffer + length).initializeMemory(as: UInt8.self, repeating: 0, count: fill)
                length += fill
            }
            try POSIXFile.writeAll(descriptor, UnsafeRawBufferPointer(start: buffer, count: length), at: position, path: path)
            position += length
            if startingWriteback && position - writebackFrom >= writebackBytes {
                POSIXFile.startWriteback(descriptor, offset: writebackFrom, length: position - writebackFrom)
                writebackFrom = position
            }
        }
        return checksum(high: high, low: low)
    }
}
