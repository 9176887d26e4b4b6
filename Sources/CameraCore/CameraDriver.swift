import Foundation

/// A failure of the camera or of a request to it, with a stable machine-readable code.
public struct CameraError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, lower-case code, identical on the bus.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A request's value is out of range or malformed; the message names the field.
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// The camera is doing something that excludes the request (an exposure runs).
        public static let busy = Code(rawValue: "busy")
        /// The camera is not connected (not initialised, or shut down).
        public static let notConnected = Code(rawValue: "not_connected")
        /// The driver or SDK reported a failure; `sdkStatus` holds its code when there is one.
        public static let driver = Code(rawValue: "driver_error")
        /// The camera cannot do this at all (no shutter, no such readout mode...).
        public static let notSupported = Code(rawValue: "not_supported")
        /// A frame could not be stored (disk full, folder not writable).
        public static let storage = Code(rawValue: "storage_error")
        /// The SDK did not finish in time.
        public static let timeout = Code(rawValue: "timeout")
        /// No such thing (an exposure id the camera does not keep).
        public static let notFound = Code(rawValue: "not_found")
    }

    public var code: Code
    public var message: String
    /// The vendor SDK's return code, when the SDK caused the error (e.g. 20072 DRV_ACQUIRING).
    public var sdkStatus: UInt32?

    public init(_ code: Code, _ message: String, sdkStatus: UInt32? = nil) {
        self.code = code
        self.message = message
        self.sdkStatus = sdkStatus
    }

    public var description: String { "\(code): \(message)" }
}

/// What a connected camera can do; read once at connection.
public struct CameraInfo: Sendable, Hashable, Codable {
    /// Model name, e.g. "iKon-M 934" or "Aperture simulator".
    public var model: String
    /// Serial number, if the SDK reports one.
    public var serial: String?
    /// Sensor width and height in unbinned pixels.
    public var width: Int
    public var height: Int
    /// Pixel size in micrometres.
    public var pixelWidth: Double
    public var pixelHeight: Double
    /// The cooler's set-point range in degrees Celsius (inclusive).
    public var minimumSetpoint: Int
    public var maximumSetpoint: Int
    /// The largest horizontal and vertical binning factors (every factor from 1 up is supported).
    public var maximumBinX: Int
    public var maximumBinY: Int
    /// Readout modes by index (e.g. ["1 MHz", "50 kHz"]); at least one.
    public var readoutModes: [String]
    /// Gain settings by index (e.g. ["1x", "2x", "4x"]); at least one.
    public var gains: [String]
    /// Whether the camera has a mechanical shutter.
    public var hasShutter: Bool
    /// Shortest and longest exposure the hardware accepts, in seconds.
    public var minimumExposure: Double
    public var maximumExposure: Double
    /// Largest pixel value (65535 for 16-bit).
    public var maximumADU: Int
    /// Electrons per ADU at the default gain.
    public var electronsPerADU: Double
    /// Whether the first row ``CameraDriver/readImage(into:)`` delivers is the top of the image
    /// (FITS `ROWORDER = 'TOP-DOWN'`); Andor's SDK delivers the bottom row first (`BOTTOM-UP`).
    public var firstRowIsTop: Bool

    enum CodingKeys: String, CodingKey {
        case model, serial, width, height, gains
        case pixelWidth = "pixel_width"
        case pixelHeight = "pixel_height"
        case minimumSetpoint = "minimum_setpoint"
        case maximumSetpoint = "maximum_setpoint"
        case maximumBinX = "maximum_bin_x"
        case maximumBinY = "maximum_bin_y"
        case readoutModes = "readout_modes"
        case hasShutter = "has_shutter"
        case minimumExposure = "minimum_exposure"
        case maximumExposure = "maximum_exposure"
        case maximumADU = "maximum_adu"
        case electronsPerADU = "electrons_per_adu"
        case firstRowIsTop = "first_row_is_top"
    }

