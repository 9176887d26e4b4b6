import Bus
import Foundation

// Master calibration frames and the dark library on catalog.ctl (docs/protocol.md,
// "Calibration"): `calibration.combine` makes a master from catalogued frames,
// `calibration.match` finds the masters that calibrate a frame.

/// The kind of a master frame.
public enum MasterKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// A master bias (combined bias frames).
    case bias
    /// A master dark (combined raw dark frames, bias included).
    case dark
    /// A master flat (flats each divided by its own median, combined, normalised to median 1).
    case flat

    /// IMAGETYP of the master: `MASTERBIAS`, `MASTERDARK`, `MASTERFLAT`.
    public var masterImageType: String { "MASTER" + rawValue.uppercased() }

    /// IMAGETYP its inputs carry, as the catalog writes it.
    public var inputImageType: String {
        switch self {
        case .bias: "Bias Frame"
        case .dark: "Dark Frame"
        case .flat: "Flat Field"
        }
    }
}

/// `calibration.combine`'s request: which frames, which kind of master, which method.
public struct CombineRequest: Codable, Sendable, Hashable {
    /// `kind`: bias, dark or flat.
    public var kind: MasterKind
    /// `method`: `median` or `sigma_clip` (default `median`).
    public var method: String
    /// `frames`: catalog ids of the inputs (or `query`).
    public var frames: [Int64]?
    /// `query`: the rows of a catalog query are the inputs (its limit is raised to the maximum).
    public var query: FrameQuery?
    /// `kappa_low`: sigma clipping's lower threshold in standard deviations (default 3).
    public var kappaLow: Double?
    /// `kappa_high`: the upper threshold (default 3).
    public var kappaHigh: Double?
    /// `iterations`: the most clipping rounds (default 5).
    public var iterations: Int?

    /// The fewest inputs a master takes.
    public static let minimumInputs = 2
    /// The most inputs a master takes.
    public static let maximumInputs = 500
    /// The methods.
    public static let methods = ["median", "sigma_clip"]

    enum CodingKeys: String, CodingKey {
        case kind, method, frames, query, iterations
        case kappaLow = "kappa_low"
        case kappaHigh = "kappa_high"
    }

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - kind: The master's kind.
    ///   - method: `median` or `sigma_clip`.
    ///   - frames: Input ids (or `query`).
    ///   - query: A catalog query selecting the inputs.
    ///   - kappaLow: Lower clipping threshold.
    ///   - kappaHigh: Upper clipping threshold.
    ///   - iterations: Clipping rounds.
    public init(kind: MasterKind, method: String = "median", frames: [Int64]? = nil, query: FrameQuery? = nil,
                kappaLow: Double? = nil, kappaHigh: Double? = nil, iterations: Int? = nil) {
        self.kind = kind
        self.method = method
        self.frames = frames
        self.query = query
        self.kappaLow = kappaLow
        self.kappaHigh = kappaHigh
        self.iterations = iterations
    }

    /// Decodes a request; `method` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decode(MasterKind.self, forKey: .kind)
        method = try container.decodeIfPresent(String.self, forKey: .method) ?? "median"
        frames = try container.decodeIfPresent([Int64].self, forKey: .frames)
        query = try container.decodeIfPresent(FrameQuery.self, forKey: .query)
        kappaLow = try container.decodeIfPresent(Double.self, forKey: .kappaLow)
        kappaHigh = try container.decodeIfPresent(Double.self, forKey: .kappaHigh)
        iterations = try container.decodeIfPresent(Int.self, forKey: .iterations)
    }

    /// Checks what can be checked without the catalog: the method, the clipping parameters
    /// (finite, in range, only with `sigma_clip`), and that exactly one of `frames` and `query`
    /// is given, with 2 to 500 distinct ids.
    /// - Throws: ``BusError`` `invalid_argument` naming the field.
    public func validate() throws(BusError) {
        guard Self.methods.contains(method) else {
            throw .invalid("method", "'\(method.prefix(64))' is not a method (median, sigma_clip)")
        }
        if method == "median" {
            for (field, given) in [("kappa_low", kappaLow != nil), ("kappa_high", kappaHigh != nil), ("iterations", iterations != nil)]
            where given {
                throw .invalid(field, "applies to method sigma_clip only (method is median)")
            }
        }
        for (field, value) in [("kappa_low", kappaLow), ("kappa_high", kappaHigh)] {
            guard let value else { continue }
            guard value.isFinite, (0.1...100).contains(value) else {
                throw .invalid(field, "\(value) is not a finite number from 0.1 to 100 (standard deviations)")
            }
        }
        if let iterations, !(1...100).contains(iterations) {
            throw .invalid("iterations", "\(iterations) is not from 1 to 100")
        }
        switch (frames, query) {
        case (nil, nil): throw .invalid("frames", "give the input frames' ids (frames) or a catalog query (query)")
        case (.some, .some): throw .invalid("frames", "give frames or query, not both")
        case (let ids?, nil):
            guard (Self.minimumInputs...Self.maximumInputs).contains(ids.count) else {
                throw .invalid("frames", "\(ids.count) id(s) given; a master combines \(Self.minimumInputs) to \(Self.maximumInputs) frames")
            }
            var seen = Set<Int64>()
            for id in ids where !seen.insert(id).inserted {
                throw .invalid("frames", "id \(id) is given twice")
            }
        case (nil, let query?):
            _ = try query.normalized()
        }
    }
}

