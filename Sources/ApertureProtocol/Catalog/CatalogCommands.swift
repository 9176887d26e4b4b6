import Bus
import Foundation

// The frame catalog on catalog.ctl (docs/protocol.md, "Catalog"): `frames` queries the rows,
// `frame` reads one with its headers, `summary` counts per night, filter and image type;
// `reconcile`, `rebuild` and `verify` compare the catalog with the data folders.

/// One saved frame as the catalog keeps it: the file, the header values users filter on, and
/// the processor's quality figures. Unknown values are `null`, never zero.
public struct FrameRow: Codable, Sendable, Hashable {
    /// The row's id (stable: a rebuild keeps the ids of the paths it knows).
    public var id: Int64
    /// The facility site that took the frame (SITE, `site.name`); nil in rows of files written
    /// before it was recorded.
    public var site: String?
    /// The facility camera that took the frame (CAMERA, `camera.name`); nil likewise.
    public var camera: String?
    /// The file's path relative to the data root, e.g. `20261205/image-0042.fits`.
    public var path: String
    /// The file's size in bytes.
    public var bytes: Int64
    /// The file's SHA-256, lower-case hex.
    public var sha256: String
    /// The observing night (`YYYY-MM-DD`): the date of the local noon before the exposure,
    /// by the site's longitude (SITELONG; Greenwich without it).
    public var night: String
    /// DATE-OBS, the exposure's start: `YYYY-MM-DDTHH:MM:SS.sss`, UTC.
    public var dateObs: String?
    /// EXPTIME in seconds.
    public var exptime: Double?
    /// IMAGETYP as written (`Light Frame`, `Bias Frame`, `Dark Frame`, `Flat Field`).
    public var imagetyp: String?
    /// FILTER.
    public var filter: String?
    /// OBJECT.
    public var object: String?
    /// EXPID: the exposure (request) id.
    public var exposure: String?
    /// FRAMENUM: the frame's index within its exposure, from 1.
    public var frame: Int?
    /// XBINNING.
    public var xbinning: Int?
    /// YBINNING.
    public var ybinning: Int?
    /// XORGSUBF: the subframe's origin x (unbinned).
    public var xorigin: Int?
    /// YORGSUBF: the subframe's origin y (unbinned).
    public var yorigin: Int?
    /// NAXIS1: the image's width in (binned) pixels.
    public var width: Int?
    /// NAXIS2: the image's height in (binned) pixels.
    public var height: Int?
    /// CCD-TEMP in degrees Celsius.
    public var ccdTemp: Double?
    /// SET-TEMP in degrees Celsius.
    public var setTemp: Double?
    /// GAIN.
    public var gain: String?
    /// READOUTM.
    public var readoutMode: String?
    /// RA pointed at, J2000 degrees.
    public var ra: Double?
    /// DEC pointed at, J2000 degrees.
    public var dec: Double?
    /// The observing plan that took the frame (PLAN).
    public var plan: String?
    /// The plan's step that took it, from 1 (PLANSTEP).
    public var planStep: Int?
    /// The frame's index within that step, from 1 (PLANIDX).
    public var planIndex: Int?
    /// The frame's median level in ADU (the processor's background).
    public var median: Double?
    /// The background noise in ADU (the processor's `1.4826 * MAD`).
    public var sigma: Double?
    /// Stars measured.
    public var nstars: Int?
    /// Median FWHM of the stars, in pixels.
    public var fwhm: Double?
    /// Median half-flux diameter of the stars, in pixels.
    public var hfd: Double?
    /// Whether the file is gone from the data folders (rows are never deleted).
    public var missing: Bool
    /// When the row was made, ISO UTC.
    public var added: String
    /// Every header card, keyword to value (strings without their quotes); in the one-row reply only.
    public var headers: [String: String]?

