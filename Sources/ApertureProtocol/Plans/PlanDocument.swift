import Bus
import Foundation

// Observing plans as users write them (`POST /v1/plans`, `aperture plan submit`, `plan.submit`
// on catalog.ctl): a name and an ordered list of steps (docs/plans.md).

/// Any member name, to find the ones a plan's objects do not know.
private struct AnyPlanKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// A plan as submitted: a name and its steps.
public struct PlanDocument: Codable, Sendable, Hashable {
    /// What the observer calls it (1 to 80 printable characters).
    public var name: String
    /// The steps, in order.
    public var steps: [PlanStep]

    /// Creates a plan.
    public init(name: String, steps: [PlanStep]) {
        self.name = name
        self.steps = steps
    }
}

/// One step of a plan: `{"exposure": BODY}`, `{"wait": {...}}` or `{"repeat": {...}}`.
public indirect enum PlanStep: Codable, Sendable, Hashable {
    /// A series of frames; BODY is exactly the body of `POST /v1/exposures`.
    case exposure(ExposureRequest)
    /// Waits for a time, the set-point or the sun.
    case wait(PlanWait)
    /// A block of steps taken `times` times (an LRGB cycle).
    case `repeat`(PlanRepeat)

    private enum Kind: String, CodingKey, CaseIterable {
        case exposure, wait, `repeat`
    }

    /// Reads an object with exactly one of `exposure`, `wait` and `repeat`.
    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyPlanKey.self).allKeys.map(\.stringValue)
        let kinds = Kind.allCases.map(\.rawValue)
        if let stranger = keys.first(where: { !kinds.contains($0) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: "'\(stranger.prefix(40))' is not a kind of step; a step is {\"exposure\": {...}}, {\"wait\": {...}} or {\"repeat\": {...}}"))
        }
        guard keys.count == 1 else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                debugDescription: keys.isEmpty ? "a step needs one of exposure, wait and repeat"
                    : "a step is one of exposure, wait and repeat, not \(keys.sorted().joined(separator: " and "))"))
        }
        let container = try decoder.container(keyedBy: Kind.self)
        if container.contains(.exposure) {
            self = .exposure(try container.decode(ExposureRequest.self, forKey: .exposure))
        } else if container.contains(.wait) {
            self = .wait(try container.decode(PlanWait.self, forKey: .wait))
        } else {
            self = .repeat(try container.decode(PlanRepeat.self, forKey: .repeat))
        }
    }

    /// Writes the step's one member.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Kind.self)
        switch self {
        case .exposure(let request): try container.encode(request, forKey: .exposure)
        case .wait(let wait): try container.encode(wait, forKey: .wait)
        case .repeat(let block): try container.encode(block, forKey: .repeat)
        }
    }
}

/// A wait: exactly one of `until`, `setpoint` and `sun_below`.
public struct PlanWait: Codable, Sendable, Hashable {
    /// Waits until this UTC time (`YYYY-MM-DDTHH:MM[:SS]` with `Z` or an offset).
    public var until: String?
    /// `true`: waits until the sensor is within ``tolerance`` of its set-point (the cooler on).
    public var setpoint: Bool?
    /// Degrees C around the set-point, above 0, at most 10 (default 0.5).
    public var tolerance: Double?
    /// Waits until the sun's altitude at the configured site is below this, in degrees (-30 to 10).
    public var sunBelow: Double?
    /// The longest wait in seconds (above 0, at most 172,800); when it runs out the plan fails.
    /// Defaults: 1,800 for the set-point, 86,400 for the sun; none for `until`.
    public var timeout: Double?

    enum CodingKeys: String, CodingKey {
        case until, setpoint, tolerance, timeout
        case sunBelow = "sun_below"
    }

