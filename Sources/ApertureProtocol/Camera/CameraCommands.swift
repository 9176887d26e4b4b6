import Bus

// The commands `aperture-camera` answers on camera.ctl, and the events it publishes on
// camera.events (docs/protocol.md, "Camera").

/// `status`: the camera's state, capabilities, temperature, filter and current exposure.
public enum CameraStatusCommand: BusCommand {
    public static let name = "status"
    public typealias Result = CameraStatusReport
}

/// `expose`: starts an exposure request; returns at once with its record (and id).
public enum ExposeCommand: BusCommand {
    public static let name = "expose"
    public typealias Arguments = ExposureRequest
    public typealias Result = ExposureRecord
}

/// `abort`: aborts the running request; returns once the camera is idle again.
public enum AbortCommand: BusCommand {
    public static let name = "abort"
    public typealias Result = AbortReply
}

/// `exposure`: one request's record by id.
public enum ExposureQueryCommand: BusCommand {
    public static let name = "exposure"
    public struct Arguments: Codable, Sendable, Hashable {
        public var id: String
        public init(id: String) { self.id = id }
    }
    public typealias Result = ExposureRecord
}

/// `exposures`: the records kept (the most recent last).
public enum ExposureListCommand: BusCommand {
    public static let name = "exposures"
    public struct Result: Codable, Sendable, Hashable {
        public var exposures: [ExposureRecord]
        public init(exposures: [ExposureRecord]) { self.exposures = exposures }
    }
}

/// `cool`: sets the cooler's set-point and/or switches it on or off.
public enum CoolCommand: BusCommand {
    public static let name = "cool"
    public struct Arguments: Codable, Sendable, Hashable {
        /// The new set-point in degrees Celsius (switches the cooler on unless `cooler` is false).
        public var setpoint: Int?
        /// Cooler on (true) or off (false).
        public var cooler: Bool?
        public init(setpoint: Int? = nil, cooler: Bool? = nil) {
            self.setpoint = setpoint
            self.cooler = cooler
        }
    }
    public typealias Result = TemperatureStatus
}

/// `temperature`: one reading, also during an exposure.
public enum TemperatureCommand: BusCommand {
    public static let name = "temperature"
    public typealias Result = TemperatureStatus
}

/// `filter`: reads the wheel, or moves it (by name or slot), or homes it.
public enum FilterCommand: BusCommand {
    public static let name = "filter"
    public struct Arguments: Codable, Sendable, Hashable {
        public var name: String?
        public var slot: Int?
        public var home: Bool?
        public init(name: String? = nil, slot: Int? = nil, home: Bool? = nil) {
            self.name = name
            self.slot = slot
            self.home = home
        }
    }
    public typealias Result = FilterStatus
}

/// `frame.latest`: the most recent frame's metadata, and its pixels if asked.
public enum LatestFrameCommand: BusCommand {
    public static let name = "frame.latest"
    public struct Arguments: Codable, Sendable, Hashable {
        /// Include the pixels (base64 of little-endian UInt16, row-major, in the reply's `row_order`).
        public var pixels: Bool?
        public init(pixels: Bool? = nil) { self.pixels = pixels }
    }
    public typealias Result = LatestFrame
}

/// `initialize`: connects the camera if it is not (it connects at start-up by itself).
public enum InitializeCommand: BusCommand {
    public static let name = "initialize"
    public typealias Result = CameraStatusReport
}

/// `shutdown`: cooler off, warm up to the safe temperature, release the camera.
public enum ShutdownCommand: BusCommand {
    public static let name = "shutdown"
    public typealias Result = Acknowledgement
}

// MARK: - Results

/// The reply to `status`.
public struct CameraStatusReport: Codable, Sendable, Hashable {
    public var state: CameraState
    public var connected: Bool
    /// Why the camera is in the error state.
    public var reason: String?
    /// The driver: simulator or andor.
    public var driver: String
    public var info: CameraInfo?
    public var temperature: TemperatureStatus?
    public var filter: FilterStatus?
    /// The running request, if any.
    public var exposure: ExposureRecord?
    /// The frame in progress and the request's frame count.
    public var frame: Int?
    public var count: Int?

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
    public var path: String
    public var bytes: Int

