internal import CFITSIO
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writing and reading 16-bit unsigned FITS images.
///
/// Files have one primary HDU: `BITPIX = 16`, `BZERO = 32768`, `BSCALE = 1` (unsigned pixels
/// stored the FITS way, as cfitsio does for `USHORT_IMG`), the caller's cards, COMMENT cards,
/// then `CHECKSUM` and `DATASUM`. They pass `fitsverify` with no warnings and no errors.
///
/// cfitsio formats the header; the data unit is converted, checksummed and written here in one
/// pass (cfitsio's `ffppr` + `ffpcks` produce the same bytes, the tests check, with many times
/// the CPU time).
/// All functions block: call them from a thread of their own, not from the cooperative pool.
public enum FITSFile {
    /// Checks that a card can be written, so that callers can refuse a user-supplied keyword with
    /// a clear message before starting an exposure.
    ///
    /// Refused: keywords empty, longer than 8 characters, or with characters other than
    /// `A-Z 0-9 _ -`; the keywords the writer sets itself (SIMPLE, BITPIX, NAXIS, NAXISn, EXTEND,
    /// BZERO, BSCALE, CHECKSUM, DATASUM, END) and structural ones (COMMENT, HISTORY, CONTINUE,
    /// HIERARCH, XTENSION, PCOUNT, GCOUNT); string values or comments with characters outside
    /// printable ASCII; string values longer than 68 characters (quotes counting twice); NaN and
    /// infinite doubles.
    ///
    /// - Parameter card: The card to check.
    /// - Returns: Why the card cannot be written, or `nil` if it can.
    public static func validate(_ card: FITSCard) -> String? {
        FITSFormat.problem(card)
    }

    /// Whether a keyword is one the writer sets itself or that FITS's structure owns (the ones
    /// ``validate(_:)`` refuses as reserved): SIMPLE, NAXISn, CHECKSUM, COMMENT...
    ///
    /// - Parameter keyword: An upper-case keyword.
    public static func isReserved(_ keyword: String) -> Bool {
        FITSFormat.isReserved(keyword)
    }

    /// Checks that a text can be written as COMMENT cards: printable ASCII, any length (long
    /// lines are split into several cards), newlines start new cards.
    ///
    /// - Parameter comment: The text.
    /// - Returns: Why it cannot be written, or `nil` if it can.
    public static func validate(comment: String) -> String? {
        FITSFormat.commentProblem(comment)
    }

