internal import CFITSIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// cfitsio's description of a status code (`ffgerr`), e.g. "error writing to FITS file".
func fitsStatusText(_ status: Int32) -> String {
    var text = [CChar](repeating: 0, count: Int(FLEN_STATUS) + 1)
    ffgerr(status, &text)
    return cString(text)
}

/// The text of a NUL-terminated buffer filled by C.
func cString(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}

extension StorageError {
    /// An error for a failed cfitsio call: `"<action>: <ffgerr text> (cfitsio status N)"`.
    static func fits(_ action: String, status: Int32) -> StorageError {
        StorageError(
            message: "\(action): \(fitsStatusText(status)) (cfitsio status \(status))",
            fitsStatus: status
        )
    }
}

/// The current HDU's header as cfitsio renders it: 80-byte cards, END last, no padding
/// (`ffcnvthdr2str`: a tile-compressed image's header is first converted to the image's; any
/// other HDU's is as it stands, as `ffhdr2str` gives it).
/// - Parameter action: starts the error message, e.g. `cannot read the header of PATH`.
func headerText(_ file: UnsafeMutablePointer<fitsfile>, action: String) throws(StorageError) -> [UInt8] {
    var status: Int32 = 0
    var text: UnsafeMutablePointer<CChar>?
    var count: Int32 = 0
    ffcnvthdr2str(file, 0, nil, 0, &text, &count, &status)
    guard status == 0, let text else {
        ffcmsg()
        throw StorageError.fits(action, status: status)
    }
    defer {
        var ignored: Int32 = 0
        fffree(text, &ignored)
    }
    return [UInt8](UnsafeRawBufferPointer(start: text, count: strlen(text)))
}

/// Writes user cards and COMMENT lines into an open cfitsio file, after its mandatory keywords.
///
/// The cards must have passed ``FITSFile/validate(_:)``. Strings go through `ffpkys`, integers
/// `ffpkyj`, logicals `ffpkyl`; doubles are formatted here in their shortest exact form (see
/// ``FITSFormat/double(_:)``) and written with `ffmkky` + `ffprec`. Each comment line (split at
/// newlines) goes through `ffpcom`, which splits it into 72-character COMMENT cards.
func writeCards(
    _ cards: [FITSCard], comments: [String], into file: UnsafeMutablePointer<fitsfile>, status: inout Int32
) {
    for card in cards {
        let comment = card.comment ?? ""
        switch card.value {
        case .string(let text):
            ffpkys(file, card.keyword, text, comment, &status)
        case .integer(let number):
            ffpkyj(file, card.keyword, LONGLONG(number), comment, &status)
        case .logical(let flag):
            ffpkyl(file, card.keyword, flag ? 1 : 0, comment, &status)
        case .double(let number):
            var value = Array(FITSFormat.double(number).utf8CString)
            var record = [CChar](repeating: 0, count: Int(FLEN_CARD))
            ffmkky(card.keyword, &value, comment, &record, &status)
            ffprec(file, record, &status)
        }
        if status != 0 { return }
    }
    for text in comments {
        for line in FITSFormat.commentLines(text) {
            ffpcom(file, line, &status)
            if status != 0 { return }
        }
    }
}

/// A primary header built by cfitsio in memory, with `CHECKSUM` and `DATASUM` as its last cards.
///
/// cfitsio formats every card (mandatory keywords for `USHORT_IMG`: BITPIX=16, BZERO=32768,
/// BSCALE=1; user cards; COMMENT cards). The data unit is *not* written through cfitsio: the
/// header is created with `NAXIS1 = NAXIS2 = 0` and the real sizes are set afterwards, so that
/// cfitsio never fills an 8 MiB data unit in memory that would be thrown away (it zero-fills the
/// data unit on close, about 3.5 ms for a 2048x2048 frame). ``FITSFile`` streams the data unit
/// itself and sets `DATASUM` and `CHECKSUM` here once the data sum is known.
struct CFITSIOHeader: ~Copyable {
    private let file: UnsafeMutablePointer<fitsfile>
    /// cfitsio keeps these two addresses for the life of the memory file (`ffimem`).
    private let memory: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private let memorySize: UnsafeMutablePointer<Int>

    /// The placeholder written to `CHECKSUM` before the sum is taken (FITS checksum convention).
    static let checksumPlaceholder = "0000000000000000"