    enum CodingKeys: String, CodingKey {
        case id, site, camera, path, bytes, sha256, night, exptime, imagetyp, filter, object, exposure, frame
        case xbinning, ybinning, xorigin, yorigin, width, height, gain, ra, dec, plan
        case median, sigma, nstars, fwhm, hfd, missing, added, headers
        case dateObs = "date_obs"
        case ccdTemp = "ccd_temp"
        case setTemp = "set_temp"
        case readoutMode = "readout_mode"
        case planStep = "plan_step"
        case planIndex = "plan_index"
    }

    /// Creates a row; the catalog fills it.
    public init(id: Int64, path: String, bytes: Int64, sha256: String, night: String, missing: Bool, added: String) {
        self.id = id
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
        self.night = night
        self.missing = missing
        self.added = added
    }

    /// The columns of the CSV form, in order (every member but `headers`).
    public static let csvColumns: [String] = [
        "id", "path", "bytes", "sha256", "night", "date_obs", "exptime", "imagetyp", "filter", "object", "exposure",
        "frame", "xbinning", "ybinning", "xorigin", "yorigin", "width", "height", "ccd_temp", "set_temp", "gain",
        "readout_mode", "ra", "dec", "plan", "plan_step", "plan_index", "median", "sigma", "nstars", "fwhm", "hfd",
        "missing", "added", "site", "camera",
    ]

    /// One CSV line (RFC 4180, without its line break): fields holding a comma, a quote or a
    /// line break are quoted, quotes doubled.
    public static func csvLine(_ fields: [String]) -> String {
        fields.map { field in
            guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
            return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }.joined(separator: ",")
    }

    /// The row's values in ``csvColumns`` order, as text (empty for null).
    public var csvValues: [String] {
        func number(_ value: Double?) -> String { value.map { String($0) } ?? "" }
        func integer(_ value: Int?) -> String { value.map { String($0) } ?? "" }
        return [
            String(id), path, String(bytes), sha256, night, dateObs ?? "", number(exptime), imagetyp ?? "", filter ?? "",
            object ?? "", exposure ?? "", integer(frame), integer(xbinning), integer(ybinning), integer(xorigin),
            integer(yorigin), integer(width), integer(height), number(ccdTemp), number(setTemp), gain ?? "",
            readoutMode ?? "", number(ra), number(dec), plan ?? "", integer(planStep), integer(planIndex), number(median), number(sigma), integer(nstars),
            number(fwhm), number(hfd), missing ? "true" : "false", added, site ?? "", camera ?? "",
        ]
    }
}

/// The order of a query's rows.
public enum FrameSort: String, Codable, Sendable, Hashable, CaseIterable {
    /// Oldest first (the default).
    case dateObs = "date_obs"
    /// Newest first.
    case dateObsDescending = "-date_obs"
    /// Sharpest first; frames without a FWHM last.
    case fwhm
    /// Least sharp first; frames without a FWHM last.
    case fwhmDescending = "-fwhm"
}

/// What `frames` and `summary` select: every filter is optional and they combine with AND.
/// Built from query parameters with ``init(parameters:)``, which names the parameter at fault.
public struct FrameQuery: Codable, Sendable, Hashable {
    /// `start`: DATE-OBS at or after this (UTC, `YYYY-MM-DD[THH:MM[:SS[.sss]]][Z]`), canonical form.
    public var start: String?
    /// `end`: DATE-OBS before this (UTC), canonical form.
    public var end: String?
    /// `night`: the observing night, `YYYY-MM-DD`.
    public var night: String?
    /// `imagetyp`: `object` (or `light`), `bias`, `dark`, `flat`, or IMAGETYP as written.
    public var imagetyp: String?
    /// `filter`: the filter's name, exactly (case-insensitive).
    public var filter: String?
    /// `object`: a substring of OBJECT, case-insensitive.
    public var object: String?
    /// `exposure`: the exposure id.
    public var exposure: String?
    /// `exptime_min`: EXPTIME at least this, in seconds.
    public var exptimeMin: Double?
    /// `exptime_max`: EXPTIME at most this, in seconds.
    public var exptimeMax: Double?
    /// `temp_min`: CCD-TEMP at least this, in degrees Celsius.
    public var tempMin: Double?
    /// `temp_max`: CCD-TEMP at most this, in degrees Celsius.
    public var tempMax: Double?
    /// `fwhm_max`: the median FWHM at most this, in pixels (frames without one are left out).
    public var fwhmMax: Double?
    /// `plan`: the plan's id.
    public var plan: String?
    /// `site`: the facility site (SITE), exactly.
    public var site: String?
    /// `camera`: the facility camera (CAMERA), exactly.
    public var camera: String?
    /// `missing`: only rows whose file is gone (true) or present (false).
    public var missing: Bool?
    /// `sort`.
    public var sort: FrameSort
    /// `limit`: rows per page, 1 to ``maximumLimit`` (default ``defaultLimit``).
    public var limit: Int
    /// `cursor`: the `next` of the previous page.
    public var cursor: String?