    /// Writes a 16-bit unsigned image to a new file.
    ///
    /// The header holds the mandatory keywords, then `cards` in order, then `comments` as
    /// COMMENT cards, then `CHECKSUM` and `DATASUM`. `pixels[0..<width]` is the first row
    /// written (FITS row 1, `y = 1`); callers say which way up that is with a `ROWORDER` card.
    /// The file is written and closed but not fsynced: ``FrameStore/save(pixels:width:height:cards:comments:date:)``
    /// adds durability and atomic naming. On failure the file is removed.
    ///
    /// - Parameters:
    ///   - pixels: `width * height` pixels, row after row.
    ///   - width: Pixels per row (NAXIS1), at least 1.
    ///   - height: Rows (NAXIS2), at least 1.
    ///   - cards: Header cards; each must pass ``validate(_:)``, keywords must not repeat.
    ///   - comments: COMMENT texts; each must pass ``validate(comment:)``.
    ///   - path: The file to create; it must not exist.
    /// - Throws: ``StorageError`` naming `path` and the reason: an invalid card or size, the file
    ///   exists, or a system call failed (with its `errno`, e.g. "No space left on device").
    public static func write(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], to path: String
    ) throws(StorageError) {
        try checkFrame(pixels: pixels, width: width, height: height, cards: cards, comments: comments, context: "cannot write \(path)")
        let header = try CFITSIOHeader(width: width, height: height, cards: cards, comments: comments, path: path)
        _ = try POSIXFile.createFile(path, durable: false) { descriptor throws(StorageError) in
            try writeFrame(pixels, header: header, to: descriptor, path: path, startingWriteback: false)
        }
    }

    /// The largest image side ``read(path:)`` takes, in pixels.
    public static let maximumSide = 65535

    /// Reads an image back, plain (`.fits`) or tile-compressed (`.fits.fz`, whatever its name).
    ///
    /// - Parameter path: A FITS file whose primary HDU is a 2-D image, or whose primary HDU is
    ///   empty and followed by a tile-compressed 2-D image (fpack's layout; cfitsio
    ///   decompresses it).
    /// - Returns: The dimensions, the pixels as unsigned 16-bit values (cfitsio applies BZERO),
    ///   and every header card as keyword -> raw value text as it appears in the card (strings
    ///   keep their quotes, e.g. `'Light Frame'`). COMMENT and HISTORY cards are joined with
    ///   newlines under their keyword; END is not included. A compressed image's header is the
    ///   image's as cfitsio restores it (`ZNAXIS1` becomes `NAXIS1`...; no table keywords, no
    ///   CHECKSUM/DATASUM, which belong to the compressed table).
    /// - Throws: ``StorageError`` naming `path` and the cfitsio reason, or saying the image HDU
    ///   is not a 2-D image, or that it states more pixels than ``maximumSide`` a side or than
    ///   the file holds (a compressed one: more than ``maximumCompressionRatio`` times its size;
    ///   checked before anything is allocated).
    public static func read(path: String) throws(StorageError) -> (width: Int, height: Int, pixels: [UInt16], header: [String: String]) {
        try readImage(path: path, cfitsioType: TUSHORT, as: UInt16.self)
    }

    /// ``read(path:)`` with the pixels converted by cfitsio to `cfitsioType` (`TUSHORT`,
    /// `TFLOAT`), BZERO and BSCALE applied.
    static func readImage<Pixel>(path: String, cfitsioType: Int32, as: Pixel.Type) throws(StorageError)
        -> (width: Int, height: Int, pixels: [Pixel], header: [String: String]) {
        var status: Int32 = 0
        let (file, compressed) = try openImage(path)
        defer {
            var ignored: Int32 = 0
            ffclos(file, &ignored)
        }
        var axisCount: Int32 = 0
        ffgidm(file, &axisCount, &status)
        var axes: [LONGLONG] = [0, 0]
        if status == 0 && axisCount == 2 { ffgiszll(file, 2, &axes, &status) }
        guard status == 0 else {
            ffcmsg()
            throw StorageError.fits("cannot read the image size of \(path)", status: status)
        }
        guard compressed || axisCount != 0 else {
            throw StorageError(message: "cannot read \(path): it holds no image (the primary HDU is empty "
                               + "and no tile-compressed image follows it)")
        }
        guard axisCount == 2 else {
            throw StorageError(message: "cannot read \(path): the \(compressed ? "compressed image" : "primary HDU") has \(axisCount) axes, not 2")
        }
        // A header states any size: refuse one larger than this reader takes, or than the file
        // holds, before the pixels are allocated (a 5 KB file may claim 60000 x 60000).
        guard (1...LONGLONG(maximumSide)).contains(axes[0]), (1...LONGLONG(maximumSide)).contains(axes[1]) else {
            throw StorageError(message: "cannot read \(path): it states an image of \(axes[0]) x \(axes[1]) pixels; "
                               + "1 to \(maximumSide) a side are read")
        }
        let width = Int(axes[0])
        let height = Int(axes[1])
        let count = width * height
        var bitpix: Int32 = 0
        ffgidt(file, &bitpix, &status)
        var info = stat()
        let ratio = compressed ? maximumCompressionRatio : 1
        if status == 0, stat(path, &info) == 0, Int(abs(bitpix)) / 8 * count > Int(info.st_size) * ratio {
            throw StorageError(message: "cannot read \(path): it states \(width) x \(height) pixels of \(abs(bitpix)) bits, "
                               + "more than its \(info.st_size) bytes hold"
                               + (compressed ? " (compressed at most \(ratio) to 1)" : ""))
        }
        var anyNull: Int32 = 0
        let pixels = [Pixel](unsafeUninitializedCapacity: count) { buffer, initialized in
            if count > 0 {
                ffgpv(file, cfitsioType, 1, LONGLONG(count), nil, buffer.baseAddress, &anyNull, &status)
            }
            initialized = count
        }
        guard status == 0 else {
            ffcmsg()
            throw StorageError.fits("cannot read the pixels of \(path)", status: status)
        }
        var header: [String: String] = [:]
        for card in try headerCards(file, path: path) {
            if card.keyword == "COMMENT" || card.keyword == "HISTORY" || card.keyword.isEmpty {
                header[card.keyword] = header[card.keyword].map { $0 + "\n" + card.comment } ?? card.comment
            } else {
                header[card.keyword] = card.value
            }
        }
        return (width, height, pixels, header)
    }

    // MARK: - Internals shared with FrameStore

    /// Checks sizes, cards (``validate(_:)``, no repeats) and comments before anything is created.
    ///
    /// - Parameter context: Starts every message, e.g. `cannot write /x/a.fits`.
    static func checkFrame(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], context: String
    ) throws(StorageError) {
        guard width >= 1, height >= 1 else {
            throw StorageError(message: "\(context): image size \(width)x\(height) is not at least 1x1")
        }
        let (count, overflow) = width.multipliedReportingOverflow(by: height)
        guard !overflow, count == pixels.count else {
            throw StorageError(message: "\(context): \(pixels.count) pixels given for a \(width)x\(height) image")
        }
        if let problem = headerProblem(cards: cards, comments: comments) {
            throw StorageError(message: "\(context): \(problem.message)")
        }
    }

    /// Why a header cannot be written, by the rule ``write(pixels:width:height:cards:comments:to:)``
    /// applies: each card passes ``validate(_:)`` (keyword, value, comment), no keyword repeats,
    /// and each COMMENT text passes ``validate(comment:)``. Callers that accept a request now and
    /// write its file later check the header they will write with this, so that what is accepted
    /// can be written.
    ///
    /// - Parameters:
    ///   - cards: Header cards after the mandatory ones.
    ///   - comments: COMMENT texts.
    /// - Returns: The first problem: the keyword at fault (`nil` for a COMMENT text) and the
    ///   reason, or `nil` if the header can be written.
    public static func headerProblem(cards: [FITSCard], comments: [String]) -> (keyword: String?, message: String)? {
        var seen: Set<String> = []
        for card in cards {
            if let problem = FITSFormat.problem(card) {
                return (card.keyword, "invalid FITS card: \(problem)")
            }
            if !seen.insert(card.keyword).inserted {
                return (card.keyword, "keyword \(card.keyword) is given twice")
            }
        }
        for comment in comments {
            if let problem = FITSFormat.commentProblem(comment) {
                return (nil, problem)
            }
        }
        return nil
    }

    /// Writes the data unit after the header's space, then the final header at offset 0.
    ///
    /// - Parameter startingWriteback: The file will be fsynced: start writing it to the disk
    ///   while encoding.
    /// - Returns: The file size in bytes.
    static func writeFrame(
        _ pixels: UnsafeBufferPointer<UInt16>, header: borrowing CFITSIOHeader, to descriptor: Int32, path: String,
        startingWriteback: Bool
    ) throws(StorageError) -> Int {
        let headerLength = try header.bytes().count
        let dataSum = try DataUnit.write(
            pixels, to: descriptor, offset: headerLength, path: path, startingWriteback: startingWriteback)
        let final = try header.finalBytes(dataSum: dataSum)
        guard final.count == headerLength else {
            throw StorageError(message: "cannot write \(path): the FITS header changed length while setting CHECKSUM")
        }
        let written = final.withUnsafeBytes { bytes in
            Result { () throws(StorageError) in try POSIXFile.writeAll(descriptor, bytes, at: 0, path: path) }
        }
        try written.get()
        return headerLength + DataUnit.paddedSize(pixelCount: pixels.count)
    }
}

