import Bus

// The commands `aperture-camera` answers on camera.ctl, and the events it publishes on
// camera.events (docs/protocol.md, "Camera").

/// `status`: the camera's state, capabilities, temperature, filter and current exposure.
public enum CameraStatusCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`.
    public static let name = "status"
    /// The reply: the camera's state, its info, a fresh temperature reading, the filter and the running request.
    public typealias Result = CameraStatusReport
}

/// `expose`: starts an exposure request; returns at once with its record (and id).
public enum ExposeCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`. Not idempotent: never resend it after a timeout.
    public static let name = "expose"
    /// The request to run (`args`); only `type` and `time` are required.
    public typealias Arguments = ExposureRequest
    /// The new request's record, `"status":"running"`, with its exposure id.
    public typealias Result = ExposureRecord
}

/// `check`: validates a request exactly as `expose` would (against the camera and the
/// configuration, and the whole header its frames would get) without starting it; the
/// sequencer checks every step of a plan this way when it is submitted.
public enum ExposureCheckCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; starts nothing.
    public static let name = "check"
    /// The request to check.
    public typealias Arguments = ExposureRequest
    /// What the request would take.
    public struct Result: Codable, Sendable, Hashable {
        /// Frames it would save.
        public var frames: Int
        /// The filter it would move to (the wheel's own spelling), if it names one.
        public var filter: String?
        /// Creates the reply.
        public init(frames: Int, filter: String?) {
            self.frames = frames
            self.filter = filter
        }
    }
}

/// `abort`: aborts the running request; returns once the camera is idle again.
public enum AbortCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; safe to send when nothing runs.
    public static let name = "abort"
    /// The reply: whether a request was aborted, and the camera's state once it stopped (or after 5 s).
    public typealias Result = AbortReply
}

/// `abort.exposure`: aborts the running request only if it is the one named; returns once
/// the camera is idle again. The sequencer stops its own series this way, never a client's
/// exposure that started meanwhile.
public enum AbortExposureCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; safe to send when nothing runs.
    public static let name = "abort.exposure"
    /// The request's `args`: `{"exposure_id": ...}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The exposure to abort.
        public var exposureId: String
        enum CodingKeys: String, CodingKey { case exposureId = "exposure_id" }
        /// Creates the arguments.
        public init(exposureId: String) { self.exposureId = exposureId }
    }
    /// The reply: `aborted` false (and the camera untouched) when another request, or none, runs.
    public typealias Result = AbortReply
}

/// `exposure`: one request's record by id.
public enum ExposureQueryCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`.
    public static let name = "exposure"
    /// The request's `args`: `{"id": ...}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// The exposure id (`YYYYMMDDTHHMMSS-NNNN`); one of the last 200 the camera keeps, else `invalid_argument`.
        public var id: String
        /// Creates the arguments for the exposure `id`.
        public init(id: String) { self.id = id }
    }
    /// The reply: that request's record.
    public typealias Result = ExposureRecord
}

