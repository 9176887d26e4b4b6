import Bus
import FrameAnalysis

// Focus sessions as evora-server's focus helper has them (docs/protocol.md, "Focus sessions"):
// the observer adds saved FITS files taken at focuser positions; the processor measures each
// file with the same star detector and focus metrics as the live frames (median FWHM and HFD),
// fits both against position (FocusFit) and keeps the sessions in the state directory.

/// The limits of focus sessions: what a request may ask for and what the processor keeps.
public enum FocusSessionLimits {
    /// A session id: 1 to 64 characters of `A-Z a-z 0-9 . _ -` (evora's web client sends
    /// `Date.now()` as text).
    public static let idLength: ClosedRange<Int> = 1...64
    /// Focuser positions accepted, in the focuser's steps: the same range as a `focus: N` comment.
    public static let position: ClosedRange<Double> = -1e9...1e9
    /// Points one session holds at most.
    public static let pointsPerSession = 100
    /// Sessions kept at most; adding to a new one beyond it drops the least recently changed.
    public static let sessions = 64
    /// Seconds after its last change a session is forgotten (30 days, as evora).
    public static let expiry: Double = 30 * 86_400
    /// The longest `filename` accepted, in bytes (with 100 points and 64 sessions, what is kept stays
    /// within a few MB).
    public static let filenameLength = 256
    /// The largest file measured, in bytes (a 16-bit 8k x 8k frame is 128 MiB).
    public static let fileSize = 256 << 20

    /// Why `id` is not a session id, or nil when it is one.
    /// - Parameter id: the id given.
    public static func idProblem(_ id: String) -> String? {
        guard idLength.contains(id.utf8.count) else {
            return "must be 1 to \(idLength.upperBound) characters (got \(id.utf8.count))"
        }
        let allowed = id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
        return allowed ? nil : "may hold only letters, digits, '.', '_' and '-' (got '\(id.prefix(64))')"
    }
}

/// `measure_file`: measures one saved FITS file (its primary image) as the live focus metrics
/// measure frames: star count, median FWHM and HFD, background.
public enum MeasureFileCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "measure_file"
    /// The request's `args`: `{"filename": "20261206/image-0003.fits"}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// A path relative to the data root (`data.root`), or an absolute path inside it; a bare
        /// file name not found at the root is looked for in the night folders, newest first.
        public var filename: String
        /// Creates the arguments.
        public init(filename: String) { self.filename = filename }
    }
    /// The reply: the measurement.
    public typealias Result = FileMeasurement
}

/// What ``MeasureFileCommand`` found in a file.
public struct FileMeasurement: Codable, Sendable, Hashable {
    /// `filename`: the name as given.
    public var filename: String
    /// `path`: the file measured (absolute).
    public var path: String
    /// `width`: the image width in pixels.
    public var width: Int
    /// `height`: the image height in pixels.
    public var height: Int
    /// `star_count`: the stars measured.
    public var starCount: Int
    /// `median_fwhm`: the stars' median FWHM, in pixels.
    public var medianFWHM: Double
    /// `median_hfd`: the stars' median half-flux diameter, in pixels.
    public var medianHFD: Double
    /// `background`: the background level, in ADU.
    public var background: Double

    enum CodingKeys: String, CodingKey {
        case filename, path, width, height, background
        case starCount = "star_count"
        case medianFWHM = "median_fwhm"
        case medianHFD = "median_hfd"
    }

    /// Creates a measurement.
    public init(filename: String, path: String, width: Int, height: Int, starCount: Int, medianFWHM: Double,
                medianHFD: Double, background: Double) {
        self.filename = filename
        self.path = path
        self.width = width
        self.height = height
        self.starCount = starCount
        self.medianFWHM = medianFWHM
        self.medianHFD = medianHFD
        self.background = background
    }
}

/// One point of a focus session: a focuser position and the file measured there.
public struct FocusPoint: Codable, Sendable, Hashable {
    /// `position`: the focuser position.
    public var position: Double
    /// `measurement`: what the file gave.
    public var measurement: FileMeasurement
    /// `added`: Unix time the point was added.
    public var added: Double

    /// Creates a point.
    public init(position: Double, measurement: FileMeasurement, added: Double) {
        self.position = position
        self.measurement = measurement
        self.added = added
    }
}