    /// Rows per page when `limit` is not given.
    public static let defaultLimit = 100
    /// The most rows a page holds.
    public static let maximumLimit = 1000
    /// The parameters a query takes; any other is refused.
    public static let parameterNames: [String] = [
        "start", "end", "night", "imagetyp", "filter", "object", "exposure", "exptime_min", "exptime_max",
        "temp_min", "temp_max", "fwhm_max", "plan", "site", "camera", "missing", "sort", "limit", "cursor",
    ]

    enum CodingKeys: String, CodingKey {
        case start, end, night, imagetyp, filter, object, exposure, plan, site, camera, missing, sort, limit, cursor
        case exptimeMin = "exptime_min"
        case exptimeMax = "exptime_max"
        case tempMin = "temp_min"
        case tempMax = "temp_max"
        case fwhmMax = "fwhm_max"
    }

    /// Decodes a query sent over the bus; `sort` and `limit` may be left out (their defaults).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        start = try container.decodeIfPresent(String.self, forKey: .start)
        end = try container.decodeIfPresent(String.self, forKey: .end)
        night = try container.decodeIfPresent(String.self, forKey: .night)
        imagetyp = try container.decodeIfPresent(String.self, forKey: .imagetyp)
        filter = try container.decodeIfPresent(String.self, forKey: .filter)
        object = try container.decodeIfPresent(String.self, forKey: .object)
        exposure = try container.decodeIfPresent(String.self, forKey: .exposure)
        exptimeMin = try container.decodeIfPresent(Double.self, forKey: .exptimeMin)
        exptimeMax = try container.decodeIfPresent(Double.self, forKey: .exptimeMax)
        tempMin = try container.decodeIfPresent(Double.self, forKey: .tempMin)
        tempMax = try container.decodeIfPresent(Double.self, forKey: .tempMax)
        fwhmMax = try container.decodeIfPresent(Double.self, forKey: .fwhmMax)
        plan = try container.decodeIfPresent(String.self, forKey: .plan)
        site = try container.decodeIfPresent(String.self, forKey: .site)
        camera = try container.decodeIfPresent(String.self, forKey: .camera)
        missing = try container.decodeIfPresent(Bool.self, forKey: .missing)
        sort = try container.decodeIfPresent(FrameSort.self, forKey: .sort) ?? .dateObs
        limit = try container.decodeIfPresent(Int.self, forKey: .limit) ?? Self.defaultLimit
        cursor = try container.decodeIfPresent(String.self, forKey: .cursor)
    }

    /// The query with its times in canonical form and its image type as written, checked
    /// whole (what the catalog runs; a bus peer may send `start` as `2026-12-05`).
    /// - Throws: ``BusError`` `invalid_argument` naming the member.
    public func normalized() throws(BusError) -> FrameQuery {
        var query = self
        if let start { query.start = try Self.time(start, field: "start") }
        if let end { query.end = try Self.time(end, field: "end") }
        if let night, !Self.isNight(night) { throw .invalid("night", "'\(night.prefix(64))' is not a night YYYY-MM-DD") }
        if let imagetyp {
            guard let type = Self.imageType(imagetyp) else { throw .invalid("imagetyp", "'\(imagetyp.prefix(64))' is not an image type") }
            query.imagetyp = type
        }
        try query.validate()
        return query
    }

    /// A query with no filter: every row, oldest first, ``defaultLimit`` a page.
    public init() {
        sort = .dateObs
        limit = Self.defaultLimit
    }

    /// Parses query parameters (`start=...&filter=V`).
    /// - Parameters:
    ///   - parameters: name and value pairs, in order; a name given twice is refused.
    ///   - ignoring: names that belong to the transport (e.g. `token`), skipped.
    /// - Throws: ``BusError`` `invalid_argument` whose `field` is the parameter and whose message
    ///   gives the value and the rule.
    public init(parameters: [(String, String)], ignoring: Set<String> = []) throws(BusError) {
        self.init()
        var seen = Set<String>()
        for (name, value) in parameters where !ignoring.contains(name) {
            guard Self.parameterNames.contains(name) else {
                throw .invalid(name, "is not a filter of /v1/frames (they are: \(Self.parameterNames.joined(separator: ", ")))")
            }
            guard seen.insert(name).inserted else { throw .invalid(name, "is given more than once") }
            try set(name, value)
        }
        try validate()
    }

    private mutating func set(_ name: String, _ value: String) throws(BusError) {
        func number(_ range: ClosedRange<Double>, _ unit: String) throws(BusError) -> Double {
            guard let number = Double(value), number.isFinite, range.contains(number) else {
                throw .invalid(name, "'\(value.prefix(64))' is not a number from \(range.lowerBound) to \(range.upperBound) \(unit)")
            }
            return number
        }
        func text() throws(BusError) -> String {
            guard !value.isEmpty, value.utf8.count <= 200, !value.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                throw .invalid(name, "must be 1 to 200 characters without control characters")
            }
            return value
        }
        switch name {
        case "start": start = try Self.time(value, field: name)
        case "end": end = try Self.time(value, field: name)
        case "night":
            guard Self.isNight(value) else { throw .invalid(name, "'\(value.prefix(64))' is not a night YYYY-MM-DD") }
            night = value
        case "imagetyp":
            guard let type = Self.imageType(value) else {
                throw .invalid(name, "'\(value.prefix(64))' is not an image type (object, light, bias, dark, flat, "
                               + "or IMAGETYP as written: Light Frame, Bias Frame, Dark Frame, Flat Field, MASTERBIAS, MASTERDARK, MASTERFLAT)")
            }
            imagetyp = type
        case "filter": filter = try text()
        case "object": object = try text()
        case "exposure": exposure = try text()
        case "plan": plan = try text()
        case "site", "camera":
            guard FacilityName.isValid(value) else { throw .invalid(name, "'\(value.prefix(64))' \(FacilityName.rule)") }
            if name == "site" { site = value } else { camera = value }
        case "exptime_min": exptimeMin = try number(0...1e7, "seconds")
        case "exptime_max": exptimeMax = try number(0...1e7, "seconds")
        case "temp_min": tempMin = try number(-273.15...1000, "degrees Celsius")
        case "temp_max": tempMax = try number(-273.15...1000, "degrees Celsius")
        case "fwhm_max": fwhmMax = try number(0...1e6, "pixels")
        case "missing":
            guard let flag = ["true": true, "false": false, "1": true, "0": false][value] else {
                throw .invalid(name, "'\(value.prefix(64))' is not true or false")
            }
            missing = flag
        case "sort":
            guard let order = FrameSort(rawValue: value) else {
                throw .invalid(name, "'\(value.prefix(64))' is not one of \(FrameSort.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            sort = order
        case "limit":
            guard let count = Int(value), (1...Self.maximumLimit).contains(count) else {
                throw .invalid(name, "'\(value.prefix(64))' is not a whole number from 1 to \(Self.maximumLimit)")
            }
            limit = count
        case "cursor": cursor = value
        default: throw .invalid(name, "is not a filter of /v1/frames")
        }
    }

    /// Checks the combination: ranges the right way round, a cursor made for this order, a limit in range.
    /// - Throws: ``BusError`` `invalid_argument` naming the parameter.
    public func validate() throws(BusError) {
        if let start, let end, start >= end { throw .invalid("end", "'\(end)' is not after start '\(start)'") }
        if let low = exptimeMin, let high = exptimeMax, low > high {
            throw .invalid("exptime_max", "\(high) is below exptime_min \(low)")
        }
        if let low = tempMin, let high = tempMax, low > high { throw .invalid("temp_max", "\(high) is below temp_min \(low)") }
        for (name, value) in [("exptime_min", exptimeMin), ("exptime_max", exptimeMax), ("temp_min", tempMin),
                              ("temp_max", tempMax), ("fwhm_max", fwhmMax)] {
            if let value, !value.isFinite { throw .invalid(name, "must be a finite number") }
        }
        guard (1...Self.maximumLimit).contains(limit) else {
            throw .invalid("limit", "\(limit) is not a whole number from 1 to \(Self.maximumLimit)")
        }
        if let cursor { _ = try FrameCursor(decoding: cursor, for: sort) }
    }

    /// The canonical form of a time: `YYYY-MM-DDTHH:MM:SS.sss` in UTC.
    /// - Parameters:
    ///   - text: `YYYY-MM-DD`, or with `THH:MM`, `:SS`, `.fraction`, and `Z` or a `±HH:MM` offset.
    ///   - field: the parameter, for the error.
    public static func time(_ text: String, field: String) throws(BusError) -> String {
        guard let date = FrameTime.parse(text) else {
            throw .invalid(field, "'\(text.prefix(64))' is not a UTC time YYYY-MM-DD[THH:MM[:SS[.sss]]][Z]")
        }
        return FrameTime.canonical(date)
    }

    /// Whether `text` is a valid `YYYY-MM-DD` date.
    public static func isNight(_ text: String) -> Bool {
        text.utf8.count == 10 && FrameTime.parse(text) != nil
    }

    /// The IMAGETYP a type name stands for, or nil.
    /// - Parameter name: `object`, `light`, `bias`, `dark`, `flat` or a written IMAGETYP (any case).
    public static func imageType(_ name: String) -> String? {
        switch name.lowercased() {
        case "object", "light", "light frame": "Light Frame"
        case "bias", "bias frame", "zero": "Bias Frame"
        case "dark", "dark frame": "Dark Frame"
        case "flat", "flat field", "flat frame": "Flat Field"
        case "masterbias", "masterdark", "masterflat": name.uppercased()
        default: nil
        }
    }
}

