import Bus
import FrameAnalysis

// The commands `aperture-processor` answers on processor.ctl, and its events on
// processor.events (docs/protocol.md, "Processor"). The contract is psen_processing's: start,
// stop, status, background and signal ROIs, statistics; plus areaDetector's statistics and
// focus metrics, configured through `configure`.

/// `start`: process frames as they come (from the start too, with `processor.autostart`).
public enum ProcessorStartCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "start"
    /// The reply: `{"state":"ok","status":"processing"}`.
    public typealias Result = ProcessorState
}

/// `stop`: ignore frames until the next `start`; the results kept stay.
public enum ProcessorStopCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "stop"
    /// The reply: `{"state":"ok","status":"stopped"}`.
    public typealias Result = ProcessorState
}

/// `status`: whether frames are processed.
public enum ProcessorStatusCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "status"
    /// The reply: `status` is `processing` or `stopped`.
    public typealias Result = ProcessorState
}

/// psen's reply envelope: `{state: "ok", status: "processing"|"stopped"}`.
public struct ProcessorState: Codable, Sendable, Hashable {
    /// Always `ok` (psen's envelope).
    public var state: String
    /// `processing` or `stopped`.
    public var status: String
    /// Creates the reply for a processor that is (or is not) processing frames.
    public init(processing: Bool) {
        state = "ok"
        status = processing ? "processing" : "stopped"
    }
}

/// Which ROI (`which` in `get_roi` and `set_roi`).
public enum ROIKind: String, Codable, Sendable, Hashable {
    /// The background region (`roi_background`), whose x-profile is subtracted from the signal's.
    case background
    /// The signal region (`roi_signal`).
    case signal
}

/// `get_roi`: one ROI as `[offset_x, size_x, offset_y, size_y]`, or null when disabled.
public enum GetROICommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "get_roi"
    /// The request's `args`: `{"which": "background" | "signal"}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The ROI to read.
        public var which: ROIKind
        /// Creates the arguments.
        public init(which: ROIKind) { self.which = which }
    }
    /// The reply: the ROI, or `null` when it is disabled.
    public typealias Result = ROIReply
}

/// `set_roi`: sets (or with null/`[]` disables) one ROI; validated against the camera's sensor size
/// (asked of the camera once), so an ROI is refused before any frame arrives.
public enum SetROICommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "set_roi"
    /// The request's `args`: `{"which": ..., "roi": [...] | null | []}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The ROI to set.
        public var which: ROIKind
        /// `[offset_x, size_x, offset_y, size_y]` in pixels of the frame (offsets ≥ 0, sizes ≥ 1, inside the
        /// camera's sensor); nil or `[]` disables the ROI. A broken rule is `invalid_argument`; a
        /// sensor size that cannot be known is `not_connected` (the camera never connected) or
        /// `camera_unavailable` (the camera process does not answer).
        public var roi: [Int]?
        /// Creates the arguments; a nil `roi` disables the ROI.
        public init(which: ROIKind, roi: [Int]?) {
            self.which = which
            self.roi = roi
        }
    }
    /// The reply: the ROI now in force (from the next frame on).
    public typealias Result = ROIReply
}

/// The reply to `get_roi` and `set_roi`: `{"which": ..., "roi": [...] | null}`.
public struct ROIReply: Codable, Sendable, Hashable {
    /// The ROI this is.
    public var which: ROIKind
    /// `[offset_x, size_x, offset_y, size_y]` in pixels; nil when the ROI is disabled.
    public var roi: [Int]?
    /// Creates the reply.
    public init(which: ROIKind, roi: [Int]?) {
        self.which = which
        self.roi = roi
    }
}

/// `configure`: replaces the analysis configuration (which statistics, histogram, focus...).
public enum ConfigureCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "configure"
    /// The new configuration (`args`); members left out take their defaults, and every number is
    /// checked (`invalid_argument` naming the key).
    public typealias Arguments = AnalysisConfiguration
    /// The reply: the configuration now in force.
    public typealias Result = AnalysisConfiguration
}

/// `configuration`: the analysis configuration in force.
public enum ConfigurationCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "configuration"
    /// The reply: the configuration in force.
    public typealias Result = AnalysisConfiguration
}

/// `statistics`: psen's processing statistics.
public enum StatisticsCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "statistics"
    /// The reply: counters, rate and latency.
    public typealias Result = ProcessorStatistics
}

