internal import CFITSIO
import Foundation

// What plate solving needs of FITS besides frames: a star list written as a binary table (the
// solver's input), tables and headers read back (its output), and a frame copied into a new
// file with more cards (the solved WCS), all through cfitsio.

extension FITSFile {
    /// Writes a binary table of `Float64` columns (`1D`) in a new file (primary HDU empty, the
    /// table in HDU 2) with extra header cards in the table's header: astrometry.net's "xylist".
    /// - Parameters:
    ///   - columns: column names and values, all of the same length.
    ///   - cards: cards for the table's header (e.g. IMAGEW, IMAGEH).
    ///   - path: a file that must not exist.
    /// - Throws: ``StorageError`` naming `path` and the cfitsio reason.
    public static func writeTable(columns: [(name: String, values: [Double])], cards: [FITSCard],
                                  to path: String) throws(StorageError) {
        let rows = columns.first?.values.count ?? 0
        guard columns.allSatisfy({ $0.values.count == rows }) else {
            throw StorageError(message: "cannot write \(path): the columns differ in length")
        }
        var status: Int32 = 0
        var created: UnsafeMutablePointer<fitsfile>?
        ffdkinit(&created, path, &status)
        guard status == 0, let file = created else {
            throw StorageError.fits("cannot create \(path)", status: status)
        }
        var names = columns.map { strdup($0.name) }
        var forms = columns.map { _ in strdup("1D") }
        defer {
            names.forEach { free($0) }
            forms.forEach { free($0) }
        }
        ffcrim(file, 8, 0, nil, &status)
        ffcrtb(file, BINARY_TBL, LONGLONG(rows), Int32(columns.count), &names, &forms, nil, "SOURCES", &status)
        writeCards(cards, comments: [], into: file, status: &status)
        for (index, column) in columns.enumerated() where rows > 0 {
            var values = column.values
            ffpcld(file, Int32(index + 1), 1, 1, LONGLONG(rows), &values, &status)
        }
        var closing: Int32 = 0
        ffclos(file, &closing)
        if status == 0 { status = closing }
        guard status == 0 else {
            _ = unlink(path)
            throw StorageError.fits("cannot write \(path)", status: status)
        }
    }

    /// Reads numeric columns of a binary table.
    /// - Parameters:
    ///   - path: the file.
    ///   - hdu: the table's HDU number (1 is the primary).
    ///   - names: the columns to read (matched case-insensitively).
    /// - Returns: each column's values as `Double`.
    /// - Throws: ``StorageError`` naming the file and the column or the cfitsio reason.
    public static func readTable(path: String, hdu: Int = 2, names: [String]) throws(StorageError) -> [String: [Double]] {
        let file = try openForReading(path)
        defer { closeIgnoringErrors(file) }
        var status: Int32 = 0
        var kind: Int32 = 0
        ffmahd(file, Int32(hdu), &kind, &status)
        var rows: Int = 0
        ffgnrw(file, &rows, &status)
        guard status == 0 else { throw StorageError.fits("cannot read the table of \(path)", status: status) }
        var result: [String: [Double]] = [:]
        for name in names {
            var column: Int32 = 0
            var template = Array(name.utf8CString)
            ffgcno(file, CASEINSEN, &template, &column, &status)
            guard status == 0 else { throw StorageError.fits("cannot find column \(name) in \(path)", status: status) }
            var values = [Double](repeating: 0, count: rows)
            var anyNull: Int32 = 0
            if rows > 0 {
                ffgcvd(file, column, 1, 1, LONGLONG(rows), 0, &values, &anyNull, &status)
            }
            guard status == 0 else { throw StorageError.fits("cannot read column \(name) of \(path)", status: status) }
            result[name] = values
        }
        return result
    }