/// Times as the catalog writes and compares them.
public enum FrameTime {
    /// `YYYY-MM-DDTHH:MM:SS.sss` in UTC: sorts as text in time order.
    public static func canonical(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        let seconds = Int64((milliseconds / 1000).rounded(.down))
        let fraction = Int(milliseconds - Double(seconds) * 1000)
        let (days, secondOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civil(fromDays: days)
        guard (0...9999).contains(year) else {
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d", year, month, day,
                          Int(secondOfDay / 3600), Int(secondOfDay % 3600 / 60), Int(secondOfDay % 60), fraction)
        }
        // By hand: the catalog formats two of these a frame, and String(format:) is most of it.
        var text: [UInt8] = []
        text.reserveCapacity(23)
        func append(_ value: Int, digits: Int, after separator: UInt8?) {
            if let separator { text.append(separator) }
            var divisor = 1
            for _ in 1..<digits { divisor *= 10 }
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
                divisor /= 10
            }
        }
        append(Int(year), digits: 4, after: nil)
        append(Int(month), digits: 2, after: UInt8(ascii: "-"))
        append(Int(day), digits: 2, after: UInt8(ascii: "-"))
        append(Int(secondOfDay / 3600), digits: 2, after: UInt8(ascii: "T"))
        append(Int(secondOfDay % 3600 / 60), digits: 2, after: UInt8(ascii: ":"))
        append(Int(secondOfDay % 60), digits: 2, after: UInt8(ascii: ":"))
        append(fraction, digits: 3, after: UInt8(ascii: "."))
        return String(decoding: text, as: UTF8.self)
    }

    /// `YYYY-MM-DD` of a date in UTC.
    public static func day(_ date: Date) -> String {
        String(canonical(date).prefix(10))
    }

    /// Parses `YYYY-MM-DD[THH:MM[:SS[.fraction]]][Z|±HH:MM]` (a space may stand for `T`).
    /// - Returns: the time, or nil when the text is not one or a field is out of range.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        var index = 0
        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[index..<(index + count)] {
                guard byte >= 0x30 && byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            index += count
            return value
        }
        func take(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), take(0x2D), let month = digits(2), take(0x2D), let day = digits(2),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        var offset = 0
        if index < bytes.count && (bytes[index] == 0x54 || bytes[index] == 0x20) {
            index += 1
            guard let h = digits(2), take(0x3A), let m = digits(2), h < 24, m < 60 else { return nil }
            hour = h
            minute = m
            if take(0x3A) {
                guard let s = digits(2), s < 61 else { return nil }
                second = s
                if take(0x2E) {
                    var scale = 0.1
                    let start = index
                    while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39, index - start < 9 {
                        fraction += Double(bytes[index] - 0x30) * scale
                        scale /= 10
                        index += 1
                    }
                    guard index > start else { return nil }
                }
            }
            if take(0x5A) {
            } else if index < bytes.count && (bytes[index] == 0x2B || bytes[index] == 0x2D) {
                let sign = bytes[index] == 0x2D ? -1 : 1
                index += 1
                guard let oh = digits(2), take(0x3A), let om = digits(2), oh < 24, om < 60 else { return nil }
                offset = sign * (oh * 3600 + om * 60)
            }
        }
        guard index == bytes.count else { return nil }
        let days = days(fromCivil: year, month, day)
        // A day that does not exist (February 30th) comes back as another date: refuse it.
        guard civil(fromDays: days) == (year, month, day) else { return nil }
        let seconds = Double(days) * 86_400 + Double(hour * 3600 + minute * 60 + second - offset) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// The observing night of an exposure: the date of the local noon before it, local time
    /// being UTC plus the site's longitude (east positive) at 15 degrees an hour.
    /// - Parameters:
    ///   - date: the exposure's start.
    ///   - longitude: the site's longitude in degrees (east positive), or nil for Greenwich.
    public static func night(of date: Date, longitude: Double?) -> String {
        let shift = (longitude.map { $0.isFinite ? max(-180, min(180, $0)) : 0 } ?? 0) / 15 * 3600 - 12 * 3600
        return day(date.addingTimeInterval(shift))
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let quotient = a >= 0 ? a / b : -((-a + b - 1) / b)
        return (quotient, a - quotient * b)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (Int(year), Int(month), Int(day))
    }
}