/// `calibration.combine`'s reply: the new master's catalog row and what went into it.
public struct CombineResult: Codable, Sendable, Hashable {
    /// The master's row (with its headers).
    public var master: FrameRow
    /// The inputs' ids, in the order combined (by DATE-OBS).
    public var inputs: [Int64]
    /// Seconds spent reading, combining and writing.
    public var seconds: Double

    /// Creates a reply.
    ///
    /// - Parameters:
    ///   - master: The master's row.
    ///   - inputs: The inputs' ids.
    ///   - seconds: Time taken.
    public init(master: FrameRow, inputs: [Int64], seconds: Double) {
        self.master = master
        self.inputs = inputs
        self.seconds = seconds
    }
}

/// `calibration.combine`: combines catalogued frames into a master, written under
/// `DATA_ROOT/masters/` and catalogued. Errors: `invalid_argument` naming the field (ids of
/// the wrong type, size, binning, exposure time, readout mode, gain or filter); `not_found` for
/// unknown ids; `insufficient_data` when inputs are missing on disk or a query selects fewer
/// than 2.
public enum CalibrationCombineCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "calibration.combine"
    /// The request.
    public typealias Arguments = CombineRequest
    /// The master.
    public typealias Result = CombineResult
}

/// What a frame's calibration must match: the values of the frame itself (a frame id or path
/// is looked up in the catalog; the processor sends the values of a frame not catalogued yet).
public struct FrameTraits: Codable, Sendable, Hashable {
    /// EXPTIME in seconds.
    public var exptime: Double?
    /// XBINNING.
    public var xbinning: Int?
    /// YBINNING.
    public var ybinning: Int?
    /// READOUTM.
    public var readoutMode: String?
    /// GAIN.
    public var gain: String?
    /// FILTER.
    public var filter: String?
    /// CCD-TEMP in degrees Celsius.
    public var ccdTemp: Double?
    /// NAXIS1.
    public var width: Int?
    /// NAXIS2.
    public var height: Int?

    enum CodingKeys: String, CodingKey {
        case exptime, xbinning, ybinning, gain, filter, width, height
        case readoutMode = "readout_mode"
        case ccdTemp = "ccd_temp"
    }

    /// Creates traits.
    ///
    /// - Parameters:
    ///   - exptime: Exposure time.
    ///   - xbinning: Binning in x.
    ///   - ybinning: Binning in y.
    ///   - readoutMode: Readout mode.
    ///   - gain: Gain setting.
    ///   - filter: Filter.
    ///   - ccdTemp: Sensor temperature.
    ///   - width: Image width.
    ///   - height: Image height.
    public init(exptime: Double? = nil, xbinning: Int? = nil, ybinning: Int? = nil, readoutMode: String? = nil,
                gain: String? = nil, filter: String? = nil, ccdTemp: Double? = nil, width: Int? = nil, height: Int? = nil) {
        self.exptime = exptime
        self.xbinning = xbinning
        self.ybinning = ybinning
        self.readoutMode = readoutMode
        self.gain = gain
        self.filter = filter
        self.ccdTemp = ccdTemp
        self.width = width
        self.height = height
    }

    /// A catalog row's traits.
    ///
    /// - Parameter row: The row.
    public init(_ row: FrameRow) {
        self.init(exptime: row.exptime, xbinning: row.xbinning, ybinning: row.ybinning, readoutMode: row.readoutMode,
                  gain: row.gain, filter: row.filter, ccdTemp: row.ccdTemp, width: row.width, height: row.height)
    }
}

/// Which masters `calibration.match` looks for.
public enum MatchKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// The master dark.
    case dark
    /// The master bias.
    case bias
    /// The master flat.
    case flat
    /// All three.
    case all

    /// The kinds of master this asks for.
    public var kinds: [MasterKind] {
        switch self {
        case .dark: [.dark]
        case .bias: [.bias]
        case .flat: [.flat]
        case .all: [.bias, .dark, .flat]
        }
    }
}