    /// Every card of one HDU's header as keyword and raw value text, in order (COMMENT, HISTORY
    /// and blank cards left out): what a WCS header file (solve-field's `.wcs`) holds, or a
    /// saved frame's header, plain or tile-compressed.
    /// - Parameters:
    ///   - path: the file.
    ///   - hdu: the HDU number (1 is the primary); nil (the default) for the image's HDU: the
    ///     primary, or in a tile-compressed file (`.fits.fz`: an empty primary followed by a
    ///     compressed image) the compressed image. A compressed image's header is given as
    ///     cfitsio restores it (`NAXIS1`, not `ZNAXIS1`; no table keywords, no CHECKSUM/DATASUM).
    /// - Throws: ``StorageError`` naming the file and the cfitsio reason.
    public static func readHeader(path: String, hdu: Int? = nil) throws(StorageError) -> [(keyword: String, value: String)] {
        let file: UnsafeMutablePointer<fitsfile>
        if let hdu {
            file = try openForReading(path)
            var status: Int32 = 0
            var kind: Int32 = 0
            if hdu != 1 { ffmahd(file, Int32(hdu), &kind, &status) }
            if status != 0 {
                closeIgnoringErrors(file)
                throw StorageError.fits("cannot read HDU \(hdu) of \(path)", status: status)
            }
        } else {
            file = try openImage(path).file
        }
        defer { closeIgnoringErrors(file) }
        return valueCards(try headerCards(file, path: path))
    }

    /// The cards with a value: COMMENT, HISTORY and blank cards left out.
    private static func valueCards(_ cards: [(keyword: String, value: String, comment: String)]) -> [(keyword: String, value: String)] {
        cards.compactMap { card in
            card.keyword.isEmpty || card.keyword == "COMMENT" || card.keyword == "HISTORY" ? nil : (card.keyword, card.value)
        }
    }

    /// Opens a file read-only at its image's HDU: the primary HDU, or, when the primary holds
    /// no data (`NAXIS = 0`) and the next HDU is a tile-compressed image, that one (where
    /// cfitsio reads the pixels decompressed).
    /// - Returns: the open file and whether its image is compressed.
    static func openImage(_ path: String) throws(StorageError) -> (file: UnsafeMutablePointer<fitsfile>, compressed: Bool) {
        let file = try openForReading(path)
        var status: Int32 = 0
        var axes: Int32 = 0
        var count: Int32 = 0
        ffgidm(file, &axes, &status)
        if status == 0, axes == 0 { ffthdu(file, &count, &status) }
        guard status == 0, count >= 2 else {
            if status != 0 {
                closeIgnoringErrors(file)
                throw StorageError.fits("cannot read the primary HDU of \(path)", status: status)
            }
            return (file, false)
        }
        var kind: Int32 = 0
        ffmahd(file, 2, &kind, &status)
        let compressed = status == 0 && fits_is_compressed_image(file, &status) != 0
        if status != 0 {
            closeIgnoringErrors(file)
            throw StorageError.fits("cannot read HDU 2 of \(path)", status: status)
        }
        if !compressed {
            // Not fpack's layout: the primary HDU it is (read will say it has no image).
            ffmahd(file, 1, &kind, &status)
        }
        return (file, compressed)
    }

    /// The current HDU's cards in order (END left out): keyword, raw value text, comment. A
    /// compressed image's header is converted to the image's (`ffcnvthdr2str`), so its cards
    /// read as those of the plain file.
    static func headerCards(_ file: UnsafeMutablePointer<fitsfile>, path: String) throws(StorageError)
        -> [(keyword: String, value: String, comment: String)] {
        let text = try headerText(file, action: "cannot read the header of \(path)")
        return try text.withUnsafeBytes { bytes in Result { () throws(StorageError) in try cards(inHeaderText: bytes, path: path) } }.get()
    }

    /// The primary header of a plain FITS file, from the file's first bytes (already read, e.g.
    /// to hash the file), as ``readHeader(path:hdu:)`` gives it, without opening the file again:
    /// the same cfitsio parsing of each card, no file handle, no second read.
    /// - Parameters:
    ///   - bytes: the file's first bytes.
    ///   - path: the file, for messages.
    /// - Returns: the cards, or nil when `bytes` do not hold the whole primary header of an
    ///   image (no `END` in them, not `SIMPLE`, or `NAXIS = 0`, as in a tile-compressed file
    ///   whose image is its second HDU): then ``readHeader(path:hdu:)`` reads it.
    /// - Throws: ``StorageError`` naming the card cfitsio cannot parse.
    public static func primaryImageHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws(StorageError)
        -> [(keyword: String, value: String)]? {
        guard bytes.count >= 2880, bytes.starts(with: Array("SIMPLE  =".utf8)) else { return nil }
        let end = Array("END     ".utf8)
        var length = 0
        for offset in stride(from: 0, to: bytes.count - 79, by: 80) where bytes[offset..<offset + 8].elementsEqual(end) {
            length = offset + 80
            break
        }
        guard length > 0 else { return nil }
        let cards = try cards(inHeaderText: UnsafeRawBufferPointer(rebasing: bytes[0..<length]), path: path)
        guard let axes = cards.first(where: { $0.keyword == "NAXIS" }), Int(axes.value.trimmingCharacters(in: .whitespaces)) ?? 0 > 0
        else { return nil }
        return valueCards(cards)
    }

