import Bus

// Plate solving on processor.ctl (docs/protocol.md, "Processor"): `solve` runs astrometry.net's
// solve-field on a saved frame, `solution` reads a kept result back.

/// `solve`: plate-solves a saved FITS file with astrometry.net (at most one at a time: `busy`
/// while one runs). The reply comes when the solve ends: a success, or a failure with its
/// reason (no file, no stars, no solution within the time limit, solver missing or crashed).
/// Arguments that cannot be used (a file outside the data root, a hint out of range) are
/// refused with `invalid_argument` naming the field.
public enum SolveCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "solve"
    /// The request's `args`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// `file`: a path relative to `data.root`, or an absolute one inside it, or `latest`
        /// (the newest saved frame).
        public var file: String
        /// `hint_ra_deg`: the right ascension the field is near (J2000 degrees, 0..<360), with
        /// `hint_dec_deg`; both or neither.
        public var hintRA: Double?
        /// `hint_dec_deg`: the declination the field is near (-90...90).
        public var hintDec: Double?
        /// `hint_radius_deg`: how far from the hint the field may be (degrees, above 0 up to
        /// 180; default 5).
        public var hintRadius: Double?
        /// `time_limit`: seconds the solver may run (default `processor.solve_time_limit`; at most
        /// 600).
        public var timeLimit: Double?
        /// `write_wcs`: also write the solved WCS into a new file beside the original (default false).
        public var writeWCS: Bool?

        enum CodingKeys: String, CodingKey {
            case file
            case hintRA = "hint_ra_deg"
            case hintDec = "hint_dec_deg"
            case hintRadius = "hint_radius_deg"
            case timeLimit = "time_limit"
            case writeWCS = "write_wcs"
        }

        /// Creates the arguments; nil takes the default.
        public init(file: String, hintRA: Double? = nil, hintDec: Double? = nil, hintRadius: Double? = nil,
                    timeLimit: Double? = nil, writeWCS: Bool? = nil) {
            self.file = file
            self.hintRA = hintRA
            self.hintDec = hintDec
            self.hintRadius = hintRadius
            self.timeLimit = timeLimit
            self.writeWCS = writeWCS
        }
    }
    /// The reply: the solution (success or failure).
    public typealias Result = PlateSolution
}

/// `solution`: a solution kept by the processor (the last 100), by id.
public enum SolutionQueryCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "solution"
    /// The request's `args`: `{"id": "..."}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The solution's id.
        public var id: String
        /// Creates the arguments.
        public init(id: String) { self.id = id }
    }
    /// The reply: the solution; `not_found` for an unknown id.
    public typealias Result = PlateSolution
}