    public init(model: String, serial: String? = nil, width: Int, height: Int, pixelWidth: Double, pixelHeight: Double,
                minimumSetpoint: Int, maximumSetpoint: Int, maximumBinX: Int, maximumBinY: Int,
                readoutModes: [String], gains: [String], hasShutter: Bool, minimumExposure: Double,
                maximumExposure: Double, maximumADU: Int = 65535, electronsPerADU: Double, firstRowIsTop: Bool = true) {
        self.firstRowIsTop = firstRowIsTop
        self.model = model
        self.serial = serial
        self.width = width
        self.height = height
        self.pixelWidth = pixelWidth
        self.pixelHeight = pixelHeight
        self.minimumSetpoint = minimumSetpoint
        self.maximumSetpoint = maximumSetpoint
        self.maximumBinX = maximumBinX
        self.maximumBinY = maximumBinY
        self.readoutModes = readoutModes
        self.gains = gains
        self.hasShutter = hasShutter
        self.minimumExposure = minimumExposure
        self.maximumExposure = maximumExposure
        self.maximumADU = maximumADU
        self.electronsPerADU = electronsPerADU
    }
}

/// The shutter during an acquisition.
public enum ShutterMode: String, Sendable, Hashable, Codable {
    /// Open for the exposure, closed for readout (light frames, flats).
    case auto
    /// Held open.
    case open
    /// Held closed (bias and dark frames).
    case closed
}

/// A rectangle of the sensor in unbinned pixels, from the top-left corner (0-based).
public struct Subframe: Sendable, Hashable, Codable {
    public var x: Int
    public var y: Int
    public var width: Int
    public var height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// The kind of frame, which decides the shutter and the FITS `IMAGETYP`.
public enum ImageType: String, Sendable, Hashable, Codable, CaseIterable {
    case bias, dark, flat, object

    /// `IMAGETYP` as written in FITS headers (the names MaxIm DL and most pipelines use).
    public var fitsName: String {
        switch self {
        case .bias: return "Bias Frame"
        case .dark: return "Dark Frame"
        case .flat: return "Flat Field"
        case .object: return "Light Frame"
        }
    }

    /// Bias and dark frames are taken with the shutter closed.
    public var shutter: ShutterMode {
        switch self {
        case .bias, .dark: return .closed
        case .flat, .object: return .auto
        }
    }
}

/// One acquisition as the driver executes it (already validated against ``CameraInfo``).
public struct AcquisitionSettings: Sendable, Hashable {
    /// Exposure time in seconds (0 for a bias).
    public var exposureTime: Double
    public var shutter: ShutterMode
    /// The region read out, in unbinned pixels; its size is a multiple of the binning.
    public var subframe: Subframe
    public var binX: Int
    public var binY: Int
    /// Index into ``CameraInfo/readoutModes``.
    public var readoutMode: Int
    /// Index into ``CameraInfo/gains``.
    public var gain: Int
    /// The kind of frame; hardware drivers ignore it (the shutter says what they need), the
    /// simulator uses it to decide what light falls on the sensor.
    public var imageType: ImageType

    public init(exposureTime: Double, shutter: ShutterMode, subframe: Subframe, binX: Int = 1, binY: Int = 1,
                readoutMode: Int = 0, gain: Int = 0, imageType: ImageType = .object) {
        self.imageType = imageType
        self.exposureTime = exposureTime
        self.shutter = shutter
        self.subframe = subframe
        self.binX = binX
        self.binY = binY
        self.readoutMode = readoutMode
        self.gain = gain
    }

    /// The width of the image read out (binned pixels).
    public var imageWidth: Int { subframe.width / binX }
    /// The height of the image read out (binned pixels).
    public var imageHeight: Int { subframe.height / binY }
}

/// Where the cooler stands, as Andor's GetTemperatureF reports it.
public enum TemperatureState: String, Sendable, Hashable, Codable {
    /// The cooler is off (20034).
    case off
    /// Cooling, not yet at the set-point (20037).
    case notReached = "not_reached"
    /// At the set-point, not yet stable (20035).
    case notStabilized = "not_stabilized"
    /// Stable at the set-point (20036).
    case stabilized
    /// Was stable, has drifted (20040).
    case drifted
}

/// One temperature reading.
public struct TemperatureStatus: Sendable, Hashable, Codable {
    /// The sensor temperature in degrees Celsius.
    public var celsius: Double
    /// The cooler's set-point, in degrees Celsius.
    public var setpoint: Int
    /// Whether the cooler is on.
    public var coolerOn: Bool
    public var state: TemperatureState
    /// Cooler power from 0 to 100 percent, when the driver knows it.
    public var coolerPower: Double?