    /// Parses 80-character cards up to `END` with cfitsio's card functions (name, value, comment).
    private static func cards(inHeaderText text: UnsafeRawBufferPointer, path: String) throws(StorageError)
        -> [(keyword: String, value: String, comment: String)] {
        var status: Int32 = 0
        var cards: [(keyword: String, value: String, comment: String)] = []
        var card = [CChar](repeating: 0, count: Int(FLEN_CARD))
        var keyword = [CChar](repeating: 0, count: Int(FLEN_KEYWORD))
        var value = [CChar](repeating: 0, count: Int(FLEN_VALUE))
        var comment = [CChar](repeating: 0, count: Int(FLEN_COMMENT))
        for index in 0..<(text.count / 80) {
            for offset in 0..<80 { card[offset] = CChar(bitPattern: text[index * 80 + offset]) }
            card[80] = 0
            var nameLength: Int32 = 0
            ffgknm(&card, &keyword, &nameLength, &status)
            let name = cString(keyword)
            if name == "END" { break }
            ffpsvc(&card, &value, &comment, &status)
            guard status == 0 else {
                ffcmsg()
                throw StorageError.fits("cannot read card \(index + 1) of the header of \(path)", status: status)
            }
            cards.append((name, cString(value), cString(comment)))
        }
        return cards
    }

    /// Opens a file read-only (a plain disk file, no extended file-name syntax).
    private static func openForReading(_ path: String) throws(StorageError) -> UnsafeMutablePointer<fitsfile> {
        var status: Int32 = 0
        var opened: UnsafeMutablePointer<fitsfile>?
        ffdkopn(&opened, path, READONLY, &status)
        guard status == 0, let file = opened else {
            throw StorageError.fits("cannot open \(path)", status: status)
        }
        return file
    }

    private static func closeIgnoringErrors(_ file: UnsafeMutablePointer<fitsfile>) {
        var ignored: Int32 = 0
        ffclos(file, &ignored)
    }

    /// A card's value as written (`'text'`, `T`, `12`, `1.5E-3`) as a ``FITSValue``: quoted text
    /// is a string (doubled quotes undone, trailing blanks dropped), `T`/`F` logical, digits an
    /// integer, anything else that reads as a number a double; nil otherwise.
    /// - Parameter text: the raw value text.
    public static func value(fromCardText text: String) -> FITSValue? {
        let (value, quoted) = valueText(fromCardText: text)
        if quoted { return .string(value) }
        if value == "T" { return .logical(true) }
        if value == "F" { return .logical(false) }
        if let integer = Int(value) { return .integer(integer) }
        if let number = number(fromValueText: value) { return .double(number) }
        return nil
    }

    /// A card's value as a user reads it: a quoted string without its quotes (doubled quotes
    /// undone, trailing blanks dropped), anything else as written without the blanks around it.
    /// What ``value(fromCardText:)`` gives for a string, without parsing the numbers (the catalog
    /// keeps every card this way).
    /// - Parameter text: the raw value text.
    public static func displayText(fromCardText text: String) -> String {
        valueText(fromCardText: text).text
    }

    /// A number in a card's value text (`1.5E-3`, Fortran's `1.5D-3`), finite; nil otherwise.
    /// - Parameter text: the value text, without blanks around it.
    public static func number(fromValueText text: String) -> Double? {
        // Only a value with a D is rewritten: most have none, and the rewrite is a copy.
        let exponent = UInt8(ascii: "D")
        let value = text.utf8.contains(exponent)
            ? Double(String(decoding: text.utf8.map { $0 == exponent ? UInt8(ascii: "E") : $0 }, as: UTF8.self))
            : Double(text)
        guard let value, value.isFinite else { return nil }
        return value
    }