/// A focus session: its points and, from 3 distinct positions, the fits of median FWHM and
/// median HFD against position (``FocusFit``, its default model) with their best positions.
public struct FocusSession: Codable, Sendable, Hashable {
    /// `id`: the session id.
    public var id: String
    /// `created`: Unix time of the first point (or of `focus_session_create`).
    public var created: Double
    /// `updated`: Unix time of the last change.
    public var updated: Double
    /// `points`: in the order added.
    public var points: [FocusPoint]
    /// `fwhm_fit`: the fit of median FWHM, nil before 3 distinct positions or when the points
    /// have no minimum (`fwhm_fit_error` says why).
    public var fwhmFit: FocusFit?
    /// `hfd_fit`: the fit of median HFD, as `fwhm_fit`.
    public var hfdFit: FocusFit?
    /// `fwhm_fit_error`: why there is no FWHM fit (with at least one point).
    public var fwhmFitError: String?
    /// `hfd_fit_error`: why there is no HFD fit (with at least one point).
    public var hfdFitError: String?

    enum CodingKeys: String, CodingKey {
        case id, created, updated, points
        case fwhmFit = "fwhm_fit"
        case hfdFit = "hfd_fit"
        case fwhmFitError = "fwhm_fit_error"
        case hfdFitError = "hfd_fit_error"
    }

    /// An empty session.
    public init(id: String, created: Double) {
        self.id = id
        self.created = created
        self.updated = created
        self.points = []
    }

    /// Fits both metrics again from the points.
    public mutating func refit() {
        (fwhmFit, fwhmFitError) = Self.fit(points.map { FocusSample(position: $0.position, metric: $0.measurement.medianFWHM) })
        (hfdFit, hfdFitError) = Self.fit(points.map { FocusSample(position: $0.position, metric: $0.measurement.medianHFD) })
    }

    private static func fit(_ samples: [FocusSample]) -> (FocusFit?, String?) {
        if samples.isEmpty { return (nil, nil) }
        do throws(AnalysisError) {
            return (try FocusFit.fit(samples), nil)
        } catch {
            return (nil, error.message)
        }
    }
}

/// `focus_session_add`: measures a file and adds it with its focuser position to a session
/// (created when new). A file that cannot be measured leaves the session unchanged.
public enum FocusSessionAddCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "focus_session_add"
    /// The request's `args`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// `id`: the session (see ``FocusSessionLimits/idProblem(_:)``).
        public var id: String
        /// `position`: the focuser position, within ``FocusSessionLimits/position``.
        public var position: Double
        /// `filename`: as ``MeasureFileCommand``'s.
        public var filename: String
        /// Creates the arguments.
        public init(id: String, position: Double, filename: String) {
            self.id = id
            self.position = position
            self.filename = filename
        }
    }
    /// The reply: the session with the new point and its fits.
    public typealias Result = FocusSession
}

/// `focus_session_create`: creates an empty session (`id` given, or made up).
public enum FocusSessionCreateCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "focus_session_create"
    /// The request's `args`: `{"id": ...}`, optional.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The new session's id; nil: the current time in milliseconds, as evora's client makes them.
        public var id: String?
        /// Creates the arguments.
        public init(id: String? = nil) { self.id = id }
    }
    /// The reply: the new session; `busy` when the id is taken.
    public typealias Result = FocusSession
}

/// `focus_session`: one session.
public enum FocusSessionGetCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "focus_session"
    /// The request's `args`: `{"id": ...}`.
    public typealias Arguments = FocusSessionReference
    /// The reply: the session; `not_found` for an unknown id.
    public typealias Result = FocusSession
}

/// `focus_sessions`: every session kept, the most recently changed first.
public enum FocusSessionListCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "focus_sessions"
    /// The reply: `{"sessions": [...]}`.
    public struct Result: Codable, Sendable, Hashable {
        /// The sessions.
        public var sessions: [FocusSession]
        /// Creates the reply.
        public init(sessions: [FocusSession]) { self.sessions = sessions }
    }
}

/// `focus_session_delete`: forgets a session (evora's reset).
public enum FocusSessionDeleteCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "focus_session_delete"
    /// The request's `args`: `{"id": ...}`.
    public typealias Arguments = FocusSessionReference
    /// The reply: `{"deleted": true}` when there was such a session.
    public struct Result: Codable, Sendable, Hashable {
        /// Whether a session was forgotten.
        public var deleted: Bool
        /// Creates the reply.
        public init(deleted: Bool) { self.deleted = deleted }
    }
}

/// `{"id": ...}`: names a session.
public struct FocusSessionReference: Codable, Sendable, Hashable {
    /// The session id.
    public var id: String
    /// Creates the reference.
    public init(id: String) { self.id = id }
}