/// `exposures`: the records kept (the most recent last).
public enum ExposureListCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`.
    public static let name = "exposures"
    /// The reply: `{"exposures": [...]}`.
    public struct Result: Codable, Sendable, Hashable {
        /// The records of the last 200 requests of this camera process, oldest first.
        public var exposures: [ExposureRecord]
        /// Creates the reply.
        public init(exposures: [ExposureRecord]) { self.exposures = exposures }
    }
}

/// `cool`: sets the cooler's set-point and/or switches it on or off.
public enum CoolCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; allowed during an exposure.
    public static let name = "cool"
    /// The request's `args`; at least one member is required (else `invalid_argument`).
    public struct Arguments: Codable, Sendable, Hashable {
        /// The new set-point in degrees Celsius (switches the cooler on unless `cooler` is false).
        public var setpoint: Int?
        /// Cooler on (true) or off (false).
        public var cooler: Bool?
        /// Creates the arguments; leave out what should not change.
        public init(setpoint: Int? = nil, cooler: Bool? = nil) {
            self.setpoint = setpoint
            self.cooler = cooler
        }
    }
    /// The reply: a temperature reading taken just after the change.
    public typealias Result = TemperatureStatus
}

/// `temperature`: one reading, also during an exposure.
public enum TemperatureCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; idempotent.
    public static let name = "temperature"
    /// The reply: the reading (or the last one, when a read is already waiting for a wedged driver).
    public typealias Result = TemperatureStatus
}

/// `filter`: reads the wheel, or moves it (by name or slot), or homes it.
public enum FilterCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; refused with `busy` during an exposure.
    public static let name = "filter"
    /// The request's `args`; with none of them the wheel is only read.
    public struct Arguments: Codable, Sendable, Hashable {
        /// Move to this filter (a name of `filterwheel.filters`, case-insensitive); wins over `slot`.
        public var name: String?
        /// Move to this slot, 0-based.
        public var slot: Int?
        /// `true`: home the wheel; wins over `name` and `slot`.
        public var home: Bool?
        /// `false`: start a move by name or slot and answer at once (the reply has `target`;
        /// `camera.filter` announces the end); default true: answer once the wheel is there.
        public var wait: Bool?
        /// Creates the arguments; all nil reads the wheel.
        public init(name: String? = nil, slot: Int? = nil, home: Bool? = nil, wait: Bool? = nil) {
            self.name = name
            self.slot = slot
            self.home = home
            self.wait = wait
        }
    }
    /// The reply: the wheel's position afterwards.
    public typealias Result = FilterStatus
}

/// `frame.latest`: the most recent frame's metadata, and its pixels if asked.
public enum LatestFrameCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`; idempotent.
    public static let name = "frame.latest"
    /// The request's `args`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// Include the pixels (base64 of little-endian UInt16, row-major, in the reply's `row_order`).
        public var pixels: Bool?
        /// Creates the arguments; nil or false leaves the pixels out.
        public init(pixels: Bool? = nil) { self.pixels = pixels }
    }
    /// The reply: the latest frame's metadata (and pixels); `invalid_argument` when no frame exists yet.
    public typealias Result = LatestFrame
}