/// A page's position: the last row's sort value and id. Opaque to clients (base64url of JSON);
/// stable while rows are added, since the next page starts strictly after that row.
public struct FrameCursor: Codable, Sendable, Hashable {
    /// The order the cursor was made for.
    public var sort: FrameSort
    /// The last row's DATE-OBS, for the date orders.
    public var text: String?
    /// The last row's FWHM key, for the FWHM orders (rows without a FWHM sort last: their key
    /// is the largest, or for `-fwhm` the smallest, number).
    public var number: Double?
    /// The last row's id.
    public var id: Int64

    /// Makes a cursor.
    public init(sort: FrameSort, text: String?, number: Double?, id: Int64) {
        self.sort = sort
        self.text = text
        self.number = number
        self.id = id
    }

    /// The cursor as a client sees it.
    public var encoded: String {
        let data = (try? JSONEncoder().encode(self)) ?? Data()
        return data.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Reads a cursor back.
    /// - Parameters:
    ///   - text: the `next` of a page.
    ///   - sort: the query's order: the cursor must have been made for it.
    /// - Throws: ``BusError`` `invalid_argument` for `cursor`.
    public init(decoding text: String, for sort: FrameSort) throws(BusError) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard text.utf8.count <= 512, let data = Data(base64Encoded: base64),
              let cursor = try? JSONDecoder().decode(FrameCursor.self, from: data),
              cursor.number.map(\.isFinite) ?? true else {
            throw .invalid("cursor", "'\(text.prefix(64))' is not a cursor this catalog gave (use a page's `next` as it is)")
        }
        guard cursor.sort == sort else {
            throw .invalid("cursor", "was made for sort=\(cursor.sort.rawValue), not sort=\(sort.rawValue)")
        }
        self = cursor
    }
}