/// A point on a frame, in 0-based pixel coordinates (pixel `(i, j)` centred on `(i, j)`, row 0
/// the file's first row).
public struct PixelPoint: Codable, Sendable, Hashable {
    /// Column.
    public var x: Double
    /// Row.
    public var y: Double
    /// Creates a point.
    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// The outcome of one plate solve. JSON keys snake_case; the evora face uses `status`,
/// `failure_reason`, `center_ra_deg`, `center_dec_deg` as they are.
public struct PlateSolution: Codable, Sendable, Hashable {
    /// `id`: names the solution (`GET /v1/solutions/{id}`).
    public var id: String
    /// `status`: `success` or `failure`.
    public var status: String
    /// `failure_reason`: why there is no solution, or nil.
    public var failureReason: String?
    /// `file`: the file solved, as a path inside the data root (nil when none was found).
    public var file: String?
    /// `width`, `height`: the frame's size in pixels.
    public var width: Int?
    /// `height`.
    public var height: Int?
    /// `center_ra_deg`: right ascension of the frame's centre (J2000 degrees); 0 on failure, as evora.
    public var centerRA: Double
    /// `center_dec_deg`: declination of the frame's centre; 0 on failure.
    public var centerDec: Double
    /// `pixel_scale`: arcseconds per pixel.
    public var pixelScale: Double?
    /// `rotation_deg`: the position angle of the image's up direction (towards row 0... see
    /// docs/http-api.md), degrees east of north.
    public var rotation: Double?
    /// `parity`: `normal` (north up, east left possible by rotation alone) or `flipped`.
    public var parity: String?
    /// `field_width_deg`, `field_height_deg`: the field's size.
    public var fieldWidth: Double?
    /// `field_height_deg`.
    public var fieldHeight: Double?
    /// `detected_stars`: how many stars the detector found and gave the solver.
    public var detectedStars: Int
    /// `matched_stars`: how many of them the solution matched to catalogue stars.
    public var matchedStars: Int
    /// `solve_seconds`: the solver's wall time (star detection included).
    public var solveSeconds: Double
    /// `wcs`: the solved WCS header cards, keyword to value text as in the card.
    public var wcs: [String: String]?
    /// `wcs_file`: the new file holding the frame with the WCS (when asked for), inside the data root.
    public var wcsFile: String?
    /// `wcs_file_error`: why the WCS file asked for was not written (the solution stands).
    public var wcsFileError: String?
    /// `stars`: the detected stars (at most the 200 brightest), for the visualization.
    public var stars: [PixelPoint]
    /// `matches`: where the matched catalogue stars fall on the frame.
    public var matches: [PixelPoint]
    /// `hint_used`: whether a position hint narrowed the search.
    public var hintUsed: Bool
    /// `scale_hint`: whether FOCALLEN and XPIXSZ gave the solver the pixel scale.
    public var scaleHint: Bool

    enum CodingKeys: String, CodingKey {
        case id, status, file, width, height, parity, wcs, stars, matches
        case failureReason = "failure_reason"
        case centerRA = "center_ra_deg"
        case centerDec = "center_dec_deg"
        case pixelScale = "pixel_scale"
        case rotation = "rotation_deg"
        case fieldWidth = "field_width_deg"
        case fieldHeight = "field_height_deg"
        case detectedStars = "detected_stars"
        case matchedStars = "matched_stars"
        case solveSeconds = "solve_seconds"
        case wcsFile = "wcs_file"
        case wcsFileError = "wcs_file_error"
        case hintUsed = "hint_used"
        case scaleHint = "scale_hint"
    }

    /// A failure: no centre, the reason given.
    /// - Parameters:
    ///   - id: the solution's id.
    ///   - reason: why.
    ///   - file: the file, when one was found.
    public static func failure(id: String, reason: String, file: String?) -> PlateSolution {
        PlateSolution(id: id, status: "failure", failureReason: reason, file: file, centerRA: 0, centerDec: 0,
                      detectedStars: 0, matchedStars: 0, solveSeconds: 0, stars: [], matches: [],
                      hintUsed: false, scaleHint: false)
    }

    /// Creates a solution; see the properties.
    public init(id: String, status: String, failureReason: String?, file: String?, width: Int? = nil, height: Int? = nil,
                centerRA: Double, centerDec: Double, pixelScale: Double? = nil, rotation: Double? = nil,
                parity: String? = nil, fieldWidth: Double? = nil, fieldHeight: Double? = nil, detectedStars: Int,
                matchedStars: Int, solveSeconds: Double, wcs: [String: String]? = nil, wcsFile: String? = nil,
                stars: [PixelPoint], matches: [PixelPoint], hintUsed: Bool, scaleHint: Bool) {
        self.id = id
        self.status = status
        self.failureReason = failureReason
        self.file = file
        self.width = width
        self.height = height
        self.centerRA = centerRA
        self.centerDec = centerDec
        self.pixelScale = pixelScale
        self.rotation = rotation
        self.parity = parity
        self.fieldWidth = fieldWidth
        self.fieldHeight = fieldHeight
        self.detectedStars = detectedStars
        self.matchedStars = matchedStars
        self.solveSeconds = solveSeconds
        self.wcs = wcs
        self.wcsFile = wcsFile
        self.stars = stars
        self.matches = matches
        self.hintUsed = hintUsed
        self.scaleHint = scaleHint
    }
}
