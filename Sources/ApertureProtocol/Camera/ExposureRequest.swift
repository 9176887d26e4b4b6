import Bus
import Foundation

/// How a request's frames are taken.
public enum ExposureMode: String, Sendable, Hashable, Codable {
    /// One frame, saved.
    case single
    /// `count` frames, each saved to its own file.
    case series
    /// Frames published for live viewing, not saved, until aborted (or `count` frames).
    case preview
}

/// A user-supplied FITS keyword value.
public enum KeywordValue: Sendable, Hashable, Codable {
    /// A string: printable ASCII, short enough for one header card.
    case string(String)
    /// An integer (a JSON number without a fraction); stays an integer in the header.
    case integer(Int)
    /// A finite number with a fraction.
    case double(Double)
    /// `true` or `false`, written as FITS `T` or `F`.
    case logical(Bool)

    /// Reads a JSON boolean, integer, other number or string; anything else (an object, an array, `null`) is refused.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .logical(value)
        } else if let value = try? container.decode(Int.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            throw DecodingError.typeMismatch(KeywordValue.self, .init(
                codingPath: container.codingPath, debugDescription: "a keyword value must be a string, number or boolean"))
        }
    }

    /// Writes the bare JSON value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .logical(let value): try container.encode(value)
        }
    }
}

/// An exposure request as clients send it (`expose` on camera.ctl, the CLI, the HTTP APIs).
public struct ExposureRequest: Sendable, Hashable, Codable {
    /// bias, dark, flat or object.
    public var type: ImageType
    /// Exposure time in seconds: above 0 (a bias takes any value from 0 and uses 0), at most
    /// `camera.max_exposure` and the camera's `maximum_exposure`.
    public var time: Double
    /// Number of frames, 1 to 100,000 (default 1; more than 1 means a series).
    public var count: Int?
    /// single, series or preview (default: single for one frame, series for more).
    public var mode: ExposureMode?
    /// Filter name to move the wheel to first (default: leave the wheel where it is).
    public var filter: String?
    /// Free text, written as FITS COMMENT; `focus: N` in it also sets FOCUS (as evora did).
    public var comment: String?
    /// FITS OBJECT.
    public var object: String?
    /// FITS OBSERVER (default: the configuration's camera.observer).
    public var observer: String?
    /// The region to read out, in unbinned pixels (default: the whole sensor).
    public var subframe: Subframe?
    /// Horizontal binning factor, 1 to the camera's `maximum_bin_x` (`bin_x`, default 1).
    public var binX: Int?
    /// Vertical binning factor, 1 to the camera's `maximum_bin_y` (`bin_y`, default 1).
    public var binY: Int?
    /// Index into the camera's `readout_modes` (`readout_mode`, default 0).
    public var readoutMode: Int?
    /// Index into the camera's `gains` (default 0).
    public var gain: Int?
    /// Extra FITS keywords: upper-cased names of at most 8 characters (A-Z 0-9 - _), not one
    /// Aperture writes itself.
    public var keywords: [String: KeywordValue]?
    /// Right ascension (J2000) the telescope points at, in degrees, 0 up to (not including) 360;
    /// given with ``dec`` or not at all. The simulator renders the real stars there; the FITS
    /// header gets OBJCTRA, RA and EQUINOX.
    public var ra: Double?
    /// Declination (J2000) the telescope points at, in degrees, -90 to 90; given with ``ra``.
    public var dec: Double?
    /// The frames' place in an observing plan (PLAN, PLANSTEP, PLANIDX): set by the sequencer
    /// only; `POST /v1/exposures` and a plan's steps refuse it.
    public var plan: PlanFrameTag?

    enum CodingKeys: String, CodingKey {
        case type, time, count, mode, filter, comment, object, observer, subframe, gain, keywords, ra, dec, plan
        case binX = "bin_x"
        case binY = "bin_y"
        case readoutMode = "readout_mode"
    }

