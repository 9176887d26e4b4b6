import Bus

/// `plan.calibration`: builds a plan of biases, darks and flats matching the object frames of a
/// night or of a plan, and queues it (`POST /v1/calibration/sets`).
public enum CalibrationSetCommand: BusCommand {
    /// The command's name: answered by the sequencer on `catalog.ctl`.
    public static let name = "plan.calibration"
    /// What to calibrate, and how many frames of each kind.
    public typealias Arguments = CalibrationSetRequest
    /// The queued plan.
    public typealias Result = PlanRecord
}

/// A calibration set: exactly one of `night` and `plan` names the object frames it is for.
///
/// The set has, for the object frames' distinct settings: biases per binning, readout mode
/// and gain; darks per exposure time, binning, readout mode and gain; flats per filter,
/// binning, readout mode and gain. All are full frames (masters are cut to a subframe).
public struct CalibrationSetRequest: Codable, Sendable, Hashable {
    /// The observing night of the object frames, YYYY-MM-DD.
    public var night: String?
    /// The plan whose object frames it is for.
    public var plan: String?
    /// The plan's name (default: "calibration for NIGHT" or "calibration for PLAN").
    public var name: String?
    /// Biases per setting, 0 to 1000 (default 10; 0: none).
    public var biases: Int?
    /// Darks per setting, 0 to 1000 (default 10).
    public var darks: Int?
    /// Flats per setting, 0 to 1000 (default 10).
    public var flats: Int?
    /// The flats' exposure time in seconds (default 1; above 0).
    public var flatTime: Double?

    enum CodingKeys: String, CodingKey {
        case night, plan, name, biases, darks, flats
        case flatTime = "flat_time"
    }

    /// Creates a request.
    public init(night: String? = nil, plan: String? = nil, name: String? = nil, biases: Int? = nil, darks: Int? = nil,
                flats: Int? = nil, flatTime: Double? = nil) {
        self.night = night
        self.plan = plan
        self.name = name
        self.biases = biases
        self.darks = darks
        self.flats = flats
        self.flatTime = flatTime
    }

    /// The default number of frames of each kind.
    public static let defaultCount = 10

    /// Checks the request's own fields (the frames it finds are the sequencer's to check).
    /// - Throws: ``BusError`` `invalid_argument` naming the field.
    public func validate() throws(BusError) {
        switch (night, plan) {
        case (nil, nil), (.some, .some):
            throw BusError.invalid("night", "give exactly one of night (YYYY-MM-DD) and plan (a plan id)")
        case (.some(let night), nil):
            guard night.count == 10, FrameTime.parse(night) != nil else {
                throw BusError.invalid("night", "'\(night.prefix(40))' is not a night (YYYY-MM-DD)")
            }
        case (nil, .some(let plan)):
            guard PlanRecord.isPlanId(plan) else { throw BusError.invalid("plan", "'\(plan.prefix(40))' is not a plan id") }
        }
        for (field, count) in [("biases", biases), ("darks", darks), ("flats", flats)] {
            if let count, !(0...1000).contains(count) { throw BusError.invalid(field, "must be from 0 to 1000 (got \(count))") }
        }
        if (biases ?? Self.defaultCount) + (darks ?? Self.defaultCount) + (flats ?? Self.defaultCount) == 0 {
            throw BusError.invalid("biases", "biases, darks and flats are all 0: the set would be empty")
        }
        if let flatTime, !(flatTime.isFinite && flatTime > 0) {
            throw BusError.invalid("flat_time", "\(flatTime) must be a number of seconds above 0")
        }
    }
}