// MARK: - Package helpers (tests and the benchmark)

extension FITSFile {
    /// Writes the same file entirely through cfitsio (`ffdkinit`, `ffcrim(USHORT_IMG)`, the same
    /// cards, `ffppr(TUSHORT)`, optionally `ffpcks`, `ffclos`): the reference the tests compare
    /// the fast writer with, and the baseline of the benchmark.
    ///
    /// - Parameters:
    ///   - pixels: `width * height` pixels, row after row.
    ///   - width: NAXIS1.
    ///   - height: NAXIS2.
    ///   - cards: Header cards (validated as in ``write(pixels:width:height:cards:comments:to:)``).
    ///   - comments: COMMENT texts.
    ///   - checksum: Whether to add CHECKSUM/DATASUM with `ffpcks`.
    ///   - path: A file that must not exist.
    /// - Throws: ``StorageError`` with the cfitsio status.
    package static func writeWithCFITSIO(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
        cards: [FITSCard], comments: [String], checksum: Bool, to path: String
    ) throws(StorageError) {
        try checkFrame(pixels: pixels, width: width, height: height, cards: cards, comments: comments, context: "cannot write \(path)")
        var status: Int32 = 0
        var created: UnsafeMutablePointer<fitsfile>?
        ffdkinit(&created, path, &status)
        guard status == 0, let file = created else {
            ffcmsg()
            throw StorageError.fits("cannot create \(path)", status: status)
        }
        var axes = [width, height]
        ffcrim(file, USHORT_IMG, 2, &axes, &status)
        writeCards(cards, comments: comments, into: file, status: &status)
        ffppr(file, TUSHORT, 1, LONGLONG(pixels.count), UnsafeMutableRawPointer(mutating: pixels.baseAddress), &status)
        if checksum { ffpcks(file, &status) }
        var closeStatus: Int32 = 0
        ffclos(file, &closeStatus)
        if status == 0 { status = closeStatus }
        if status != 0 {
            ffcmsg()
            _ = unlink(path)
            throw StorageError.fits("cannot write \(path)", status: status)
        }
    }