    /// The value text without the blanks (spaces, tabs) around it, and a string's content when
    /// it is quoted. Works on the bytes: a header holds ASCII, and the catalog reads 60 cards a
    /// frame at hundreds of frames a second (Foundation's trimming was half its work).
    private static func valueText(fromCardText text: String) -> (text: String, quoted: Bool) {
        var text = text
        return text.withUTF8 { bytes -> (String, Bool) in
            func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
            var start = 0
            var end = bytes.count
            while start < end, isBlank(bytes[start]) { start += 1 }
            while end > start, isBlank(bytes[end - 1]) { end -= 1 }
            let quote = UInt8(ascii: "'")
            guard end - start >= 2, bytes[start] == quote, bytes[end - 1] == quote else {
                return (String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self), false)
            }
            var inner: [UInt8] = []
            inner.reserveCapacity(end - start - 2)
            var index = start + 1
            while index < end - 1 {
                inner.append(bytes[index])
                index += bytes[index] == quote && index + 1 < end - 1 && bytes[index + 1] == quote ? 2 : 1
            }
            while inner.last == 0x20 { inner.removeLast() }
            return (String(decoding: inner, as: UTF8.self), true)
        }
    }

    /// Writes a frame to a new file (it must not exist), fsyncs and closes it: the durable part of
    /// a save, before the rename that names it. Nothing is left behind on failure.
    /// - Returns: the file's size in bytes.
    static func writeSynced(_ pixels: UnsafeBufferPointer<UInt16>, header: borrowing CFITSIOHeader, to temporary: String,
                            startingWriteback: Bool) throws(StorageError) -> Int {
        try POSIXFile.createFile(temporary, durable: true) { descriptor throws(StorageError) in
            try writeFrame(pixels, header: header, to: descriptor, path: temporary, startingWriteback: startingWriteback)
        }
    }

    /// The keywords a frame's structure owns, which a copy does not take over from the original.
    static let structuralKeywords: Set<String> = [
        "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND", "BZERO", "BSCALE", "CHECKSUM", "DATASUM", "END",
        "XTENSION", "PCOUNT", "GCOUNT",
    ]

    /// Writes a new version of a saved frame: its pixels and header cards, with `replacing`
    /// cards set (added, or replacing the original's of the same keyword), to `destination`,
    /// durably (temporary file, fsync, rename without replacing, folder fsync) and with
    /// CHECKSUM/DATASUM. The original is only read, plain or compressed; the new file is
    /// Rice tile-compressed when `destination` ends in `.fits.fz`, plain otherwise.
    /// - Parameters:
    ///   - original: the frame's file.
    ///   - replacing: the cards to set.
    ///   - destination: the new file's path, in the same folder; it must not exist.
    /// - Returns: the new file's size in bytes.
    /// - Throws: ``StorageError`` naming the file and the reason (the destination exists, a card
    ///   is invalid, a system call failed); nothing is left behind.
    @discardableResult
    public static func writeVersion(of original: String, replacing: [FITSCard], to destination: String) throws(StorageError) -> Int {
        let frame = try read(path: original)
        let header = try readHeader(path: original)
        let replaced = Set(replacing.map(\.keyword))
        var cards: [FITSCard] = []
        for (keyword, text) in header where !structuralKeywords.contains(keyword) && !replaced.contains(keyword) {
            guard let value = value(fromCardText: text) else { continue }
            cards.append(FITSCard(keyword: keyword, value: value))
        }
        cards += replacing
        let comments = frame.header["COMMENT"].map { [$0] } ?? []
        let folder = POSIXFile.parent(of: destination)
        let temporary = folder + "/." + URL(fileURLWithPath: destination).lastPathComponent
            + ".tmp-\(getpid())-" + String(UInt32.random(in: .min ... .max), radix: 16)
        let bytes = try frame.pixels.withUnsafeBufferPointer { (pixels: UnsafeBufferPointer<UInt16>) throws(StorageError) -> Int in
            try checkFrame(pixels: pixels, width: frame.width, height: frame.height, cards: cards, comments: comments,
                           context: "cannot write \(destination)")
            if destination.hasSuffix(compressedSuffix) {
                let file = try TileCompressedFile(pixels: pixels, width: frame.width, height: frame.height, cards: cards,
                                                  comments: comments, path: destination)
                return try writeFile(file, to: temporary, durable: true, startingWriteback: false)
            }
            let header = try CFITSIOHeader(width: frame.width, height: frame.height, cards: cards, comments: comments, path: destination)
            return try writeSynced(pixels, header: header, to: temporary, startingWriteback: false)
        }
        let renamed = POSIXFile.renameWithoutReplacing(temporary, destination)
        guard renamed == 0 else {
            _ = unlink(temporary)
            throw StorageError.posix("cannot rename \(temporary) to", destination, errno: renamed)
        }
        try POSIXFile.syncDirectory(folder)
        return bytes
    }
}