    enum CodingKeys: String, CodingKey {
        case celsius, setpoint, state
        case coolerOn = "cooler_on"
        case coolerPower = "cooler_power"
    }

    public init(celsius: Double, setpoint: Int, coolerOn: Bool, state: TemperatureState, coolerPower: Double?) {
        self.celsius = celsius
        self.setpoint = setpoint
        self.coolerOn = coolerOn
        self.state = state
        self.coolerPower = coolerPower
    }
}

/// The driver's view of an acquisition.
public enum AcquisitionStatus: Sendable, Hashable {
    /// No acquisition runs (none started, or the last one finished and its data wait).
    case idle
    /// Exposing or reading out.
    case acquiring
}

/// A camera driver: the one place that talks to the hardware or its SDK.
///
/// Threading contract: the camera process calls every method from **one dedicated thread**
/// (the "SDK thread"), never concurrently and never from Swift's cooperative pool; methods may
/// block (the SDK's calls do). An exposure is driven as: ``startAcquisition(_:)``, then
/// ``waitForAcquisition(timeout:)`` in short slices (between which the camera process serves
/// temperature reads and checks for an abort, calling ``abortAcquisition()`` on the same
/// thread), then ``readImage(into:)``.
public protocol CameraDriver: AnyObject {
    /// Connects and initialises the camera (Andor: Initialize, GetDetector...).
    /// - Returns: what the camera can do.
    /// - Throws: ``CameraError`` `driver_error` or `not_connected` naming the cause.
    func connect() throws(CameraError) -> CameraInfo

    /// Releases the camera (Andor: ShutDown). The caller warms the sensor up first.
    func disconnect() throws(CameraError)

    /// Starts one acquisition with validated settings.
    /// - Throws: ``CameraError`` (`busy` if one runs, `driver_error`).
    func startAcquisition(_ settings: AcquisitionSettings) throws(CameraError)

    /// Whether an acquisition is in progress.
    func acquisitionStatus() throws(CameraError) -> AcquisitionStatus

    /// Blocks until the running acquisition ends or `timeout` seconds pass.
    /// - Parameter timeout: the longest wait, in seconds (the caller passes ~10 ms slices).
    /// - Returns: true when the acquisition ended and its image can be read.
    func waitForAcquisition(timeout: Double) throws(CameraError) -> Bool

    /// Aborts the running acquisition; its data are discarded. No-op when idle.
    func abortAcquisition() throws(CameraError)

    /// Copies the finished acquisition's image (row-major, top row first, `imageWidth` x
    /// `imageHeight` of the settings it was started with) into `buffer`.
    func readImage(into buffer: UnsafeMutableBufferPointer<UInt16>) throws(CameraError)

    /// Switches the cooler on or off.
    func setCooler(on: Bool) throws(CameraError)

    /// Sets the cooler's target temperature (already range-checked by the caller).
    func setTemperatureSetpoint(_ celsius: Int) throws(CameraError)

    /// Reads the sensor temperature and cooler state; allowed during an acquisition.
    func temperature() throws(CameraError) -> TemperatureStatus

    // MARK: Optional capabilities (each has a default below, right for a hardware camera)

    /// How many real seconds one second of exposure takes: 1 for a hardware camera (the
    /// default); a simulator may run faster (less than 1) or slower. Exposure progress divides
    /// the real time elapsed by it, so that it reports the exposure's own seconds.
    var exposureTimeScale: Double { get }

    /// Tells the driver the focuser position the observer reports for the frames that follow
    /// (the `focus: N` of an exposure's comment), told before each frame starts. A hardware
    /// camera cannot see the focuser and ignores it (the default); the simulator's star images
    /// follow it.
    /// - Parameter position: the focuser position, as the observer wrote it.
    func focuserMoved(to position: Double)
}

extension CameraDriver {
    /// Real time: one second of exposure takes one second.
    public var exposureTimeScale: Double { 1 }

    /// Ignored: a hardware camera's frames do not depend on what it is told about the focuser.
    public func focuserMoved(to position: Double) {}
}
