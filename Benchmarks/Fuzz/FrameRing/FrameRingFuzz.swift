import Bus
import FuzzSupport
import Foundation

/// Fuzzes the frame ring reader on a ring file built from the input:
///
///     [flags: 1 byte][file header: 72 bytes][slot 0 header: 256 bytes][slot 1 header]...
///
/// The file header goes at offset 0 and slot i's header at 4096 + i * stride, as the header's
/// own slot count and stride place them, in a file as long as the header says (pixels are
/// zero). Flags: bit 0 rewrites the header checksum to match (otherwise nearly every input
/// stops at the checksum), bit 1 cuts the file short by a byte count taken from the input,
/// bit 2 writes the input's bytes as the whole file instead. The reader then opens the ring and
/// reads the newest frame, the next one, and each of the first slots by location.
enum FrameRingFuzz: FuzzTarget {
    static let name = "aperture-fuzz-frame-ring"

    static let path = NSTemporaryDirectory() + "aperture-fuzz-ring-\(getpid())"
    static let fileHeaderSize = 4096, headerFields = 72, slotHeaderSize = 256
    /// The largest file built; a header describing more is cut to this (and refused as truncated).
    static let maximumFileSize = 1 << 22
    /// `FUZZ_VERBOSE=1` prints what the reader says of each input.
    static let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil

    static func run(_ data: Data) {
        guard let flags = data.first else { return }
        let input = [UInt8](data.dropFirst())
        defer { unlink(path) }
        guard write(image(input, flags: flags)) else { return }
        let reader: FrameRingReader
        do {
            reader = try FrameRingReader(path: path)
        } catch {
            if verbose { print(error.message) }
            return
        }
        _ = (reader.generation, reader.slotCount, reader.slotCapacity, reader.writerPID, reader.isReplaced)
        var buffer: [UInt16] = []
        var total = 0
        if let location = reader.latestLocation() { _ = reader.read(location, into: &buffer) }
        _ = reader.latest(into: &buffer)
        _ = reader.next(after: 0, into: &buffer)
        _ = reader.withNext(after: 0) { metadata, pixels in total &+= pixels.reduce(0) { $0 &+ Int($1) } }
        for slot in 0..<min(reader.slotCount, 4) {
            // The location a notice would give for the frame the slot's seqlock names, and the
            // slot's first frame.
            let seqlock = field(input, at: headerFields + slot * slotHeaderSize, as: UInt64.self) ?? 0
            for sequence in [seqlock / 2, seqlock, UInt64(slot + 1)] {
                let location = FrameLocation(slot: slot, sequence: sequence, generation: reader.generation)
                let result = reader.read(location, into: &buffer)
                if verbose { print(location, result) }
                _ = reader.withFrame(location) { metadata, pixels in
                    total &+= metadata.pixelCount &+ pixels.reduce(0) { $0 &+ Int($1) }
                }
            }
        }
        _ = try? reader.reopenIfReplaced()
        _ = reader.counters
    }

    /// The file's bytes, or its size and the pieces to place, from the input.
    static func image(_ input: [UInt8], flags: UInt8) -> (size: Int, pieces: [(offset: Int, bytes: ArraySlice<UInt8>)]) {
        if flags & 4 != 0 { return (input.count, [(0, input[...])]) }
        var header = Array(input.prefix(headerFields))
        header += [UInt8](repeating: 0, count: headerFields - header.count)
        if flags & 1 != 0 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the first 64 bytes, as the writer does
            for byte in header[0..<64] { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            withUnsafeBytes(of: hash.littleEndian) { header.replaceSubrange(64..<72, with: $0) }
        }
        let slotCount = Int(field(header, at: 24, as: UInt32.self) ?? 0)
        let stride = field(header, at: 40, as: UInt64.self) ?? 0
        let slots = input.dropFirst(headerFields)
        var pieces: [(offset: Int, bytes: ArraySlice<UInt8>)] = [(0, header[...])]
        var size = fileHeaderSize
        if (1...(1 << 16)).contains(slotCount), stride >= UInt64(slotHeaderSize), stride <= UInt64(maximumFileSize) {
            size = min(maximumFileSize, fileHeaderSize + slotCount * Int(stride))
            var slot = 0
            var offset = slots.startIndex
            while offset < slots.endIndex, fileHeaderSize + slot * Int(stride) + slotHeaderSize <= size {
                let end = min(slots.endIndex, offset + slotHeaderSize)
                pieces.append((fileHeaderSize + slot * Int(stride), slots[offset..<end]))
                offset = end
                slot += 1
            }
        } else {
            pieces.append((fileHeaderSize, slots))
            size += slots.count
        }
        if flags & 2 != 0 { size = max(0, size - Int(flags >> 3) * 512 - 1) }
        return (size, pieces)
    }

    /// Writes the image to ``path`` (sparse: what no piece covers reads as zero).
    static func write(_ image: (size: Int, pieces: [(offset: Int, bytes: ArraySlice<UInt8>)])) -> Bool {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        for piece in image.pieces where piece.offset < image.size {
            let count = min(piece.bytes.count, image.size - piece.offset)
            _ = piece.bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, count, off_t(piece.offset)) }
        }
        return ftruncate(fd, off_t(image.size)) == 0
    }

    /// A little-endian field of `bytes`, nil when it does not fit.
    static func field<T: FixedWidthInteger>(_ bytes: [UInt8], at offset: Int, as type: T.Type) -> T? {
        guard offset >= 0, offset + MemoryLayout<T>.size <= bytes.count else { return nil }
        return bytes[offset..<offset + MemoryLayout<T>.size].reversed().reduce(T(0)) { $0 << 8 | T($1) }
    }
}

@main extension FrameRingFuzz {}