/// A page of rows.
public struct FramePage: Codable, Sendable, Hashable {
    /// The rows, in the query's order.
    public var frames: [FrameRow]
    /// The cursor after this page's last row; nil when the page is empty. A page shorter than
    /// the limit is the end for now: asking with its `next` later gives the rows added since.
    public var next: String?
    /// Creates a page.
    public init(frames: [FrameRow], next: String?) {
        self.frames = frames
        self.next = next
    }
}

/// `summary`: counts and total exposure per night, filter and image type.
public struct FrameSummary: Codable, Sendable, Hashable {
    /// One night.
    public struct Night: Codable, Sendable, Hashable {
        /// `YYYY-MM-DD`.
        public var night: String
        /// Frames that night (missing files included).
        public var frames: Int
        /// Their total EXPTIME in seconds.
        public var exposure: Double
        /// Per filter and image type.
        public var groups: [Group]
        /// Creates a night.
        public init(night: String, frames: Int, exposure: Double, groups: [Group]) {
            self.night = night
            self.frames = frames
            self.exposure = exposure
            self.groups = groups
        }
    }
    /// One filter and image type within a night.
    public struct Group: Codable, Sendable, Hashable {
        /// FILTER, nil when the frames have none.
        public var filter: String?
        /// IMAGETYP.
        public var imagetyp: String?
        /// Frames.
        public var frames: Int
        /// Their total EXPTIME in seconds.
        public var exposure: Double
        /// Creates a group.
        public init(filter: String?, imagetyp: String?, frames: Int, exposure: Double) {
            self.filter = filter
            self.imagetyp = imagetyp
            self.frames = frames
            self.exposure = exposure
        }
    }
    /// The nights, newest first.
    public var nights: [Night]
    /// Frames over all nights.
    public var frames: Int
    /// Total EXPTIME over all nights, in seconds.
    public var exposure: Double
    /// Creates a summary.
    public init(nights: [Night], frames: Int, exposure: Double) {
        self.nights = nights
        self.frames = frames
        self.exposure = exposure
    }
}