    /// Reads a wait; a member it does not know (`timout`) is refused rather than ignored, since
    /// a wait left at its default by a typing error would run for the wrong time.
    public init(from decoder: any Decoder) throws {
        let known = ["until", "setpoint", "tolerance", "timeout", "sun_below"]
        if let stranger = try decoder.container(keyedBy: AnyPlanKey.self).allKeys.first(where: { !known.contains($0.stringValue) }) {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [stranger],
                debugDescription: "not a member of a wait (\(known.joined(separator: ", ")))"))
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        until = try container.decodeIfPresent(String.self, forKey: .until)
        setpoint = try container.decodeIfPresent(Bool.self, forKey: .setpoint)
        tolerance = try container.decodeIfPresent(Double.self, forKey: .tolerance)
        sunBelow = try container.decodeIfPresent(Double.self, forKey: .sunBelow)
        timeout = try container.decodeIfPresent(Double.self, forKey: .timeout)
    }

    /// Creates a wait.
    public init(until: String? = nil, setpoint: Bool? = nil, tolerance: Double? = nil, sunBelow: Double? = nil,
                timeout: Double? = nil) {
        self.until = until
        self.setpoint = setpoint
        self.tolerance = tolerance
        self.sunBelow = sunBelow
        self.timeout = timeout
    }

    /// The default set-point tolerance, degrees C.
    public static let defaultTolerance = 0.5
    /// The longest timeout, seconds (two days).
    public static let maximumTimeout = 172_800.0
    /// The default timeout of a set-point wait, seconds.
    public static let defaultSetpointTimeout = 1_800.0
    /// The default timeout of a sun wait, seconds.
    public static let defaultSunTimeout = 86_400.0
}

/// A block of steps repeated.
public struct PlanRepeat: Codable, Sendable, Hashable {
    /// How many times, 1 to 10,000.
    public var times: Int
    /// The block's steps.
    public var steps: [PlanStep]

    /// Creates a block.
    public init(times: Int, steps: [PlanStep]) {
        self.times = times
        self.steps = steps
    }
}

/// A frame's place in a plan, given to the camera by the sequencer with each series and
/// written as PLAN, PLANSTEP and PLANIDX (`first` is the first frame's PLANIDX). Clients never
/// set it: `POST /v1/exposures` refuses it.
public struct PlanFrameTag: Codable, Sendable, Hashable {
    /// The plan's id.
    public var id: String
    /// The step's number in the expanded plan, from 1.
    public var step: Int
    /// The index within the step of the series' first frame, from 1.
    public var first: Int

    /// Creates a tag.
    public init(id: String, step: Int, first: Int) {
        self.id = id
        self.step = step
        self.first = first
    }

    /// Why the tag cannot be written for `frames` frames, or nil.
    public func problem(frames: Int) -> String? {
        guard PlanRecord.isPlanId(id) else { return "id '\(id.prefix(40))' is not a plan id (P and 1 to 24 letters, digits or -)" }
        guard (1...PlanExpansion.maximumSteps).contains(step) else { return "step \(step) is outside 1...\(PlanExpansion.maximumSteps)" }
        guard first >= 1, first <= ExposureRequest.maximumCount, frames <= ExposureRequest.maximumCount - first + 1 else {
            return "first \(first) with \(frames) frame(s) is outside 1...\(ExposureRequest.maximumCount)"
        }
        return nil
    }
}

/// Where a plan stands.
public enum PlanState: String, Codable, Sendable, Hashable, CaseIterable {
    /// Waiting its turn.
    case queued
    /// The sequencer is taking its steps.
    case running
    /// Stopped by a user; `resume` continues it. A paused plan at the head holds the queue.
    case paused
    /// Every step done.
    case done
    /// Stopped by an error the sequencer could not get past (`reason` says which).
    case failed
    /// Stopped by a user; its running exposure was aborted.
    case cancelled

    /// Whether the plan is over (no command changes it any more).
    public var isFinal: Bool { self == .done || self == .failed || self == .cancelled }
}

/// One step of the expanded plan (repeats unrolled), and its progress.
public struct PlanStepRecord: Codable, Sendable, Hashable {
    /// Its number, from 1: written as PLANSTEP.
    public var step: Int
    /// Where it comes from in the document, e.g. `steps[1].repeat.steps[0]`.
    public var source: String
    /// The repeat passes it belongs to, outermost first, from 1 (empty outside repeats).
    public var pass: [Int]
    /// The exposure, for an exposure step.
    public var exposure: ExposureRequest?
    /// The wait, for a wait step.
    public var wait: PlanWait?
    /// Frames to take (1 for a wait).
    public var count: Int
    /// Frames the catalog holds for this step (1 for a finished wait).
    public var done: Int

