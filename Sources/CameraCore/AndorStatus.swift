import ApertureProtocol
import Bus
/// A return code of the Andor SDK2 (every SDK2 call returns an `unsigned int`), named as in
/// Andor's Linux header `atmcdLXd.h`.
///
/// The table holds every `DRV_*` code that header defines (SDK 2.10x); the header itself is
/// proprietary and not part of this repository. A code missing from the table still prints, as
/// `unknown SDK status (N)`.
public struct AndorStatus: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The value the SDK call returned.
    public let rawValue: UInt32

    /// Wraps a value returned by an SDK call.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// Wraps a value returned by an SDK call.
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    /// DRV_SUCCESS (20002): the call succeeded; for WaitForAcquisition, an acquisition event came.
    public static let success = AndorStatus(20002)
    /// DRV_ERROR_FILELOAD (20006): Initialize could not load the firmware files from its directory.
    public static let errorFileLoad = AndorStatus(20006)
    /// DRV_ERROR_ACK (20013): no acknowledgement from the camera (communication failure).
    public static let errorAck = AndorStatus(20013)
    /// DRV_NO_NEW_DATA (20024): a wait ended without an acquisition event (timeout or abort), or
    /// there is no acquired image.
    public static let noNewData = AndorStatus(20024)
    /// DRV_TEMP_OFF (20034): the cooler is off.
    public static let temperatureOff = AndorStatus(20034)
    /// DRV_TEMP_NOT_STABILIZED (20035): at the set-point, not yet stable.
    public static let temperatureNotStabilized = AndorStatus(20035)
    /// DRV_TEMP_STABILIZED (20036): stable at the set-point.
    public static let temperatureStabilized = AndorStatus(20036)
    /// DRV_TEMP_NOT_REACHED (20037): cooling towards the set-point.
    public static let temperatureNotReached = AndorStatus(20037)
    /// DRV_TEMP_OUT_RANGE (20038): the sensor temperature is outside the measurable range.
    public static let temperatureOutOfRange = AndorStatus(20038)
    /// DRV_TEMP_NOT_SUPPORTED (20039): the camera cannot report this.
    public static let temperatureNotSupported = AndorStatus(20039)
    /// DRV_TEMP_DRIFT (20040): was stable at the set-point, has drifted.
    public static let temperatureDrift = AndorStatus(20040)
    /// DRV_P1INVALID (20066): the call's first parameter is invalid.
    public static let p1Invalid = AndorStatus(20066)
    /// DRV_ACQUIRING (20072): an acquisition is running (also a GetStatus value).
    public static let acquiring = AndorStatus(20072)
    /// DRV_IDLE (20073): no acquisition is running (a GetStatus value; AbortAcquisition's answer
    /// when there is nothing to abort).
    public static let idle = AndorStatus(20073)
    /// DRV_NOT_INITIALIZED (20075): Initialize has not been called, or ShutDown has.
    public static let notInitialized = AndorStatus(20075)
    /// DRV_ERROR_NOCAMERA (20990): no camera found.
    public static let errorNoCamera = AndorStatus(20990)
    /// DRV_NOT_SUPPORTED (20991): the camera does not support the call.
    public static let notSupported = AndorStatus(20991)
    /// DRV_NOT_AVAILABLE (20992): the feature is not available on this camera.
    public static let notAvailable = AndorStatus(20992)

    /// The header's name for the code, e.g. `DRV_P2INVALID`, or nil when the table lacks it.
    public var name: String? { Self.names[rawValue] }

    /// `DRV_P2INVALID (20067)`, or `unknown SDK status (N)`.
    public var description: String {
        if let name { return "\(name) (\(rawValue))" }
        return "unknown SDK status (\(rawValue))"
    }

    /// For `DRV_P<n>INVALID`, the 1-based position `n` of the rejected parameter.
    public var invalidParameterPosition: Int? {
        switch rawValue {
        case 20066...20069: return Int(rawValue - 20066) + 1
        case 20076, 20077: return Int(rawValue - 20076) + 5
        case 20083...20087: return Int(rawValue - 20083) + 7
        default: return nil
        }
    }

    /// The ``CameraError`` code for this status when a call fails with it:
    /// - `invalid_argument`: `DRV_P1INVALID`...`DRV_P11INVALID` and the other "invalid value"
    ///   codes (mode, filter, binning, amplifier, trigger mode, ring exposures, aux port,
    ///   count-convert mode);
    /// - `not_connected`: `DRV_NOT_INITIALIZED`, `DRV_ERROR_NOCAMERA`;
    /// - `busy`: `DRV_ACQUIRING`, `DRV_TEMPCYCLE` (a temperature cycle runs);
    /// - `not_supported`: `DRV_NOT_SUPPORTED`, `DRV_NOT_AVAILABLE`, `DRV_TEMP_NOT_SUPPORTED`,
    ///   `DRV_GATING_NOT_AVAILABLE`;
    /// - `timeout`: `DRV_I2CTIMEOUT`;
    /// - `driver_error`: everything else.
    public var errorCode: CameraError.Code {
        switch rawValue {
        case 20066...20069, 20076, 20077, 20083...20087: return .invalidArgument
        case 20050, 20078, 20079, 20095, 20098, 20099, 20100, 20101: return .invalidArgument
        case 20075, 20990: return .notConnected
        case 20072, 20074: return .busy
        case 20991, 20992, 20039, 20130: return .notSupported
        case 20082: return .timeout
        default: return .driver
        }
    }

    /// Every code `atmcdLXd.h` defines. The header defines the temperature codes twice
    /// (`DRV_TEMPERATURE_*` and `DRV_TEMP_*`, same values); the short names are used.
    static let names: [UInt32: String] = [
        20001: "DRV_ERROR_CODES",
        20002: "DRV_SUCCESS",
        20003: "DRV_VXDNOTINSTALLED",
        20004: "DRV_ERROR_SCAN",
        20005: "DRV_ERROR_CHECK_SUM",
        20006: "DRV_ERROR_FILELOAD",
        20007: "DRV_UNKNOWN_FUNCTION",
        20008: "DRV_ERROR_VXD_INIT",
        20009: "DRV_ERROR_ADDRESS",
        20010: "DRV_ERROR_PAGELOCK",
        20011: "DRV_ERROR_PAGEUNLOCK",
        20012: "DRV_ERROR_BOARDTEST",
        20013: "DRV_ERROR_ACK",
        20014: "DRV_ERROR_UP_FIFO",
        20015: "DRV_ERROR_PATTERN",
        20017: "DRV_ACQUISITION_ERRORS",
        20018: "DRV_ACQ_BUFFER",
        20019: "DRV_ACQ_DOWNFIFO_FULL",
        20020: "DRV_PROC_UNKONWN_INSTRUCTION",
        20021: "DRV_ILLEGAL_OP_CODE",
        20022: "DRV_KINETIC_TIME_NOT_MET",
        20023: "DRV_ACCUM_TIME_NOT_MET",
        20024: "DRV_NO_NEW_DATA",
        20025: "KERN_MEM_ERROR",
        20026: "DRV_SPOOLERROR",
        20027: "DRV_SPOOLSETUPERROR",
        20028: "DRV_FILESIZELIMITERROR",
        20029: "DRV_ERROR_FILESAVE",
        20033: "DRV_TEMP_CODES",
        20034: "DRV_TEMP_OFF",
        20035: "DRV_TEMP_NOT_STABILIZED",
        20036: "DRV_TEMP_STABILIZED",
        20037: "DRV_TEMP_NOT_REACHED",
        20038: "DRV_TEMP_OUT_RANGE",
        20039: "DRV_TEMP_NOT_SUPPORTED",
        20040: "DRV_TEMP_DRIFT",
        20049: "DRV_GENERAL_ERRORS",
        20050: "DRV_INVALID_AUX",
        20051: "DRV_COF_NOTLOADED",
        20052: "DRV_FPGAPROG",
        20053: "DRV_FLEXERROR",
        20054: "DRV_GPIBERROR",
        20055: "DRV_EEPROMVERSIONERROR",
        20064: "DRV_DATATYPE",
        20065: "DRV_DRIVER_ERRORS",
        20066: "DRV_P1INVALID",
        20067: "DRV_P2INVALID",
        20068: "DRV_P3INVALID",
        20069: "DRV_P4INVALID",
        20070: "DRV_INIERROR",
        20071: "DRV_COFERROR",
        20072: "DRV_ACQUIRING",
        20073: "DRV_IDLE",
        20074: "DRV_TEMPCYCLE",
        20075: "DRV_NOT_INITIALIZED",
        20076: "DRV_P5INVALID",
        20077: "DRV_P6INVALID",
        20078: "DRV_INVALID_MODE",
        20079: "DRV_INVALID_FILTER",
        20080: "DRV_I2CERRORS",
        20081: "DRV_I2CDEVNOTFOUND",
        20082: "DRV_I2CTIMEOUT",
        20083: "DRV_P7INVALID",
        20084: "DRV_P8INVALID",
        20085: "DRV_P9INVALID",
        20086: "DRV_P10INVALID",
        20087: "DRV_P11INVALID",
        20089: "DRV_USBERROR",
        20090: "DRV_IOCERROR",
        20091: "DRV_VRMVERSIONERROR",
        20093: "DRV_USB_INTERRUPT_ENDPOINT_ERROR",
        20094: "DRV_RANDOM_TRACK_ERROR",
        20095: "DRV_INVALID_TRIGGER_MODE",
        20096: "DRV_LOAD_FIRMWARE_ERROR",
        20097: "DRV_DIVIDE_BY_ZERO_ERROR",
        20098: "DRV_INVALID_RINGEXPOSURES",
        20099: "DRV_BINNING_ERROR",
        20100: "DRV_INVALID_AMPLIFIER",
        20101: "DRV_INVALID_COUNTCONVERT_MODE",
        20115: "DRV_ERROR_MAP",
        20116: "DRV_ERROR_UNMAP",
        20117: "DRV_ERROR_MDL",
        20118: "DRV_ERROR_UNMDL",
        20119: "DRV_ERROR_BUFFSIZE",
        20121: "DRV_ERROR_NOHANDLE",
        20130: "DRV_GATING_NOT_AVAILABLE",
        20131: "DRV_FPGA_VOLTAGE_ERROR",
        20150: "DRV_OW_CMD_FAIL",
        20151: "DRV_OWMEMORY_BAD_ADDR",
        20152: "DRV_OWCMD_NOT_AVAILABLE",
        20153: "DRV_OW_NO_SLAVES",
        20154: "DRV_OW_NOT_INITIALIZED",
        20155: "DRV_OW_ERROR_SLAVE_NUM",
        20156: "DRV_MSTIMINGS_ERROR",
        20173: "DRV_OA_NULL_ERROR",
        20174: "DRV_OA_PARSE_DTD_ERROR",
        20175: "DRV_OA_DTD_VALIDATE_ERROR",
        20176: "DRV_OA_FILE_ACCESS_ERROR",
        20177: "DRV_OA_FILE_DOES_NOT_EXIST",
        20178: "DRV_OA_XML_INVALID_OR_NOT_FOUND_ERROR",
        20179: "DRV_OA_PRESET_FILE_NOT_LOADED",
        20180: "DRV_OA_USER_FILE_NOT_LOADED",
        20181: "DRV_OA_PRESET_AND_USER_FILE_NOT_LOADED",
        20182: "DRV_OA_INVALID_FILE",
        20183: "DRV_OA_FILE_HAS_BEEN_MODIFIED",
        20184: "DRV_OA_BUFFER_FULL",
        20185: "DRV_OA_INVALID_STRING_LENGTH",
        20186: "DRV_OA_INVALID_CHARS_IN_NAME",
        20187: "DRV_OA_INVALID_NAMING",
        20188: "DRV_OA_GET_CAMERA_ERROR",
        20189: "DRV_OA_MODE_ALREADY_EXISTS",
        20190: "DRV_OA_STRINGS_NOT_EQUAL",
        20191: "DRV_OA_NO_USER_DATA",
        20192: "DRV_OA_VALUE_NOT_SUPPORTED",
        20193: "DRV_OA_MODE_DOES_NOT_EXIST",
        20194: "DRV_OA_CAMERA_NOT_SUPPORTED",
        20195: "DRV_OA_FAILED_TO_GET_MODE",
        20211: "DRV_PROCESSING_FAILED",
        20990: "DRV_ERROR_NOCAMERA",
        20991: "DRV_NOT_SUPPORTED",
        20992: "DRV_NOT_AVAILABLE",
    ]
}