/// `frames`: the rows a query selects, a page at a time.
public enum CatalogFramesCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "frames"
    /// The query.
    public typealias Arguments = FrameQuery
    /// A page.
    public typealias Result = FramePage
}

/// `frame`: one row with all its headers; `not_found` for an unknown id.
public enum CatalogFrameCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "frame"
    /// `{"id": 42}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The row's id.
        public var id: Int64
        /// Creates the arguments.
        public init(id: Int64) { self.id = id }
    }
    /// The row, `headers` included.
    public typealias Result = FrameRow
}

/// `summary`: counts per night, filter and image type of the rows a query selects (its sort,
/// limit and cursor are ignored).
public enum CatalogSummaryCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "summary"
    /// The query.
    public typealias Arguments = FrameQuery
    /// The summary.
    public typealias Result = FrameSummary
}

/// What a reconcile or a rebuild did.
public struct CatalogScanReport: Codable, Sendable, Hashable {
    /// FITS files found in the data folders.
    public var files: Int
    /// Rows added for files the catalog did not have.
    public var added: Int
    /// Rows rewritten from their files (a rebuild rewrites every row whose file is there).
    public var updated: Int
    /// Rows newly marked missing (their file is gone).
    public var missing: Int
    /// Rows whose file came back.
    public var restored: Int
    /// Files that could not be read (path and reason); they get no row.
    public var unreadable: [String]
    /// Paths whose bytes differed from their row's SHA-256 (a rebuild takes the file's; `verify`
    /// would have reported them).
    public var changed: [String]
    /// Seconds the scan took.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case files, added, updated, missing, restored, unreadable, changed, seconds
    }

    /// An empty report.
    public init() {
        files = 0
        added = 0
        updated = 0
        missing = 0
        restored = 0
        unreadable = []
        changed = []
        seconds = 0
    }
}