    /// Creates a request; what is left nil takes the camera's default.
    public init(type: ImageType, time: Double, count: Int? = nil, mode: ExposureMode? = nil, filter: String? = nil,
                comment: String? = nil, object: String? = nil, observer: String? = nil, subframe: Subframe? = nil,
                binX: Int? = nil, binY: Int? = nil, readoutMode: Int? = nil, gain: Int? = nil,
                keywords: [String: KeywordValue]? = nil, ra: Double? = nil, dec: Double? = nil, plan: PlanFrameTag? = nil) {
        self.plan = plan
        self.ra = ra
        self.dec = dec
        self.type = type
        self.time = time
        self.count = count
        self.mode = mode
        self.filter = filter
        self.comment = comment
        self.object = object
        self.observer = observer
        self.subframe = subframe
        self.binX = binX
        self.binY = binY
        self.readoutMode = readoutMode
        self.gain = gain
        self.keywords = keywords
    }

    /// The focus position in a comment such as `focus: 1250` (case-insensitive), as evora read it.
    /// A plan accepts it only within ``focusRange`` (so never infinite: `focus: 1e400` in digits).
    public var focusFromComment: Double? {
        focusText.flatMap(Double.init)
    }

    /// The number after `focus:` in the comment, as written.
    var focusText: String? {
        guard let comment, let range = comment.range(of: #"focus\s*[:=]\s*-?[0-9]+(\.[0-9]+)?"#,
                                                    options: [.regularExpression, .caseInsensitive]) else { return nil }
        let text = comment[range]
        guard let separator = text.firstIndex(where: { $0 == ":" || $0 == "=" }) else { return nil }
        return text[text.index(after: separator)...].trimmingCharacters(in: .whitespaces)
    }
}

/// Where a telescope points: J2000 equatorial coordinates in degrees.
public struct SkyPointing: Sendable, Hashable, Codable {
    /// Right ascension in degrees, 0 up to (not including) 360.
    public var ra: Double
    /// Declination in degrees, -90 to 90.
    public var dec: Double

    /// Creates a pointing (not checked: ``ExposureRequest/plan(info:maximumExposure:filters:)``
    /// and the configuration check the values that arrive from outside).
    /// - Parameters:
    ///   - ra: right ascension in degrees.
    ///   - dec: declination in degrees.
    public init(ra: Double, dec: Double) {
        self.ra = ra
        self.dec = dec
    }

    /// The refusal of a right ascension, or nil when it is finite and in 0..<360.
    /// - Parameter ra: degrees.
    public static func problem(ra: Double) -> String? {
        guard ra.isFinite else { return "must be a finite number of degrees" }
        return (0..<360).contains(ra) ? nil : "\(ra) is outside 0 up to (not including) 360 degrees"
    }

    /// The refusal of a declination, or nil when it is finite and in -90...90.
    /// - Parameter dec: degrees.
    public static func problem(dec: Double) -> String? {
        guard dec.isFinite else { return "must be a finite number of degrees" }
        return (-90...90).contains(dec) ? nil : "\(dec) is outside -90 to 90 degrees"
    }

    /// Right ascension as FITS OBJCTRA writes it: `HH MM SS.SSS`.
    public var sexagesimalRA: String {
        let (whole, minutes, seconds) = Self.split(ra / 15, secondsDecimals: 3)
        return String(format: "%02d %02d %06.3f", whole % 24, minutes, seconds)
    }

    /// Declination as FITS OBJCTDEC writes it: `+DD MM SS.SS`.
    public var sexagesimalDec: String {
        let (whole, minutes, seconds) = Self.split(abs(dec), secondsDecimals: 2)
        return String(format: "%@%02d %02d %05.2f", dec < 0 ? "-" : "+", whole, minutes, seconds)
    }