    /// Creates a step record.
    public init(step: Int, source: String, pass: [Int], exposure: ExposureRequest?, wait: PlanWait?, count: Int, done: Int) {
        self.step = step
        self.source = source
        self.pass = pass
        self.exposure = exposure
        self.wait = wait
        self.count = count
        self.done = done
    }
}

/// A plan in the queue: the document, its state and each step's progress.
public struct PlanRecord: Codable, Sendable, Hashable {
    /// The plan's id (`P` and letters/digits), written as PLAN in its frames' headers.
    public var id: String
    /// Its name.
    public var name: String
    /// Where it stands.
    public var state: PlanState
    /// Its place in the queue, from 0, while queued, running or paused; nil once over.
    public var position: Int?
    /// UTC times (`YYYY-MM-DDTHH:MM:SS.sss`).
    public var submitted: String
    /// When it first ran.
    public var started: String?
    /// When it ended.
    public var finished: String?
    /// Why it failed, paused or was cancelled; what it is waiting for while running.
    public var reason: String?
    /// The step it is on (from 1), while running or paused.
    public var currentStep: Int?
    /// Frames the catalog holds for it.
    public var framesDone: Int
    /// Frames it takes in all.
    public var framesTotal: Int
    /// The expanded steps.
    public var steps: [PlanStepRecord]
    /// The plan as submitted.
    public var document: PlanDocument

    enum CodingKeys: String, CodingKey {
        case id, name, state, position, submitted, started, finished, reason, steps, document
        case currentStep = "current_step"
        case framesDone = "frames_done"
        case framesTotal = "frames_total"
    }

    /// Creates a record.
    public init(id: String, name: String, state: PlanState, position: Int?, submitted: String, started: String?,
                finished: String?, reason: String?, currentStep: Int?, framesDone: Int, framesTotal: Int,
                steps: [PlanStepRecord], document: PlanDocument) {
        self.id = id
        self.name = name
        self.state = state
        self.position = position
        self.submitted = submitted
        self.started = started
        self.finished = finished
        self.reason = reason
        self.currentStep = currentStep
        self.framesDone = framesDone
        self.framesTotal = framesTotal
        self.steps = steps
        self.document = document
    }

    /// Whether `text` has the form of a plan id: `P` then 1 to 24 of A-Z, a-z, 0-9 and `-`.
    public static func isPlanId(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard bytes.first == UInt8(ascii: "P"), (2...25).contains(bytes.count) else { return false }
        return bytes.dropFirst().allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || byte == 0x2D
        }
    }
}

/// Unrolling a document into its steps, with every rule a plan is held to that needs no camera.
public enum PlanExpansion {
    /// The most steps a plan may expand to.
    public static let maximumSteps = 10_000
    /// The most frames a plan may take.
    public static let maximumFrames = 1_000_000
    /// The deepest nesting of repeats.
    public static let maximumDepth = 8