    /// Builds the header of a `width` x `height` 16-bit unsigned image.
    ///
    /// - Parameters:
    ///   - width: NAXIS1.
    ///   - height: NAXIS2.
    ///   - cards: Validated user cards, written after the mandatory ones.
    ///   - comments: COMMENT text, written after the cards.
    ///   - path: The file this header is for, used in error messages only.
    /// - Throws: ``StorageError`` with the cfitsio status when cfitsio refuses a card.
    init(width: Int, height: Int, cards: [FITSCard], comments: [String], path: String) throws(StorageError) {
        let memory = UnsafeMutablePointer<UnsafeMutableRawPointer?>.allocate(capacity: 1)
        let memorySize = UnsafeMutablePointer<Int>.allocate(capacity: 1)
        memorySize.pointee = 2880 * 4
        memory.pointee = malloc(memorySize.pointee)
        var status: Int32 = 0
        var file: UnsafeMutablePointer<fitsfile>?
        ffimem(&file, memory, memorySize, 2880 * 4, realloc, &status)
        if let file {
            var axes = [0, 0]
            ffcrim(file, USHORT_IMG, 2, &axes, &status)
            writeCards(cards, comments: comments, into: file, status: &status)
            ffpkys(file, "CHECKSUM", Self.checksumPlaceholder, "HDU checksum (FITS checksum convention)", &status)
            ffpkys(file, "DATASUM", "0", "data unit checksum", &status)
            ffmkyj(file, "NAXIS1", LONGLONG(width), "&", &status)
            ffmkyj(file, "NAXIS2", LONGLONG(height), "&", &status)
        }
        guard let file, status == 0 else {
            let failed = status
            if let file {
                var ignored: Int32 = 0
                ffclos(file, &ignored)
            }
            free(memory.pointee)
            memory.deallocate()
            memorySize.deallocate()
            ffcmsg()
            throw StorageError.fits("cannot format the FITS header of \(path)", status: failed)
        }
        self.file = file
        self.memory = memory
        self.memorySize = memorySize
    }

    deinit {
        var status: Int32 = 0
        // Back to an empty data unit, so that closing does not zero-fill the real one.
        ffmkyj(file, "NAXIS1", 0, "&", &status)
        ffmkyj(file, "NAXIS2", 0, "&", &status)
        ffclos(file, &status)
        if status != 0 { ffcmsg() }
        free(memory.pointee)
        memory.deallocate()
        memorySize.deallocate()
    }

    /// Sets a string keyword that already exists, keeping its comment.
    private func set(_ keyword: String, _ value: String) throws(StorageError) {
        var status: Int32 = 0
        ffmkys(file, keyword, value, "&", &status)
        if status != 0 {
            ffcmsg()
            throw StorageError.fits("cannot set \(keyword) in a FITS header", status: status)
        }
    }

    /// The header as written to the file: 80-byte cards, END, blank-padded to 2880 bytes.
    func bytes() throws(StorageError) -> [UInt8] {
        var header = try headerText(file, action: "cannot render a FITS header")
        if !header.suffix(80).starts(with: Array("END     ".utf8)) {
            header += Array("END".utf8) + [UInt8](repeating: 0x20, count: 77)
        }
        let padded = (header.count + 2879) / 2880 * 2880
        header += [UInt8](repeating: 0x20, count: padded - header.count)
        return header
    }

    /// The header with `DATASUM` set to `dataSum` and `CHECKSUM` set so that the whole HDU
    /// (this header and a data unit whose 32-bit ones' complement sum is `dataSum`) sums to
    /// negative zero, as the FITS checksum convention requires (cfitsio `ffesum`).
    ///
    /// - Parameter dataSum: The ones' complement sum of the padded data unit.
    /// - Returns: The final header bytes.
    /// - Throws: ``StorageError`` if cfitsio cannot update the cards.
    func finalBytes(dataSum: UInt32) throws(StorageError) -> [UInt8] {
        try set("DATASUM", String(dataSum))
        try set("CHECKSUM", Self.checksumPlaceholder)
        let headerSum = FITSChecksum.sum(try bytes())
        let total = FITSChecksum.add(headerSum, dataSum)
        var ascii = [CChar](repeating: 0, count: 17)
        ffesum(UInt(total), 1, &ascii)
        try set("CHECKSUM", cString(ascii))
        return try bytes()
    }
}