/// `initialize`: connects the camera if it is not (it connects at start-up by itself).
public enum InitializeCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`.
    public static let name = "initialize"
    /// The reply: the camera's status after connecting (or as it was, if already connected).
    public typealias Result = CameraStatusReport
}

/// `shutdown`: cooler off, warm up to the safe temperature, release the camera.
public enum ShutdownCommand: BusCommand {
    /// The command's name: answered on `camera.ctl`. Give it a deadline of `camera.warmup_timeout` + 10 s.
    public static let name = "shutdown"
    /// The reply, sent after the warm-up, once the camera is released.
    public typealias Result = Acknowledgement
}

// MARK: - Results

/// The reply to `status`.
public struct CameraStatusReport: Codable, Sendable, Hashable {
    /// The camera's state.
    public var state: CameraState
    /// Whether the camera is connected: false exactly in the `error` state.
    public var connected: Bool
    /// Why the camera is in the error state.
    public var reason: String?
    /// The driver: simulator or andor.
    public var driver: String
    /// What the camera can do; present once it has connected (kept after a `shutdown`).
    public var info: CameraInfo?
    /// A reading taken now (waiting at most 2 s), else the last one; nil when none exists.
    public var temperature: TemperatureStatus?
    /// The filter wheel's position; nil when the wheel does not answer.
    public var filter: FilterStatus?
    /// The running request, if any.
    public var exposure: ExposureRecord?
    /// The frame in progress, 1-based, while a request runs.
    public var frame: Int?
    /// The frames requested, while a request with a frame count runs.
    public var count: Int?

    /// Creates a status report.
    public init(state: CameraState, connected: Bool, reason: String?, driver: String, info: CameraInfo?,
                temperature: TemperatureStatus?, filter: FilterStatus?, exposure: ExposureRecord?, frame: Int?, count: Int?) {
        self.state = state
        self.connected = connected
        self.reason = reason
        self.driver = driver
        self.info = info
        self.temperature = temperature
        self.filter = filter
        self.exposure = exposure
        self.frame = frame
        self.count = count
    }
}

/// One saved frame.
public struct SavedFrame: Codable, Sendable, Hashable {
    /// 1-based frame number within its request.
    public var frame: Int
    /// The FITS file's absolute path.
    public var path: String
    /// The file's size in bytes.
    public var bytes: Int

    /// Creates the entry of a saved file.
    public init(frame: Int, path: String, bytes: Int) {
        self.frame = frame
        self.path = path
        self.bytes = bytes
    }
}

/// One exposure request and what became of it.
public struct ExposureRecord: Codable, Sendable, Hashable {
    /// Where a request stands: `running`, then `completed`, `aborted` or `failed`.
    public enum Status: String, Codable, Sendable, Hashable {
        /// Accepted, frames still to take.
        case running
        /// Every frame was taken.
        case completed
        /// Stopped by `abort` or `shutdown`; frames saved before stay.
        case aborted
        /// Ended by a driver or storage failure; the record's `error` says which.
        case failed
    }

    /// Why a request failed.
    public struct Failure: Codable, Sendable, Hashable {
        /// The stable code (`driver_error`, `storage_error`, ...).
        public var code: ErrorCode
        /// What went wrong, for people.
        public var message: String
        /// Creates a failure.
        public init(code: ErrorCode, message: String) {
            self.code = code
            self.message = message
        }

        /// The failure as a bus error.
        public var busError: BusError { BusError(code, message) }
    }

    /// The exposure id, `YYYYMMDDTHHMMSS-NNNN`: the UTC time the request was accepted and a
    /// counter that starts at 0001 with each camera process.
    public var id: String
    /// The request as the camera understood it (members left out or `null` are omitted).
    public var request: ExposureRequest
    /// The mode, with the default resolved.
    public var mode: ExposureMode
    /// Where the request stands.
    public var status: Status
    /// Frames requested (nil: a preview until aborted).
    public var count: Int?
    /// Frames finished (saved, or published for a preview).
    public var framesDone: Int
    /// One entry per saved file, in order.
    public var files: [SavedFrame]
    /// Why the request failed; present when `status` is `failed`.
    public var error: Failure?
    /// Unix times.
    public var started: Double
    /// When the request ended (Unix time); nil while it runs.
    public var finished: Double?

    enum CodingKeys: String, CodingKey {
        case id, request, mode, status, count, files, error, started, finished
        case framesDone = "frames_done"
    }

    /// Creates a record.
    public init(id: String, request: ExposureRequest, mode: ExposureMode, status: Status, count: Int?,
                framesDone: Int = 0, files: [SavedFrame] = [], error: Failure? = nil, started: Double, finished: Double? = nil) {
        self.id = id
        self.request = request
        self.mode = mode
        self.status = status
        self.count = count
        self.framesDone = framesDone
        self.files = files
        self.error = error
        self.started = started
        self.finished = finished
    }
}

/// The reply to `abort`.
public struct AbortReply: Codable, Sendable, Hashable {
    /// Whether a request was running and the camera is idle again (false: nothing ran, or the
    /// driver did not finish the abort within 5 s).
    public var aborted: Bool
    /// The camera's state at the reply: `idle` after an abort, `error` when not connected; any
    /// other state means the driver did not stop within 5 s.
    public var state: CameraState
    /// The request that was aborted (`exposure_id`); nil when nothing ran.
    public var exposureId: String?
    /// Milliseconds from the request to idle.
    public var milliseconds: Double
    /// What happened, for people; never parse it.
    public var message: String

    enum CodingKeys: String, CodingKey {
        case aborted, state, milliseconds, message
        case exposureId = "exposure_id"
    }

    /// Creates the reply.
    public init(aborted: Bool, state: CameraState, exposureId: String?, milliseconds: Double, message: String) {
        self.aborted = aborted
        self.state = state
        self.exposureId = exposureId
        self.milliseconds = milliseconds
        self.message = message
    }
}

/// The filter wheel's position.
public struct FilterStatus: Codable, Sendable, Hashable {
    /// 0-based slot.
    public var slot: Int
    /// The filter in that slot.
    public var name: String
    /// Every filter by slot.
    public var filters: [String]
    /// simulator or evora.
    public var driver: String
    /// While the wheel is moving: the slot it is moving to (`slot` and `name` are then where it
    /// last was); absent when it is still.
    public var target: Int?

    /// Creates a filter status.
    public init(slot: Int, name: String, filters: [String], driver: String, target: Int? = nil) {
        self.slot = slot
        self.name = name
        self.filters = filters
        self.driver = driver
        self.target = target
    }
}

/// The reply to `frame.latest`.
public struct LatestFrame: Codable, Sendable, Hashable {
    /// The request the frame belongs to (`exposure_id`).
    public var exposureId: String
    /// The frame's number within its request, 1-based.
    public var frame: Int
    /// A sequence number over all frames of this camera process.
    public var sequence: Int
    /// The image's width in (binned) pixels.
    public var width: Int
    /// The image's height in (binned) pixels.
    public var height: Int
    /// Whether it is a preview frame (not saved).
    public var preview: Bool
    /// The FITS file, for saved frames.
    public var path: String?
    /// Unix time of the exposure's start.
    public var time: Double
    /// Base64 of little-endian UInt16 pixels, row-major, in ``rowOrder`` (only when asked).
    public var pixels: String?
    /// `TOP-DOWN` (the first row is the top of the image) or `BOTTOM-UP` (Andor), as FITS ROWORDER.
    public var rowOrder: RowOrder

    enum CodingKeys: String, CodingKey {
        case frame, sequence, width, height, preview, path, time, pixels
        case exposureId = "exposure_id"
        case rowOrder = "row_order"
    }

    /// Creates the reply.
    public init(exposureId: String, frame: Int, sequence: Int, width: Int, height: Int, preview: Bool,
                path: String?, time: Double, pixels: String?, rowOrder: RowOrder = .topDown) {
        self.rowOrder = rowOrder
        self.exposureId = exposureId
        self.frame = frame
        self.sequence = sequence
        self.width = width
        self.height = height
        self.preview = preview
        self.path = path
        self.time = time
        self.pixels = pixels
    }

    /// The reply for a frame described by its ring metadata.
    /// - Parameters:
    ///   - metadata: the frame.
    ///   - sequence: its number over all frames of this camera process.
    ///   - path: its FITS file, nil for a preview.
    ///   - pixels: base64 of its pixels, when asked.
    public init(_ metadata: FrameMetadata, sequence: Int, path: String?, pixels: String?) {
        self.init(exposureId: metadata.exposureId, frame: metadata.frameNumber, sequence: sequence,
                  width: metadata.width, height: metadata.height, preview: metadata.preview, path: path,
                  time: metadata.exposureStart, pixels: pixels, rowOrder: metadata.rowOrder)
    }
}

// MARK: - Events on camera.events

/// Topics on camera.events.
public enum CameraTopic {
    /// The camera's state: at each change, when a request is accepted or ends, and when each
    /// frame's acquisition starts; data ``CameraStateEvent``.
    public static let state = "camera.state"
    /// Exposure progress, about every 250 ms while a frame is exposing; data ``ExposureProgressEvent``.
    public static let progress = "camera.progress"
    /// State and temperature every `camera.telemetry_interval` (1 s), always; data ``TelemetryEvent``.
    public static let telemetry = "camera.telemetry"
    /// A frame was saved (file complete) or, for a preview, read out; data ``FrameNotice``.
    public static let frame = "camera.frame"
    /// A request ended (completed, aborted or failed); data its final ``ExposureRecord``.
    public static let exposure = "camera.exposure"
    /// The filter wheel started moving (data ``FilterStatus`` with `target`) or stopped (without).
    public static let filter = "camera.filter"
}

/// `camera.state`
public struct CameraStateEvent: Codable, Sendable, Hashable {
    /// The state now (the same state may be published twice in a row).
    public var state: CameraState
    /// The running request (`exposure_id`); also in the first `idle` after it.
    public var exposureId: String?
    /// The frame in progress, 1-based, while a request runs.
    public var frame: Int?
    /// The frames requested, while a request with a frame count runs.
    public var count: Int?
    /// Why the camera is not usable, in the `error` state.
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case state, frame, count, reason
        case exposureId = "exposure_id"
    }

    /// Creates the event.
    public init(state: CameraState, exposureId: String?, frame: Int?, count: Int?, reason: String?) {
        self.state = state
        self.exposureId = exposureId
        self.frame = frame
        self.count = count
        self.reason = reason
    }
}

/// `camera.progress`
public struct ExposureProgressEvent: Codable, Sendable, Hashable {
    /// The request (`exposure_id`).
    public var exposureId: String
    /// The frame, 1-based.
    public var frame: Int
    /// The frames requested; nil for a preview without `count`.
    public var count: Int?
    /// `elapsed / exposureTime * 100`, from 0 to 100 (100 for a bias).
    public var percent: Double
    /// Seconds of the exposure done, at most `exposureTime` (simulated seconds for the simulator).
    public var elapsed: Double
    /// The frame's exposure time in seconds, 0 for a bias (`exposure_time`).
    public var exposureTime: Double

    enum CodingKeys: String, CodingKey {
        case frame, count, percent, elapsed
        case exposureId = "exposure_id"
        case exposureTime = "exposure_time"
    }

    /// Creates the event.
    public init(exposureId: String, frame: Int, count: Int?, percent: Double, elapsed: Double, exposureTime: Double) {
        self.exposureId = exposureId
        self.frame = frame
        self.count = count
        self.percent = percent
        self.elapsed = elapsed
        self.exposureTime = exposureTime
    }
}

/// `camera.telemetry`
public struct TelemetryEvent: Codable, Sendable, Hashable {
    /// The camera's state.
    public var state: CameraState
    /// Whether the camera is connected (false in the `error` state).
    public var connected: Bool
    /// The latest reading (the last one when the driver is busy); nil when not connected or none exists.
    public var temperature: TemperatureStatus?

    /// Creates the event.
    public init(state: CameraState, connected: Bool, temperature: TemperatureStatus?) {
        self.state = state
        self.connected = connected
        self.temperature = temperature
    }
}

/// `camera.frame`: a frame was saved (or, for a preview, read out).
public struct FrameNotice: Codable, Sendable, Hashable {
    /// The request (`exposure_id`).
    public var exposureId: String
    /// The frame's number within the request, 1-based.
    public var frame: Int
    /// The frames requested; nil for a preview without `count`.
    public var count: Int?
    /// A counter over every frame of this camera process, from 1; `frame.latest` reports the same number.
    public var sequence: Int
    /// The image's width in (binned) pixels.
    public var width: Int
    /// The image's height in (binned) pixels.
    public var height: Int
    /// Whether it is a preview frame (not saved).
    public var preview: Bool
    /// The FITS file's absolute path; nil for a preview.
    public var path: String?
    /// The file's size in bytes; for a preview, the image's (`width * height * 2`).
    public var bytes: Int
    /// Where the pixels are in the shared-memory frame ring (`camera.frames` in the runtime
    /// directory); nil if the frame could not be put there.
    public var ring: FrameLocation?
    /// The focus position the request reported (`focus: N` in its comment).
    public var focus: Double?
    /// Unix time of the exposure's start (`exposure_start`).
    public var exposureStart: Double?
    /// Unix time of the end of the readout (`readout_time`).
    public var readoutTime: Double?

    enum CodingKeys: String, CodingKey {
        case frame, count, sequence, width, height, preview, path, bytes, ring, focus
        case exposureId = "exposure_id"
        case exposureStart = "exposure_start"
        case readoutTime = "readout_time"
    }

    /// Creates a notice.
    public init(exposureId: String, frame: Int, count: Int?, sequence: Int, width: Int, height: Int,
                preview: Bool, path: String?, bytes: Int, ring: FrameLocation? = nil, focus: Double? = nil,
                exposureStart: Double? = nil, readoutTime: Double? = nil) {
        self.ring = ring
        self.focus = focus
        self.exposureStart = exposureStart
        self.readoutTime = readoutTime
        self.exposureId = exposureId
        self.frame = frame
        self.count = count
        self.sequence = sequence
        self.width = width
        self.height = height
        self.preview = preview
        self.path = path
        self.bytes = bytes
    }

    /// The notice of a frame described by its ring metadata.
    /// - Parameters:
    ///   - metadata: the frame.
    ///   - sequence: its number over all frames of this camera process.
    ///   - count: its exposure's frame count; nil for a preview run until aborted.
    ///   - path: its FITS file, nil for a preview.
    ///   - bytes: the file's size, or the pixels' for a preview.
    ///   - ring: where it is in the frame ring, if it was put there.
    public init(_ metadata: FrameMetadata, sequence: Int, count: Int?, path: String?, bytes: Int, ring: FrameLocation?) {
        self.init(exposureId: metadata.exposureId, frame: metadata.frameNumber, count: count, sequence: sequence,
                  width: metadata.width, height: metadata.height, preview: metadata.preview, path: path,
                  bytes: bytes, ring: ring, focus: metadata.focus, exposureStart: metadata.exposureStart,
                  readoutTime: metadata.readoutTime)
    }
}