    /// Degrees (or hours) split into whole units, minutes and seconds rounded to `secondsDecimals`,
    /// carried so that seconds never read 60.
    private static func split(_ value: Double, secondsDecimals: Int) -> (Int, Int, Double) {
        let unit = pow(10, Double(secondsDecimals))
        let totalSeconds = (value * 3600 * unit).rounded() / unit
        var whole = Int(totalSeconds / 3600)
        var minutes = Int((totalSeconds - Double(whole) * 3600) / 60)
        var seconds = totalSeconds - Double(whole) * 3600 - Double(minutes) * 60
        if seconds >= 60 - 0.5 / unit { seconds = 0; minutes += 1 }
        if minutes >= 60 { minutes -= 60; whole += 1 }
        return (whole, minutes, max(0, seconds))
    }
}

/// A validated request, ready for the driver loop.
public struct ExposurePlan: Sendable, Hashable {
    /// The request as the client sent it.
    public var request: ExposureRequest
    /// The mode, with the default resolved.
    public var mode: ExposureMode
    /// Frames to take; nil for a preview that runs until aborted.
    public var count: Int?
    /// What the driver is asked to do for each frame.
    public var settings: AcquisitionSettings
    /// The filter's canonical name, when the request names one.
    public var filter: String?
}

extension ExposureRequest {
    /// The longest text accepted in `comment`.
    public static let maximumCommentLength = 2000
    /// The most frames in one series.
    public static let maximumCount = 100_000
    /// The focuser positions a `focus: N` comment may give.
    public static let focusRange: ClosedRange<Double> = -1_000_000_000...1_000_000_000

    /// The request's pointing: nil when neither `ra` nor `dec` is given.
    /// - Throws: ``CameraError`` `invalid_argument` naming `ra` or `dec`: one without the other,
    ///   not finite, or out of range.
    public func checkedPointing() throws(CameraError) -> SkyPointing? {
        switch (ra, dec) {
        case (nil, nil):
            return nil
        case (.some, nil):
            throw .invalid("dec", "is required with ra (give both or neither)")
        case (nil, .some):
            throw .invalid("ra", "is required with dec (give both or neither)")
        case (.some(let ra), .some(let dec)):
            if let problem = SkyPointing.problem(ra: ra) { throw .invalid("ra", problem) }
            if let problem = SkyPointing.problem(dec: dec) { throw .invalid("dec", problem) }
            return SkyPointing(ra: ra, dec: dec)
        }
    }