/// The processor's counters and rates.
public struct ProcessorStatistics: Codable, Sendable, Hashable {
    /// Always `ok` (psen's statistics carried it).
    public var state = "ok"
    /// `processing` or `stopped`.
    public var status: String
    /// Unix time processing (last) started.
    public var processingStartTime: Double?
    /// Frames analysed since the processor started (`frames_processed`).
    public var framesProcessed: Int
    /// Frames lost before analysis: overwritten in the ring before they were read, or passed
    /// over by a processor that fell too far behind.
    public var framesDropped: Int
    /// Frames skipped with a logged reason (no ring location, unexpected size or type).
    public var framesSkipped: Int
    /// `exposure id/frame number` of the last frame analysed.
    public var lastFrameId: String?
    /// Unix time that frame's readout ended.
    public var lastFrameTime: Double?
    /// Frames per second over the last 10 s.
    public var processingRate: Double
    /// Mean seconds from the end of readout to the result, over the last 100 frames.
    public var meanLatency: Double?
    /// Frames analysed since processing last started (psen's `n_processed_images`).
    public var runFramesProcessed: Int?
    /// The camera ring's sequence number of the last frame analysed, from 1 (psen's
    /// `last_sent_pulse_id` is this minus 1).
    public var lastSequence: UInt64?
    /// Unix time the last frame's result was ready (psen's `last_sent_time`).
    public var lastProcessedTime: Double?

    enum CodingKeys: String, CodingKey {
        case state, status
        case processingStartTime = "processing_start_time"
        case framesProcessed = "frames_processed"
        case framesDropped = "frames_dropped"
        case framesSkipped = "frames_skipped"
        case lastFrameId = "last_frame_id"
        case lastFrameTime = "last_frame_time"
        case processingRate = "processing_rate"
        case meanLatency = "mean_latency"
        case runFramesProcessed = "run_frames_processed"
        case lastSequence = "last_sequence"
        case lastProcessedTime = "last_processed_time"
    }

    /// Creates statistics.
    public init(status: String, processingStartTime: Double?, framesProcessed: Int, framesDropped: Int,
                framesSkipped: Int, lastFrameId: String?, lastFrameTime: Double?,
                runFramesProcessed: Int? = nil, lastSequence: UInt64? = nil, lastProcessedTime: Double? = nil,
                processingRate: Double, meanLatency: Double?) {
        self.runFramesProcessed = runFramesProcessed
        self.lastSequence = lastSequence
        self.lastProcessedTime = lastProcessedTime
        self.status = status
        self.processingStartTime = processingStartTime
        self.framesProcessed = framesProcessed
        self.framesDropped = framesDropped
        self.framesSkipped = framesSkipped
        self.lastFrameId = lastFrameId
        self.lastFrameTime = lastFrameTime
        self.processingRate = processingRate
        self.meanLatency = meanLatency
    }
}

/// `results`: the last results kept (newest last), optionally of one exposure.
public enum ResultsCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "results"
    /// The request's `args`; both optional.
    public struct Arguments: Codable, Sendable, Hashable {
        /// At most this many results, the newest (default and cap: every result kept, 200).
        public var count: Int?
        /// Only results of this exposure (`exposure_id`).
        public var exposureId: String?
        enum CodingKeys: String, CodingKey {
            case count
            case exposureId = "exposure_id"
        }
        /// Creates the arguments; nil means no limit.
        public init(count: Int? = nil, exposureId: String? = nil) {
            self.count = count
            self.exposureId = exposureId
        }
    }
    /// The reply: `{"results": [...]}`, whole (with profiles and histogram counts).
    public struct Result: Codable, Sendable, Hashable {
        /// Oldest first.
        public var results: [ProcessorResult]
        /// Creates the reply.
        public init(results: [ProcessorResult]) { self.results = results }
    }
}

