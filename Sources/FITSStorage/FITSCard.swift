import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The value of one FITS header card.
///
/// Each case is written the way FITS and cfitsio expect: strings quoted (`'Light Frame'`),
/// integers and logicals (`T`/`F`) right-justified in the fixed format, doubles in the shortest
/// decimal form that reads back to the same `Double` (`1.5`, `-10.25`, `1.5E-07`).
public enum FITSValue: Sendable, Hashable {
    /// Printable ASCII text, at most 68 characters once quotes are doubled.
    case string(String)
    /// A signed integer.
    case integer(Int)
    /// A finite double, written exactly (the shortest round-trip form).
    case double(Double)
    /// A logical value, `T` or `F`.
    case logical(Bool)

    /// A UTC timestamp in the form FITS and `fitsverify` expect for `DATE-OBS`:
    /// `2026-11-21T21:04:05.123` (ISO 8601, milliseconds, no zone letter).
    ///
    /// - Parameter date: The instant; truncated (never rounded) to the millisecond, so a time
    ///   just before midnight stays on its day.
    /// - Returns: A `.string` value.
    public static func date(_ date: Date) -> FITSValue {
        .string(FITSTime.isoMilliseconds(date))
    }
}

/// One header card: a keyword, its value and an optional comment.
///
/// Keywords are 1 to 8 characters from `A-Z 0-9 _ -`; the mandatory and checksum keywords are
/// written by ``FITSFile`` itself and refused here (see ``FITSFile/validate(_:)``).
public struct FITSCard: Sendable, Hashable {
    /// The keyword, e.g. `EXPTIME`.
    public var keyword: String
    /// The value.
    public var value: FITSValue
    /// The comment after the `/`, printable ASCII; cfitsio shortens it to what fits in 80
    /// columns. `nil` writes no comment.
    public var comment: String?

    /// Makes a card.
    ///
    /// - Parameters:
    ///   - keyword: The keyword, e.g. `EXPTIME`.
    ///   - value: The value.
    ///   - comment: The comment, or `nil` for none.
    public init(_ keyword: String, _ value: FITSValue, comment: String? = nil) {
        self.keyword = keyword
        self.value = value
        self.comment = comment
    }

    /// Makes a card (labelled form).
    ///
    /// - Parameters:
    ///   - keyword: The keyword, e.g. `EXPTIME`.
    ///   - value: The value.
    ///   - comment: The comment, or `nil` for none.
    public init(keyword: String, value: FITSValue, comment: String? = nil) {
        self.init(keyword, value, comment: comment)
    }
}

/// Calendar arithmetic in UTC without Foundation's calendars (no locale, no allocation).
enum FITSTime {
    /// Broken-down UTC time of whole seconds since the epoch.
    static func utc(_ seconds: Int) -> tm {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return parts
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmm`, truncated to the millisecond.
    static func isoMilliseconds(_ date: Date) -> String {
        let milliseconds = Int((date.timeIntervalSince1970 * 1000).rounded(.down))
        let (seconds, fraction) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        let wholeSeconds = fraction < 0 ? seconds - 1 : seconds
        let millis = fraction < 0 ? fraction + 1000 : fraction
        let t = utc(wholeSeconds)
        return "\(pad(Int(t.tm_year) + 1900, 4))-\(pad(Int(t.tm_mon) + 1, 2))-\(pad(Int(t.tm_mday), 2))"
            + "T\(pad(Int(t.tm_hour), 2)):\(pad(Int(t.tm_min), 2)):\(pad(Int(t.tm_sec), 2)).\(pad(millis, 3))"
    }

    /// `YYYYMMDD` of the UTC day containing `date`.
    static func dayFolderName(_ date: Date) -> String {
        let t = utc(Int(date.timeIntervalSince1970.rounded(.down)))
        return "\(pad(Int(t.tm_year) + 1900, 4))\(pad(Int(t.tm_mon) + 1, 2))\(pad(Int(t.tm_mday), 2))"
    }

    /// Zero-pads a non-negative number to at least `width` digits.
    static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}