    /// Validates the request against the camera and the configuration.
    /// - Parameters:
    ///   - info: what the camera can do.
    ///   - maximumExposure: the configured longest exposure, in seconds.
    ///   - filters: the filter names by slot.
    /// - Returns: the plan.
    /// - Throws: ``CameraError`` `invalid_argument` whose message names the field and the rule.
    public func plan(info: CameraInfo, maximumExposure: Double, filters: [String]) throws(CameraError) -> ExposurePlan {
        func invalid(_ field: String, _ detail: String) -> CameraError { .invalid(field, detail) }
        guard time.isFinite else { throw invalid("time", "must be a finite number of seconds") }
        guard time >= 0 else { throw invalid("time", "must not be negative (got \(time) s)") }
        let exposure = type == .bias ? 0 : time
        if type != .bias && time == 0 {
            throw invalid("time", "\(type == .object ? "an" : "a") \(type.rawValue) frame needs an exposure time above 0 s (only a bias is 0 s)")
        }
        let limit = min(maximumExposure, info.maximumExposure)
        guard exposure <= limit else { throw invalid("time", "\(time) s is above the maximum of \(limit) s") }
        if type != .bias && exposure < info.minimumExposure {
            throw invalid("time", "\(time) s is below the camera's minimum of \(info.minimumExposure) s")
        }

        if let count, !(1...Self.maximumCount).contains(count) {
            throw invalid("count", "must be from 1 to \(Self.maximumCount) (got \(count))")
        }
        let mode = self.mode ?? ((count ?? 1) > 1 ? .series : .single)
        let frames: Int?
        switch mode {
        case .single:
            guard count == nil || count == 1 else { throw invalid("count", "a single exposure takes 1 frame; use mode series for \(count!)") }
            frames = 1
        case .series:
            let n = count ?? 1
            guard (1...Self.maximumCount).contains(n) else { throw invalid("count", "must be from 1 to \(Self.maximumCount) (got \(n))") }
            frames = n
        case .preview:
            if let count, !(1...Self.maximumCount).contains(count) {
                throw invalid("count", "must be from 1 to \(Self.maximumCount) (got \(count))")
            }
            frames = count
        }

        if let plan {
            guard mode != .preview else { throw invalid("plan", "preview frames are not saved, so they have no place in a plan") }
            if let problem = plan.problem(frames: frames ?? 1) { throw invalid("plan", problem) }
        }
        let binX = self.binX ?? 1
        let binY = self.binY ?? 1
        guard (1...info.maximumBinX).contains(binX) else {
            throw invalid("bin_x", "\(binX) is not supported; the camera bins 1 to \(info.maximumBinX)")
        }
        guard (1...info.maximumBinY).contains(binY) else {
            throw invalid("bin_y", "\(binY) is not supported; the camera bins 1 to \(info.maximumBinY)")
        }
        let region = subframe ?? Subframe(x: 0, y: 0, width: info.width - info.width % binX, height: info.height - info.height % binY)
        guard region.x >= 0, region.y >= 0 else { throw invalid("subframe", "x and y must be >= 0 (got \(region.x), \(region.y))") }
        guard region.width >= 1, region.height >= 1 else {
            throw invalid("subframe", "width and height must be >= 1 (got \(region.width)x\(region.height))")
        }
        // Ranges checked before adding: x + width must not overflow (x = Int.max, width 1).
        guard region.width <= info.width, region.height <= info.height,
              region.x <= info.width - region.width, region.y <= info.height - region.height else {
            throw invalid("subframe", "\(region.width)x\(region.height) at (\(region.x), \(region.y)) lies outside the \(info.width)x\(info.height) sensor")
        }
        guard region.width % binX == 0, region.height % binY == 0 else {
            throw invalid("subframe", "width \(region.width) and height \(region.height) must be multiples of the binning \(binX)x\(binY)")
        }
        let readoutMode = self.readoutMode ?? 0
        guard info.readoutModes.indices.contains(readoutMode) else {
            throw invalid("readout_mode", "\(readoutMode) is not one of 0...\(info.readoutModes.count - 1) (\(info.readoutModes.joined(separator: ", ")))")
        }
        let gain = self.gain ?? 0
        guard info.gains.indices.contains(gain) else {
            throw invalid("gain", "\(gain) is not one of 0...\(info.gains.count - 1) (\(info.gains.joined(separator: ", ")))")
        }
        var filterName: String?
        if let filter {
            guard let match = filters.first(where: { $0.caseInsensitiveCompare(filter) == .orderedSame }) else {
                throw invalid("filter", "unknown filter '\(filter)'; the wheel holds \(filters.joined(separator: ", "))")
            }
            filterName = match
        }
        if let comment {
            if let focus = focusFromComment, !(focus.isFinite && Self.focusRange.contains(focus)) {
                let written = focusText ?? "\(focus)"
                throw invalid("comment", "focus \(written.count > 40 ? written.prefix(40) + "..." : written) is outside \(Int(Self.focusRange.lowerBound))...\(Int(Self.focusRange.upperBound)) (a focuser position)")
            }
            guard comment.count <= Self.maximumCommentLength else {
                throw invalid("comment", "at most \(Self.maximumCommentLength) characters")
            }
            guard comment.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
                throw invalid("comment", "must be printable ASCII (FITS headers allow nothing else)")
            }
        }
        for (field, value) in [("object", object), ("observer", observer)] {
            if let value, !(value.count <= 68 && value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F })) {
                throw invalid(field, "must be printable ASCII of at most 68 characters")
            }
        }
        let settings = AcquisitionSettings(
            exposureTime: exposure, shutter: type.shutter, subframe: region, binX: binX, binY: binY,
            readoutMode: readoutMode, gain: gain, imageType: type, pointing: try checkedPointing())
        return ExposurePlan(request: self, mode: mode, count: frames, settings: settings, filter: filterName)
    }
}