    public init(frame: Int, path: String, bytes: Int) {
        self.frame = frame
        self.path = path
        self.bytes = bytes
    }
}

/// One exposure request and what became of it.
public struct ExposureRecord: Codable, Sendable, Hashable {
    /// running, completed, aborted, failed.
    public enum Status: String, Codable, Sendable, Hashable {
        case running, completed, aborted, failed
    }

    /// Why a request failed.
    public struct Failure: Codable, Sendable, Hashable {
        /// The stable code (`driver_error`, `storage_error`, ...).
        public var code: ErrorCode
        /// What went wrong, for people.
        public var message: String
        public init(code: ErrorCode, message: String) {
            self.code = code
            self.message = message
        }

        /// The failure as a bus error.
        public var busError: BusError { BusError(code, message) }
    }

    public var id: String
    public var request: ExposureRequest
    public var mode: ExposureMode
    public var status: Status
    /// Frames requested (nil: a preview until aborted).
    public var count: Int?
    /// Frames finished (saved, or published for a preview).
    public var framesDone: Int
    public var files: [SavedFrame]
    public var error: Failure?
    /// Unix times.
    public var started: Double
    public var finished: Double?

    enum CodingKeys: String, CodingKey {
        case id, request, mode, status, count, files, error, started, finished
        case framesDone = "frames_done"
    }

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
    /// The camera's state after the abort (idle).
    public var state: CameraState
    public var exposureId: String?
    /// Milliseconds from the request to idle.
    public var milliseconds: Double
    public var message: String

    enum CodingKeys: String, CodingKey {
        case aborted, state, milliseconds, message
        case exposureId = "exposure_id"
    }

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

    public init(slot: Int, name: String, filters: [String], driver: String) {
        self.slot = slot
        self.name = name
        self.filters = filters
        self.driver = driver
    }
}

/// The reply to `frame.latest`.
public struct LatestFrame: Codable, Sendable, Hashable {
    public var exposureId: String
    public var frame: Int
    /// A sequence number over all frames of this camera process.
    public var sequence: Int
    public var width: Int
    public var height: Int
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
    public static let state = "camera.state"
    public static let progress = "camera.progress"
    public static let telemetry = "camera.telemetry"
    public static let frame = "camera.frame"
    public static let exposure = "camera.exposure"
}

/// `camera.state`
public struct CameraStateEvent: Codable, Sendable, Hashable {
    public var state: CameraState
    public var exposureId: String?
    public var frame: Int?
    public var count: Int?
    public var reason: String?

    enum CodingKeys: String, CodingKey {
        case state, frame, count, reason
        case exposureId = "exposure_id"
    }

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
    public var exposureId: String
    public var frame: Int
    public var count: Int?
    public var percent: Double
    public var elapsed: Double
    public var exposureTime: Double

    enum CodingKeys: String, CodingKey {
        case frame, count, percent, elapsed
        case exposureId = "exposure_id"
        case exposureTime = "exposure_time"
    }

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
    public var state: CameraState
    public var connected: Bool
    public var temperature: TemperatureStatus?

    public init(state: CameraState, connected: Bool, temperature: TemperatureStatus?) {
        self.state = state
        self.connected = connected
        self.temperature = temperature
    }
}

/// `camera.frame`: a frame was saved (or, for a preview, read out).
public struct FrameNotice: Codable, Sendable, Hashable {
    public var exposureId: String
    public var frame: Int
    public var count: Int?
    public var sequence: Int
    public var width: Int
    public var height: Int
    public var preview: Bool
    public var path: String?
    public var bytes: Int
    /// Where the pixels are in the shared-memory frame ring (`camera.frames` in the runtime
    /// directory); nil if the frame could not be put there.
    public var ring: FrameLocation?
    /// The focus position the request reported (`focus: N` in its comment).
    public var focus: Double?
    /// Unix times of the exposure's start and of the end of the readout.
    public var exposureStart: Double?
    public var readoutTime: Double?

    enum CodingKeys: String, CodingKey {
        case frame, count, sequence, width, height, preview, path, bytes, ring, focus
        case exposureId = "exposure_id"
        case exposureStart = "exposure_start"
        case readoutTime = "readout_time"
    }

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