    /// The expanded steps of `document`, each exposure with its `count` resolved.
    /// - Parameter now: the time `until` waits are checked against (at most 7 days ahead).
    /// - Throws: ``BusError`` `invalid_argument` naming the step's field (`steps[2].wait.until`).
    public static func expand(_ document: PlanDocument, now: Date = Date()) throws(BusError) -> [PlanStepRecord] {
        let name = document.name
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, name.count <= 80,
              name.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value != 0x7F }) else {
            throw BusError.invalid("name", "'\(name.prefix(80))' must be 1 to 80 printable characters, not blank")
        }
        guard !document.steps.isEmpty else { throw BusError.invalid("steps", "a plan needs at least one step") }
        var records: [PlanStepRecord] = []
        var frames = 0
        func add(_ steps: [PlanStep], path: String, pass: [Int], depth: Int) throws(BusError) {
            for (index, step) in steps.enumerated() {
                let source = "\(path)[\(index)]"
                func invalid(_ field: String, _ rule: String) -> BusError {
                    BusError.invalid("\(source).\(field)", rule)
                }
                switch step {
                case .exposure(let request):
                    if request.plan != nil { throw invalid("exposure.plan", "is set by the sequencer, not in a plan") }
                    if request.mode == .preview { throw invalid("exposure.mode", "preview frames are not saved; a plan's steps are single or series") }
                    let count = request.count ?? 1
                    guard (1...ExposureRequest.maximumCount).contains(count) else {
                        throw invalid("exposure.count", "must be from 1 to \(ExposureRequest.maximumCount) (got \(count))")
                    }
                    if request.mode == .single && count != 1 { throw invalid("exposure.count", "a single exposure takes 1 frame; use mode series for \(count)") }
                    frames += count
                    guard frames <= maximumFrames else { throw invalid("exposure.count", "the plan would take over \(maximumFrames) frames") }
                    var series = request
                    series.count = count
                    series.mode = .series
                    records.append(PlanStepRecord(step: records.count + 1, source: source, pass: pass, exposure: series,
                                                  wait: nil, count: count, done: 0))
                case .wait(let wait):
                    try check(wait, now: now, invalid: invalid)
                    records.append(PlanStepRecord(step: records.count + 1, source: source, pass: pass, exposure: nil,
                                                  wait: wait, count: 1, done: 0))
                case .repeat(let block):
                    guard depth < maximumDepth else { throw invalid("repeat", "repeats nest at most \(maximumDepth) deep") }
                    guard (1...10_000).contains(block.times) else { throw invalid("repeat.times", "must be from 1 to 10000 (got \(block.times))") }
                    guard !block.steps.isEmpty else { throw invalid("repeat.steps", "a repeat needs at least one step") }
                    for time in 1...block.times {
                        try add(block.steps, path: "\(source).repeat.steps", pass: pass + [time], depth: depth + 1)
                        guard records.count <= maximumSteps else {
                            throw invalid("repeat.times", "the plan would expand to over \(maximumSteps) steps")
                        }
                    }
                }
            }
        }
        try add(document.steps, path: "steps", pass: [], depth: 0)
        guard records.count <= maximumSteps else { throw BusError.invalid("steps", "the plan has over \(maximumSteps) steps") }
        return records
    }

    private static func check(_ wait: PlanWait, now: Date, invalid: (String, String) -> BusError) throws(BusError) {
        let kinds = [wait.until != nil, wait.setpoint != nil, wait.sunBelow != nil].filter { $0 }.count
        guard kinds == 1 else { throw invalid("wait", "give exactly one of until, setpoint and sun_below") }
        if let until = wait.until {
            guard let date = FrameTime.parse(until) else {
                throw invalid("wait.until", "'\(until.prefix(40))' is not a UTC time (YYYY-MM-DDTHH:MM[:SS]Z or with an offset)")
            }
            guard date.timeIntervalSince(now) <= 7 * 86_400 else { throw invalid("wait.until", "\(until) is more than 7 days ahead") }
            if wait.timeout != nil { throw invalid("wait.timeout", "an until wait ends at its time; it takes no timeout") }
        }
        if let setpoint = wait.setpoint, setpoint != true { throw invalid("wait.setpoint", "must be true (or left out)") }
        if let tolerance = wait.tolerance {
            guard wait.setpoint != nil else { throw invalid("wait.tolerance", "belongs to a setpoint wait") }
            guard tolerance.isFinite, tolerance > 0, tolerance <= 10 else {
                throw invalid("wait.tolerance", "\(tolerance) must be above 0 and at most 10 (degrees C)")
            }
        }
        if let altitude = wait.sunBelow, !(altitude.isFinite && (-30...10).contains(altitude)) {
            throw invalid("wait.sun_below", "\(altitude) must be from -30 to 10 (degrees)")
        }
        if let timeout = wait.timeout, !(timeout.isFinite && timeout > 0 && timeout <= PlanWait.maximumTimeout) {
            throw invalid("wait.timeout", "\(timeout) must be above 0 and at most \(Int(PlanWait.maximumTimeout)) (seconds)")
        }
    }
}