/// `focus_fit`: fits best focus over the kept results that carry a focus position (the frames
/// of a focus series: exposures whose comment said `focus: N`), by median HFD.
public enum FocusFitCommand: BusCommand {
    /// The command's name: answered on `processor.ctl`.
    public static let name = "focus_fit"
    /// The request's `args`; both optional.
    public struct Arguments: Codable, Sendable, Hashable {
        /// Only frames of these exposures (default: every kept frame with a focus position).
        public var exposureIds: [String]?
        /// `hfd` (default) or `fwhm`.
        public var metric: String?
        enum CodingKeys: String, CodingKey {
            case metric
            case exposureIds = "exposure_ids"
        }
        /// Creates the arguments; nil takes the default.
        public init(exposureIds: [String]? = nil, metric: String? = nil) {
            self.exposureIds = exposureIds
            self.metric = metric
        }
    }
    /// The reply: the fit and the samples it used.
    public struct Result: Codable, Sendable, Hashable {
        /// The fitted curve and its best focus.
        public var fit: FocusFit
        /// The (position, metric) pairs the fit used.
        public var samples: [FocusSample]
        /// Creates the reply.
        public init(fit: FocusFit, samples: [FocusSample]) {
            self.fit = fit
            self.samples = samples
        }
    }
}

/// One frame's result, kept and published on processor.events as `processor.result`.
public struct ProcessorResult: Codable, Sendable, Hashable {
    /// The exposure the frame belongs to.
    public var exposureId: String
    /// The frame's number within it, from 1.
    public var frame: Int
    /// The frame's sequence number in the camera's ring.
    public var sequence: UInt64
    /// The observer's focus position for the frame (`focus: N` in the comment).
    public var focus: Double?
    /// Unix time the readout ended (`readout_time`).
    public var readoutTime: Double
    /// Unix time the result was ready (`processed_time`).
    public var processedTime: Double
    /// What the analysis found.
    public var analysis: FrameAnalysis
    /// With `calibrate` on: the masters the frame was calibrated with before the analysis, or
    /// why it was not; absent with `calibrate` off.
    public var calibration: QuickLookCalibration?

    enum CodingKeys: String, CodingKey {
        case frame, sequence, focus, analysis, calibration
        case exposureId = "exposure_id"
        case readoutTime = "readout_time"
        case processedTime = "processed_time"
    }

    /// Creates a result.
    public init(exposureId: String, frame: Int, sequence: UInt64, focus: Double?, readoutTime: Double,
                processedTime: Double, analysis: FrameAnalysis) {
        self.exposureId = exposureId
        self.frame = frame
        self.sequence = sequence
        self.focus = focus
        self.readoutTime = readoutTime
        self.processedTime = processedTime
        self.analysis = analysis
    }
}

extension ProcessorResult {
    /// The result without its per-column and per-bin arrays (profiles, ROI profiles, histogram
    /// counts): what `processor.result` events carry, so that publishing stays cheap at
    /// hundreds of frames a second (a full 2048-wide result encodes to about 44 KB in about
    /// 4 ms). The whole result is kept for `results`.
    public var summary: ProcessorResult {
        var copy = self
        copy.analysis.profileX = nil
        copy.analysis.profileY = nil
        copy.analysis.roiSignalXProfile = nil
        copy.analysis.roiBackgroundXProfile = nil
        copy.analysis.backgroundSubtractedSignal = nil
        copy.analysis.histogram?.counts = []
        return copy
    }
}

/// How a frame was calibrated before its analysis (the processor's `calibrate`).
public struct QuickLookCalibration: Codable, Sendable, Hashable {
    /// Whether any master was applied.
    public var applied: Bool
    /// The master bias subtracted (its path relative to the data root), when no dark matched.
    public var bias: String?
    /// The master dark subtracted (it holds the bias too).
    public var dark: String?
    /// The master flat divided by.
    public var flat: String?
    /// ADU added after a subtraction so that values below the master survive as 16-bit
    /// pixels: the statistics are of `(frame - master) / flat + pedestal`.
    public var pedestal: Double
    /// Why each master that was not applied was not: `"uncalibrated: catalog unavailable"`,
    /// the dark library's reasons.
    public var reasons: [String]

    /// Creates a description.
    ///
    /// - Parameters:
    ///   - applied: Whether a master was applied.
    ///   - bias: The master bias.
    ///   - dark: The master dark.
    ///   - flat: The master flat.
    ///   - pedestal: The ADU added.
    ///   - reasons: Why masters were not applied.
    public init(applied: Bool, bias: String? = nil, dark: String? = nil, flat: String? = nil, pedestal: Double = 0,
                reasons: [String] = []) {
        self.applied = applied
        self.bias = bias
        self.dark = dark
        self.flat = flat
        self.pedestal = pedestal
        self.reasons = reasons
    }
}

/// Topics on processor.events.
public enum ProcessorTopic {
    /// One frame's result (``ProcessorResult/summary``).
    public static let result = "processor.result"
}
