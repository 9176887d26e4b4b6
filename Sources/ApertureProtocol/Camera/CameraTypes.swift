import Bus
import Foundation

/// A failure of the camera or of a request to it, with a stable machine-readable code.
public struct CameraError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable code (``ErrorCode``: `invalid_argument`, `busy`, `not_connected`,
    /// `driver_error`, `not_supported`, `storage_error`, `timeout`, `not_found`).
    public typealias Code = ErrorCode

    /// What went wrong, for programs.
    public var code: Code
    /// What went wrong, for people, naming the field.
    public var message: String
    /// The request field at fault, when one is.
    public var field: String?
    /// The vendor SDK's return code, when the SDK caused the error (e.g. 20072 DRV_ACQUIRING).
    public var sdkStatus: UInt32?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil, sdkStatus: UInt32? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.sdkStatus = sdkStatus
    }

    /// `invalid_argument` for `field`: the message is `field: detail`.
    public static func invalid(_ field: String, _ detail: String) -> CameraError {
        CameraError(.invalidArgument, "\(field): \(detail)", field: field)
    }

    /// The error as it goes on the bus.
    public var busError: BusError { BusError(code, message, field: field) }

    /// `code: message`, as in logs.
    public var description: String { "\(code): \(message)" }
}

/// What a connected camera can do; read once at connection.
public struct CameraInfo: Sendable, Hashable, Codable {
    /// Model name, e.g. "iKon-M 934" or "Aperture simulator".
    public var model: String
    /// Serial number, if the SDK reports one.
    public var serial: String?
    /// Sensor width in unbinned pixels.
    public var width: Int
    /// Sensor height in unbinned pixels.
    public var height: Int
    /// Pixel width in micrometres (`pixel_width`).
    public var pixelWidth: Double
    /// Pixel height in micrometres (`pixel_height`).
    public var pixelHeight: Double
    /// The lowest set-point the cooler accepts, in degrees Celsius (`minimum_setpoint`).
    public var minimumSetpoint: Int
    /// The highest set-point in degrees Celsius (`maximum_setpoint`).
    public var maximumSetpoint: Int
    /// The largest horizontal binning factor; every factor from 1 up is supported (`maximum_bin_x`).
    public var maximumBinX: Int
    /// The largest vertical binning factor (`maximum_bin_y`).
    public var maximumBinY: Int
    /// Readout modes by index (e.g. ["1 MHz", "50 kHz"]); at least one.
    public var readoutModes: [String]
    /// Gain settings by index (e.g. ["1x", "2x", "4x"]); at least one.
    public var gains: [String]
    /// Whether the camera has a mechanical shutter.
    public var hasShutter: Bool
    /// The shortest exposure the hardware accepts, in seconds (`minimum_exposure`).
    public var minimumExposure: Double
    /// The longest exposure the hardware accepts, in seconds (`maximum_exposure`).
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

    /// Creates camera info; the defaults are a 16-bit camera delivering the top row first.
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
    /// The left edge, 0-based, in unbinned pixels; at least 0.
    public var x: Int
    /// The top edge, 0-based, in unbinned pixels; at least 0.
    public var y: Int
    /// The width in unbinned pixels: at least 1, a multiple of the binning, inside the sensor.
    public var width: Int
    /// The height in unbinned pixels: at least 1, a multiple of the binning, inside the sensor.
    public var height: Int

    /// Creates a subframe (not checked here: ``ExposureRequest`` validation checks it against the sensor).
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

/// The kind of frame, which decides the shutter and the FITS `IMAGETYP`.
public enum ImageType: String, Sendable, Hashable, Codable, CaseIterable {
    /// A zero-length exposure with the shutter closed (`Bias Frame`); its time is always 0.
    case bias
    /// An exposure with the shutter closed (`Dark Frame`).
    case dark
    /// An exposure of an evenly lit field (`Flat Field`).
    case flat
    /// An exposure of the sky (`Light Frame`).
    case object

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
    /// What the shutter does (closed for bias and dark frames).
    public var shutter: ShutterMode
    /// The region read out, in unbinned pixels; its size is a multiple of the binning.
    public var subframe: Subframe
    /// The horizontal binning factor, 1 up to ``CameraInfo/maximumBinX``.
    public var binX: Int
    /// The vertical binning factor, 1 up to ``CameraInfo/maximumBinY``.
    public var binY: Int
    /// Index into ``CameraInfo/readoutModes``.
    public var readoutMode: Int
    /// Index into ``CameraInfo/gains``.
    public var gain: Int
    /// The kind of frame; hardware drivers ignore it (the shutter says what they need), the
    /// simulator uses it to decide what light falls on the sensor.
    public var imageType: ImageType
    /// Where the telescope points (J2000); hardware drivers ignore it, the simulator renders the
    /// catalogue's stars around it. nil: no pointing known (the simulator's synthetic field).
    public var pointing: SkyPointing?

    /// Creates settings; the defaults are no binning, the first readout mode and gain, a light frame,
    /// no pointing.
    public init(exposureTime: Double, shutter: ShutterMode, subframe: Subframe, binX: Int = 1, binY: Int = 1,
                readoutMode: Int = 0, gain: Int = 0, imageType: ImageType = .object, pointing: SkyPointing? = nil) {
        self.imageType = imageType
        self.pointing = pointing
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
    /// Where the cooler stands relative to the set-point.
    public var state: TemperatureState
    /// Cooler power from 0 to 100 percent, when the driver knows it.
    public var coolerPower: Double?

    enum CodingKeys: String, CodingKey {
        case celsius, setpoint, state
        case coolerOn = "cooler_on"
        case coolerPower = "cooler_power"
    }

    /// Creates a reading.
    public init(celsius: Double, setpoint: Int, coolerOn: Bool, state: TemperatureState, coolerPower: Double?) {
        self.celsius = celsius
        self.setpoint = setpoint
        self.coolerOn = coolerOn
        self.state = state
        self.coolerPower = coolerPower
    }
}