    /// cfitsio's own checksum verification (`ffvcks`) of one HDU (a compressed image's: of its
    /// compressed table, as stored).
    ///
    /// - Parameters:
    ///   - path: A FITS file.
    ///   - number: The HDU, 1 the primary.
    /// - Returns: For the data unit and the whole HDU: 1 correct, 0 keyword missing, -1 wrong.
    /// - Throws: ``StorageError`` if the file cannot be opened.
    package static func verifyChecksums(path: String, hdu number: Int = 1) throws(StorageError) -> (data: Int, hdu: Int) {
        var status: Int32 = 0
        var opened: UnsafeMutablePointer<fitsfile>?
        ffdkopn(&opened, path, READONLY, &status)
        guard status == 0, let file = opened else {
            ffcmsg()
            throw StorageError.fits("cannot open \(path)", status: status)
        }
        var kind: Int32 = 0
        if number != 1 { ffmahd(file, Int32(number), &kind, &status) }
        var data: Int32 = 0
        var hdu: Int32 = 0
        ffvcks(file, &data, &hdu, &status)
        var ignored: Int32 = 0
        ffclos(file, &ignored)
        guard status == 0 else {
            ffcmsg()
            throw StorageError.fits("cannot verify the checksums of \(path)", status: status)
        }
        return (Int(data), Int(hdu))
    }
}

extension FITSFile {
    /// The bytes ``write(pixels:width:height:cards:comments:to:)`` would put in a file, built in
    /// memory: the CPU cost of a save without any I/O (benchmark), and a fixture for tests.
    ///
    /// - Parameters:
    ///   - pixels: `width * height` pixels, row after row.
    ///   - width: NAXIS1.
    ///   - height: NAXIS2.
    ///   - cards: Header cards.
    ///   - comments: COMMENT texts.
    /// - Returns: The whole file.
    /// - Throws: ``StorageError`` for invalid cards or sizes.
    package static func encode(
        pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int, cards: [FITSCard], comments: [String]
    ) throws(StorageError) -> [UInt8] {
        try checkFrame(pixels: pixels, width: width, height: height, cards: cards, comments: comments, context: "cannot encode a frame")
        let header = try CFITSIOHeader(width: width, height: height, cards: cards, comments: comments, path: "(memory)")
        let headerLength = try header.bytes().count
        let dataLength = DataUnit.paddedSize(pixelCount: pixels.count)
        var high: UInt64 = 0
        var low: UInt64 = 0
        var file = [UInt8](repeating: 0, count: headerLength + dataLength)
        file.withUnsafeMutableBytes { bytes in
            var start = 0
            while start < pixels.count {
                let count = min(DataUnit.chunkPixels, pixels.count - start)
                let sums = DataUnit.encode(
                    UnsafeBufferPointer(rebasing: pixels[start..<start + count]),
                    into: bytes.baseAddress! + headerLength + start * 2)
                high &+= sums.high
                low &+= sums.low
                start += count
            }
        }
        let final = try header.finalBytes(dataSum: DataUnit.checksum(high: high, low: low))
        file.replaceSubrange(0..<final.count, with: final)
        return file
    }
}