/// `calibration.match`'s request: a frame (catalog id, path, or its values) and what to find.
public struct MatchRequest: Codable, Sendable, Hashable {
    /// `frame`: the frame's catalog id.
    public var frame: Int64?
    /// `path`: the frame's path relative to the data root (or absolute inside it).
    public var path: String?
    /// `traits`: the frame's values, for a frame not catalogued.
    public var traits: FrameTraits?
    /// `kind`: dark, bias, flat or all (default dark).
    public var kind: MatchKind
    /// `tolerance`: how far from the frame's CCD-TEMP a master dark may be, in degrees (default 1.0).
    public var tolerance: Double

    /// The default temperature tolerance, degrees Celsius.
    public static let defaultTolerance = 1.0
    /// The tolerances a request may give.
    public static let toleranceRange: ClosedRange<Double> = 0...100

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - frame: Catalog id.
    ///   - path: Path.
    ///   - traits: The frame's values.
    ///   - kind: What to find.
    ///   - tolerance: Temperature tolerance.
    public init(frame: Int64? = nil, path: String? = nil, traits: FrameTraits? = nil, kind: MatchKind = .dark,
                tolerance: Double = MatchRequest.defaultTolerance) {
        self.frame = frame
        self.path = path
        self.traits = traits
        self.kind = kind
        self.tolerance = tolerance
    }

    /// Decodes a request; `kind` and `tolerance` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        frame = try container.decodeIfPresent(Int64.self, forKey: .frame)
        path = try container.decodeIfPresent(String.self, forKey: .path)
        traits = try container.decodeIfPresent(FrameTraits.self, forKey: .traits)
        kind = try container.decodeIfPresent(MatchKind.self, forKey: .kind) ?? .dark
        tolerance = try container.decodeIfPresent(Double.self, forKey: .tolerance) ?? Self.defaultTolerance
    }

    enum CodingKeys: String, CodingKey { case frame, path, traits, kind, tolerance }

    /// Checks the request: exactly one of frame, path and traits; a finite tolerance in range.
    /// - Throws: ``BusError`` `invalid_argument` naming the field.
    public func validate() throws(BusError) {
        let given = [frame != nil, path != nil, traits != nil].filter { $0 }.count
        guard given == 1 else {
            throw .invalid("frame", given == 0 ? "give the frame's id (frame), its path (path) or its values (traits)"
                           : "give one of frame, path and traits")
        }
        guard tolerance.isFinite, Self.toleranceRange.contains(tolerance) else {
            throw .invalid("tolerance", "\(tolerance) is not a finite number of degrees from 0 to 100")
        }
        if let path, path.isEmpty || path.utf8.count > 4096 {
            throw .invalid("path", "must be 1 to 4096 bytes")
        }
    }
}

/// One kind's answer: the best master, or why there is none.
public struct MasterMatch: Codable, Sendable, Hashable {
    /// The kind looked for.
    public var kind: MasterKind
    /// The best master, or `null`.
    public var master: FrameRow?
    /// Why there is none (names what differed), or `null` when one matched.
    public var reason: String?

    /// Creates an answer.
    ///
    /// - Parameters:
    ///   - kind: The kind.
    ///   - master: The master found.
    ///   - reason: Why none was.
    public init(kind: MasterKind, master: FrameRow?, reason: String?) {
        self.kind = kind
        self.master = master
        self.reason = reason
    }
}

/// `calibration.match`'s reply.
public struct MatchResult: Codable, Sendable, Hashable {
    /// The frame's id, when it was given or found by path.
    public var frame: Int64?
    /// The values matched against.
    public var traits: FrameTraits
    /// The temperature tolerance used.
    public var tolerance: Double
    /// One answer per kind asked for (bias, dark, flat order).
    public var matches: [MasterMatch]

    /// Creates a reply.
    ///
    /// - Parameters:
    ///   - frame: The frame's id.
    ///   - traits: Its values.
    ///   - tolerance: The tolerance.
    ///   - matches: The answers.
    public init(frame: Int64?, traits: FrameTraits, tolerance: Double, matches: [MasterMatch]) {
        self.frame = frame
        self.traits = traits
        self.tolerance = tolerance
        self.matches = matches
    }
}

/// `calibration.match`: the dark library (and the bias and flat libraries) for one frame.
/// A frame with no matching master is not an error: its answer has `master: null` and the
/// reason. Errors: `invalid_argument` naming the field; `not_found` for an unknown frame.
public enum CalibrationMatchCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "calibration.match"
    /// The request.
    public typealias Arguments = MatchRequest
    /// The answers.
    public typealias Result = MatchResult
}
