/// FITS formatting and validation rules that do not need cfitsio.
enum FITSFormat {
    /// Keywords ``FITSFile`` writes itself, or that have a structural meaning: never user cards.
    static let reservedKeywords: Set<String> = [
        "SIMPLE", "BITPIX", "NAXIS", "EXTEND", "BZERO", "BSCALE", "CHECKSUM", "DATASUM", "END",
        "COMMENT", "HISTORY", "CONTINUE", "HIERARCH", "XTENSION", "PCOUNT", "GCOUNT",
    ]

    /// The longest string value that fits in a card once quoted (columns 11-80, quotes doubled).
    static let maximumStringLength = 68

    /// Why `keyword` is not a keyword a caller may write, or `nil` if it is fine.
    static func keywordProblem(_ keyword: String) -> String? {
        if keyword.isEmpty { return "keyword is empty" }
        let bytes = Array(keyword.utf8)
        if bytes.count > 8 {
            return "keyword '\(keyword)' is longer than 8 characters"
        }
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "_"), UInt8(ascii: "-"):
                continue
            default:
                return "keyword '\(keyword)' has characters other than A-Z 0-9 _ - (FITS keywords are upper case)"
            }
        }
        if isReserved(keyword) {
            return "keyword '\(keyword)' is reserved: the FITS writer sets it"
        }
        return nil
    }

    /// Whether the writer sets `keyword` itself (or FITS's structure owns it).
    static func isReserved(_ keyword: String) -> Bool {
        reservedKeywords.contains(keyword) || isAxisKeyword(Array(keyword.utf8))
    }

    /// NAXISn.
    private static func isAxisKeyword(_ bytes: [UInt8]) -> Bool {
        guard bytes.count > 5, bytes.starts(with: Array("NAXIS".utf8)) else { return false }
        return bytes.dropFirst(5).allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    /// The first character of `text` that is not printable ASCII (0x20-0x7E), if any.
    static func firstNonPrintable(_ text: String) -> Unicode.Scalar? {
        text.unicodeScalars.first { $0.value < 0x20 || $0.value > 0x7E }
    }

    /// Describes a character for an error message: `'é' (U+00E9)`.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return scalar.value < 0x20 || scalar.value == 0x7F ? code : "'\(Character(scalar))' (\(code))"
    }

    /// Why `card` cannot be written, or `nil` if it can.
    static func problem(_ card: FITSCard) -> String? {
        if let problem = keywordProblem(card.keyword) { return problem }
        switch card.value {
        case .string(let text):
            if let bad = firstNonPrintable(text) {
                return "\(card.keyword): string value has a character that is not printable ASCII: \(describe(bad))"
            }
            let quoted = text.utf8.reduce(0) { $0 + ($1 == UInt8(ascii: "'") ? 2 : 1) }
            if quoted > maximumStringLength {
                return "\(card.keyword): string value is \(quoted) characters (quotes count twice); at most \(maximumStringLength) fit in a card"
            }
        case .double(let number):
            if !number.isFinite {
                return "\(card.keyword): \(number) cannot be written in FITS (only finite numbers)"
            }
        case .integer, .logical:
            break
        }
        if let comment = card.comment, let bad = firstNonPrintable(comment) {
            return "\(card.keyword): comment has a character that is not printable ASCII: \(describe(bad))"
        }
        return nil
    }

    /// Why a COMMENT text cannot be written, or `nil` if it can (newlines separate lines).
    static func commentProblem(_ text: String) -> String? {
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let bad = firstNonPrintable(String(line)) {
                return "COMMENT text has a character that is not printable ASCII: \(describe(bad))"
            }
        }
        return nil
    }

    /// The lines of a COMMENT text: split at newlines; an empty line becomes one blank so that it
    /// still shows as a (blank) COMMENT card.
    static func commentLines(_ text: String) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? " " : String($0) }
    }

    /// A double as a FITS real value: the shortest decimal that reads back to the same `Double`,
    /// with a decimal point and an upper-case exponent (`1.5`, `-0.25`, `1.0E-05`, `6.02214076E+23`).
    static func double(_ value: Double) -> String {
        var text = "\(value)"  // Swift prints the shortest round-trip form.
        guard let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) else {
            return text.contains(".") ? text : text + ".0"
        }
        var mantissa = String(text[..<e])
        var exponent = String(text[text.index(after: e)...])
        if !mantissa.contains(".") { mantissa += ".0" }
        if exponent.first != "-" && exponent.first != "+" { exponent = "+" + exponent }
        text = mantissa + "E" + exponent
        return text
    }
}

/// The FITS checksum convention's 32-bit ones' complement arithmetic.
enum FITSChecksum {
    /// Folds a 64-bit accumulator of 32-bit words into a 32-bit ones' complement sum.
    static func fold(_ accumulator: UInt64) -> UInt32 {
        var value = accumulator
        while value >> 32 != 0 {
            value = (value & 0xFFFF_FFFF) + (value >> 32)
        }
        return UInt32(value)
    }

    /// Ones' complement sum of two sums.
    static func add(_ a: UInt32, _ b: UInt32) -> UInt32 {
        fold(UInt64(a) + UInt64(b))
    }

    /// Ones' complement sum of `bytes` read as big-endian 32-bit words (length a multiple of 4).
    static func sum(_ bytes: [UInt8]) -> UInt32 {
        var accumulator: UInt64 = 0
        var index = 0
        while index + 3 < bytes.count {
            let word = UInt32(bytes[index]) << 24 | UInt32(bytes[index + 1]) << 16
                | UInt32(bytes[index + 2]) << 8 | UInt32(bytes[index + 3])
            accumulator &+= UInt64(word)
            index += 4
        }
        return fold(accumulator)
    }
}