/// `reconcile`: finds files the catalog lacks and rows whose file is gone (cheap: names and
/// sizes only). The catalog runs it at start, after a gap in the events, and every
/// `catalog.reconcile_interval`.
public enum CatalogReconcileCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "reconcile"
    /// What it did.
    public typealias Result = CatalogScanReport
}

/// `rebuild`: re-reads every file's header and hash and rewrites every row from the files
/// alone (ids kept for known paths; quality figures kept by exposure and frame). Idempotent.
public enum CatalogRebuildCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "rebuild"
    /// What it did.
    public typealias Result = CatalogScanReport
}

/// `verify`: re-hashes every file and reports those whose bytes no longer match their row.
public enum CatalogVerifyCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "verify"
    /// The report.
    public typealias Result = CatalogVerifyReport
}

/// What ``CatalogVerifyCommand`` found.
public struct CatalogVerifyReport: Codable, Sendable, Hashable {
    /// A file whose bytes changed.
    public struct Changed: Codable, Sendable, Hashable {
        /// The row's id.
        public var id: Int64
        /// The path relative to the data root.
        public var path: String
        /// The SHA-256 the catalog has.
        public var expected: String
        /// The SHA-256 of the file now.
        public var actual: String
        /// The size the catalog has, and the file's now.
        public var expectedBytes: Int64
        /// The file's size now.
        public var actualBytes: Int64

        enum CodingKeys: String, CodingKey {
            case id, path, expected, actual
            case expectedBytes = "expected_bytes"
            case actualBytes = "actual_bytes"
        }

        /// Creates an entry.
        public init(id: Int64, path: String, expected: String, actual: String, expectedBytes: Int64, actualBytes: Int64) {
            self.id = id
            self.path = path
            self.expected = expected
            self.actual = actual
            self.expectedBytes = expectedBytes
            self.actualBytes = actualBytes
        }
    }
    /// Files hashed.
    public var checked: Int
    /// Bytes hashed.
    public var bytes: Int64
    /// Files whose bytes changed.
    public var changed: [Changed]
    /// Paths of rows whose file is gone.
    public var missing: [String]
    /// Seconds it took.
    public var seconds: Double

    /// Creates a report.
    public init(checked: Int, bytes: Int64, changed: [Changed], missing: [String], seconds: Double) {
        self.checked = checked
        self.bytes = bytes
        self.changed = changed
        self.missing = missing
        self.seconds = seconds
    }
}

/// `status`: the catalog's counts and how well it keeps up.
public enum CatalogStatusCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "status"
    /// The status.
    public typealias Result = CatalogStatus
}

/// What ``CatalogStatusCommand`` answers.
public struct CatalogStatus: Codable, Sendable, Hashable {
    /// Rows.
    public var frames: Int
    /// Rows whose file is gone.
    public var missing: Int
    /// The database file.
    public var database: String
    /// Frame events received.
    public var events: Int
    /// Events lost (gaps in the sequence numbers), each followed by a reconcile.
    public var dropped: Int
    /// Reconciles run.
    public var reconciles: Int
    /// Rows added by reconciles (files the events did not announce).
    public var reconciled: Int

    /// Creates a status.
    public init(frames: Int, missing: Int, database: String, events: Int, dropped: Int, reconciles: Int, reconciled: Int) {
        self.frames = frames
        self.missing = missing
        self.database = database
        self.events = events
        self.dropped = dropped
        self.reconciles = reconciles
        self.reconciled = reconciled
    }
}
