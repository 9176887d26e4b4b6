import ApertureProtocol
import Bus
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A camera driven through Andor's SDK2 (`libandor.so`, e.g. the iKon-M 934 evora uses).
///
/// The SDK is proprietary and may be absent: it is loaded at run time with `dlopen` by
/// ``connect()`` and released by ``disconnect()``, so Aperture builds and runs without it. Every
/// SDK return code other than success becomes a ``CameraError`` whose message names the call, its
/// arguments and the code (`SetImage(...) failed: DRV_P2INVALID (20067)`) and whose `sdkStatus`
/// holds the code; ``AndorStatus`` has the table and its mapping to error codes.
///
/// Threading: as ``CameraDriver`` requires, one thread makes every call; the class is not
/// `Sendable`. SDK calls block (Initialize for seconds; waits for their timeout).
///
/// Geometry: ``Subframe`` coordinates are 0-based and SDK coordinates 1-based, so a subframe
/// maps to `SetImage(binX, binY, x + 1, x + width, y + 1, y + height)`. Row 0 of this driver is
/// therefore SDK row 1, and ``readImage(into:)`` returns rows in the order the SDK delivers them:
/// the buffer's first row is SDK row `y + 1`. Andor's own software displays SDK row 1 at the
/// *bottom*; which way up that is on the sky (the FITS `ROWORDER`) is the camera process's
/// concern, not the driver's.
///
/// Cooling: SDK2 has no portable call that reads the set-point back, so the driver reports the
/// last set-point it sent with ``setTemperatureSetpoint(_:)``; until then it reports
/// ``initialSetpoint`` clamped to the cooler's range, which the driver does *not* send (sending
/// it could change a cooler already running).
public final class AndorSDK2Camera: CameraDriver {
    /// The set-point reported before ``setTemperatureSetpoint(_:)`` is first called, clamped to
    /// the camera's range: room temperature, i.e. "not cooling".
    public static let initialSetpoint = 20
    /// The exposure ceiling reported when the SDK lacks `GetMaximumExposure`, in seconds.
    public static let fallbackMaximumExposure = 3600.0
    /// The binning ceiling reported when the SDK lacks `GetMaximumBinning` (capped at the sensor).
    public static let fallbackMaximumBinning = 16

    /// SetReadMode: 4, image.
    static let readModeImage: CInt = 4
    /// SetAcquisitionMode: 1, single scan.
    static let acquisitionModeSingle: CInt = 1
    /// SetShutter `typ`: 1, the shutter opens on a TTL high signal.
    static let shutterTTLHighOpens: CInt = 1
    /// SetShutter closing and opening times in milliseconds (the iKon-M's shutter needs ~40).
    static let shutterTransferMilliseconds: CInt = 50
    /// The A/D channel and output amplifier whose horizontal speeds are offered (GetHSSpeed
    /// `channel`, `typ`; SetHSSpeed `typ`): the only ones a conventional CCD such as the iKon has.
    static let adChannel: CInt = 0
    static let amplifier: CInt = 0

    /// The library path given to `dlopen`: a file name (`libandor.so`, searched as the dynamic
    /// linker searches, e.g. `LD_LIBRARY_PATH` and `/usr/local/lib` when it is in ld.so.conf) or a
    /// path.
    public let libraryPath: String
    /// The directory handed to the SDK's Initialize, where its firmware and configuration files
    /// live (`/usr/local/etc/andor` when the SDK is installed with its defaults).
    public let configDirectory: String
    /// The exposure time the SDK actually set for the last acquisition (GetAcquisitionTimings),
    /// in seconds; the camera rounds the requested time to its clock.
    public private(set) var actualExposureTime: Double?

    private let electronsPerADU: Double
    private let logger: Logger
    private var library: AndorSDK2Library?
    private var info: CameraInfo?
    private var setpoint = AndorSDK2Camera.initialSetpoint
    private var phase = Phase.idle

    /// Where the one acquisition stands, as far as the driver knows.
    private enum Phase {
        case idle
        /// Started; `eventSeen` once a wait has returned the SDK's acquisition event.
        case running(AcquisitionSettings, eventSeen: Bool)
        /// Ended with an image to read.
        case finished(AcquisitionSettings)
    }

    /// Creates a driver; nothing is loaded until ``connect()``.
    /// - Parameters:
    ///   - libraryPath: the SDK library to load (see ``libraryPath``).
    ///   - configDirectory: the directory passed to Initialize (see ``configDirectory``).
    ///   - electronsPerADU: the gain reported in ``CameraInfo/electronsPerADU``. SDK2 does not
    ///     report it portably; take it from the camera's performance sheet (the default, 1.0, is a
    ///     placeholder).
    ///   - logger: where the driver logs (SDK calls at `trace`, connection at `info`).
    public init(libraryPath: String = "libandor.so", configDirectory: String = "/usr/local/etc/andor",
                electronsPerADU: Double = 1.0, logger: Logger) {
        self.libraryPath = libraryPath
        self.configDirectory = configDirectory
        self.electronsPerADU = electronsPerADU
        var logger = logger
        logger[metadataKey: "camera.driver"] = "andor-sdk2"
        self.logger = logger
    }

    // MARK: Connection

    /// Loads the SDK library, initialises the camera and reads what it can do: Initialize,
    /// GetDetector, GetPixelSize, GetHeadModel, GetCameraSerialNumber, GetTemperatureRange, the
    /// horizontal readout speeds (``CameraInfo/readoutModes``, e.g. `"1.0 MHz"`), the pre-amp gains
    /// (``CameraInfo/gains``, e.g. `"2x"`), GetMaximumExposure and GetMaximumBinning when the
    /// library has them; then selects image read mode and single-scan acquisition. Connecting
    /// again while connected returns the same description.
    /// - Returns: what the camera can do.
    /// - Throws: ``CameraError`` `driver_error` when the library or one of its calls cannot be
    ///   loaded (naming the path, the symbols and `dlerror()`) or a call fails; `not_connected`
    ///   when the SDK finds no camera. The library is released again on failure.
    public func connect() throws(CameraError) -> CameraInfo {
        if library != nil, let info { return info }
        let library = try AndorSDK2Library(path: libraryPath)
        var initialised = false
        do throws(CameraError) {
            var directory = Array(configDirectory.utf8CString)
            let status = directory.withUnsafeMutableBufferPointer { library.initialize($0.baseAddress) }
            try check(status, "Initialize", ["dir": "\"\(configDirectory)\""])
            initialised = true
            let info = try describe(library)
            try check(library.setReadMode(Self.readModeImage), "SetReadMode", ["mode": Self.readModeImage])
            try check(library.setAcquisitionMode(Self.acquisitionModeSingle), "SetAcquisitionMode",
                      ["mode": Self.acquisitionModeSingle])
            self.library = library
            self.info = info
            setpoint = min(max(Self.initialSetpoint, info.minimumSetpoint), info.maximumSetpoint)
            phase = .idle
            actualExposureTime = nil
            logger.info("Andor camera connected", metadata: [
                "camera.model": "\(info.model)", "camera.serial": "\(info.serial ?? "-")",
                "camera.size": "\(info.width)x\(info.height)", "andor.library": "\(library.path)",
            ])
            return info
        } catch {
            if initialised { _ = library.shutDown() }
            library.close()
            throw error
        }
    }

    /// Shuts the SDK down (aborting an acquisition first) and unloads the library. The caller
    /// warms the sensor up first. No-op when not connected.
    /// - Throws: ``CameraError`` when ShutDown fails; the driver is disconnected all the same.
    public func disconnect() throws(CameraError) {
        guard let library else { return }
        if case .running = phase { _ = library.abortAcquisition() }
        let status = library.shutDown()
        library.close()
        self.library = nil
        info = nil
        phase = .idle
        logger.info("Andor camera disconnected")
        try check(status, "ShutDown")
    }

    // MARK: Acquisition

    /// Starts one acquisition: SetShutter (TTL high opens, 50 ms transfer, mode from
    /// `settings.shutter`), SetHSSpeed, SetPreAmpGain, SetExposureTime, GetAcquisitionTimings
    /// (see ``actualExposureTime``), SetImage, StartAcquisition. An unread finished image is
    /// discarded.
    /// - Parameter settings: the acquisition, validated against ``CameraInfo``.
    /// - Throws: ``CameraError`` `busy` if an acquisition runs, `invalid_argument` for settings
    ///   the driver or the SDK rejects (naming the field or parameter), `not_connected`,
    ///   `driver_error`.
    public func startAcquisition(_ settings: AcquisitionSettings) throws(CameraError) {
        let library = try connected("startAcquisition")
        try validate(settings)
        var status: CInt = 0
        try check(library.getStatus(&status), "GetStatus")
        if AndorStatus(UInt32(bitPattern: status)) == .acquiring {
            throw CameraError(.busy, "an acquisition is already running", sdkStatus: AndorStatus.acquiring.rawValue)
        }
        phase = .idle

        let shutterMode: CInt = switch settings.shutter {
        case .auto: 0
        case .open: 1
        case .closed: 2
        }
        try check(library.setShutter(Self.shutterTTLHighOpens, shutterMode, Self.shutterTransferMilliseconds,
                                     Self.shutterTransferMilliseconds),
                  "SetShutter", ["typ": Self.shutterTTLHighOpens, "mode": shutterMode,
                                 "closingtime": Self.shutterTransferMilliseconds,
                                 "openingtime": Self.shutterTransferMilliseconds])
        if library.hasReadoutSpeeds {
            let index = CInt(settings.readoutMode)
            try check(library.setHSSpeed(Self.amplifier, index), "SetHSSpeed", ["typ": Self.amplifier, "index": index])
        }
        if library.hasPreAmpGains {
            let index = CInt(settings.gain)
            try check(library.setPreAmpGain(index), "SetPreAmpGain", ["index": index])
        }
        let exposure = Float(settings.exposureTime)
        try check(library.setExposureTime(exposure), "SetExposureTime", ["time": exposure])
        var actual: Float = 0, accumulate: Float = 0, kinetic: Float = 0
        try check(library.getAcquisitionTimings(&actual, &accumulate, &kinetic), "GetAcquisitionTimings")
        actualExposureTime = Double(actual)

        let area = settings.subframe
        let hbin = CInt(settings.binX), vbin = CInt(settings.binY)
        let hstart = CInt(area.x + 1), hend = CInt(area.x + area.width)
        let vstart = CInt(area.y + 1), vend = CInt(area.y + area.height)
        try check(library.setImage(hbin, vbin, hstart, hend, vstart, vend), "SetImage",
                  ["hbin": hbin, "vbin": vbin, "hstart": hstart, "hend": hend, "vstart": vstart, "vend": vend])
        try check(library.startAcquisition(), "StartAcquisition")
        phase = .running(settings, eventSeen: false)
        logger.debug("acquisition started", metadata: [
            "exposure.time": "\(settings.exposureTime)", "exposure.actual": "\(actual)",
            "exposure.image": "\(settings.imageWidth)x\(settings.imageHeight)",
        ])
    }

    /// Asks the SDK (GetStatus) whether an acquisition runs.
    /// - Throws: ``CameraError`` `not_connected`; `driver_error` when GetStatus fails or reports an
    ///   acquisition error (e.g. `DRV_ACQ_BUFFER`) instead of acquiring or idle.
    public func acquisitionStatus() throws(CameraError) -> AcquisitionStatus {
        let library = try connected("acquisitionStatus")
        let status = try sdkAcquisitionStatus(library)
        if status == .acquiring { return .acquiring }
        if status == .idle { return .idle }
        throw statusError(status)
    }

    /// Waits up to `timeout` for the running acquisition: WaitForAcquisitionTimeOut, then
    /// GetStatus. The acquisition has ended with an image when GetStatus reports idle and the SDK
    /// has delivered its acquisition event, in this wait or an earlier one of the same
    /// acquisition (the event may come a moment before the status changes). Returns false at once
    /// when no acquisition was started or it was aborted, true at once when the image waits to be
    /// read. The caller bounds the whole exposure (an SDK that never delivers the event keeps
    /// this returning false).
    /// - Parameter timeout: the longest wait in seconds, rounded up to whole milliseconds.
    /// - Returns: true when the acquisition ended and ``readImage(into:)`` can be called.
    /// - Throws: ``CameraError`` `not_connected`; `driver_error` when a call fails or GetStatus
    ///   reports an acquisition error (the acquisition is then over, without an image).
    public func waitForAcquisition(timeout: Double) throws(CameraError) -> Bool {
        let library = try connected("waitForAcquisition")
        let settings: AcquisitionSettings
        var eventSeen: Bool
        switch phase {
        case .idle: return false
        case .finished: return true
        case .running(let running, let seen):
            settings = running
            eventSeen = seen
        }
        let milliseconds = timeout.isNaN ? 0 : min(max(timeout * 1000, 0).rounded(.up), Double(CInt.max))
        let waited = AndorStatus(library.waitForAcquisitionTimeOut(CInt(milliseconds)))
        switch waited {
        case .success: eventSeen = true
        case .noNewData: break
        default: try check(waited.rawValue, "WaitForAcquisitionTimeOut", ["iTimeOutMs": CInt(milliseconds)])
        }
        let status = try sdkAcquisitionStatus(library)
        if status == .acquiring || (status == .idle && !eventSeen) {
            phase = .running(settings, eventSeen: eventSeen)
            return false
        }
        if status == .idle {
            phase = .finished(settings)
            return true
        }
        phase = .idle
        throw statusError(status)
    }

    /// Aborts the running acquisition (AbortAcquisition; `DRV_IDLE`, nothing to abort, counts as
    /// success) and discards its image, and an unread finished image too.
    /// - Throws: ``CameraError`` `not_connected`, `driver_error`.
    public func abortAcquisition() throws(CameraError) {
        let library = try connected("abortAcquisition")
        let status = AndorStatus(library.abortAcquisition())
        let wasRunning = if case .running = phase { true } else { false }
        phase = .idle
        if status != .idle { try check(status.rawValue, "AbortAcquisition") }
        if wasRunning { logger.debug("acquisition aborted") }
    }

    /// Copies the finished image (GetAcquiredData16) into `buffer`, in SDK row order (see the
    /// type's notes on geometry). The image stays readable until the next acquisition starts.
    /// - Parameter buffer: exactly `imageWidth * imageHeight` pixels of the settings the
    ///   acquisition was started with.
    /// - Throws: ``CameraError`` `invalid_argument` for a buffer of another size, `busy` while the
    ///   acquisition runs, `driver_error` (with `DRV_NO_NEW_DATA`) when there is no image (none
    ///   started, or aborted), `not_connected`.
    public func readImage(into buffer: UnsafeMutableBufferPointer<UInt16>) throws(CameraError) {
        let library = try connected("readImage")
        let settings: AcquisitionSettings
        switch phase {
        case .finished(let finished): settings = finished
        case .running:
            throw CameraError(.busy, "readImage: the acquisition is still running", sdkStatus: AndorStatus.acquiring.rawValue)
        case .idle:
            throw CameraError(.driver, "readImage: there is no image (no acquisition finished since the last start or abort)",
                              sdkStatus: AndorStatus.noNewData.rawValue)
        }
        let pixels = settings.imageWidth * settings.imageHeight
        guard buffer.count == pixels, let size = CUnsignedInt(exactly: pixels) else {
            throw CameraError(.invalidArgument, "readImage: the buffer holds \(buffer.count) pixels, the image "
                + "\(settings.imageWidth) x \(settings.imageHeight) = \(pixels)")
        }
        try check(library.getAcquiredData16(buffer.baseAddress, size), "GetAcquiredData16", ["size": size])
    }

    // MARK: Cooling

    /// Switches the cooler on (CoolerON) or off (CoolerOFF; the SDK then warms the sensor at a
    /// controlled rate).
    /// - Throws: ``CameraError`` `busy` if the camera refuses during an acquisition (the SDK
    ///   documents `DRV_ACQUIRING` for these calls), `not_connected`, `driver_error`.
    public func setCooler(on: Bool) throws(CameraError) {
        let library = try connected("setCooler")
        if on {
            try check(library.coolerOn(), "CoolerON")
        } else {
            try check(library.coolerOff(), "CoolerOFF")
        }
    }

    /// Sets the cooler's target (SetTemperature) and remembers it for ``temperature()``.
    /// - Parameter celsius: the set-point in degrees Celsius.
    /// - Throws: ``CameraError`` `invalid_argument` naming the value when the SDK rejects it
    ///   (`DRV_P1INVALID`, outside GetTemperatureRange), `busy` during an acquisition,
    ///   `not_connected`, `driver_error`.
    public func setTemperatureSetpoint(_ celsius: Int) throws(CameraError) {
        let library = try connected("setTemperatureSetpoint")
        guard let value = CInt(exactly: celsius) else {
            throw CameraError(.invalidArgument, "setpoint \(celsius) C is not a valid temperature")
        }
        try check(library.setTemperature(value), "SetTemperature", ["temperature": value],
                  context: "setpoint \(celsius) C")
        setpoint = celsius
    }

    /// Reads the sensor temperature (GetTemperatureF, whose return code gives the state) and
    /// whether the cooler is on (IsCoolerOn). The set-point is the remembered one (see the type's
    /// notes); cooler power is not available through SDK2 (nil).
    /// - Throws: ``CameraError`` `busy` when the camera cannot read its temperature during an
    ///   acquisition, `not_supported`, `not_connected`, `driver_error`.
    public func temperature() throws(CameraError) -> TemperatureStatus {
        let library = try connected("temperature")
        var celsius: Float = .nan
        let status = AndorStatus(library.getTemperatureF(&celsius))
        var state: TemperatureState?
        switch status {
        case .temperatureOff: state = .off
        case .temperatureNotReached: state = .notReached
        case .temperatureNotStabilized: state = .notStabilized
        case .temperatureStabilized: state = .stabilized
        case .temperatureDrift: state = .drifted
        // Not documented for GetTemperatureF, but harmless: a reading without a verdict.
        case .success: state = nil
        default: try check(status.rawValue, "GetTemperatureF")
        }
        var coolerOn: CInt = 0
        try check(library.isCoolerOn(&coolerOn), "IsCoolerOn")
        return TemperatureStatus(celsius: Double(celsius), setpoint: setpoint, coolerOn: coolerOn != 0,
                                 state: state ?? (coolerOn != 0 ? .notStabilized : .off), coolerPower: nil)
    }

    /// The camera fan's speed (SetFanMode).
    public enum FanMode: CInt, Sendable, Hashable {
        /// Full speed (0), the SDK's default.
        case full = 0
        /// Low speed (1).
        case low = 1
        /// Off (2): only with liquid cooling.
        case off = 2
    }

    /// Sets the fan speed (SetFanMode). Andor warns against `off` without liquid cooling.
    /// - Throws: ``CameraError`` `busy` during an acquisition, `not_connected`, `driver_error`.
    public func setFanMode(_ mode: FanMode) throws(CameraError) {
        let library = try connected("setFanMode")
        try check(library.setFanMode(mode.rawValue), "SetFanMode", ["mode": mode.rawValue])
    }

    // MARK: Helpers

    /// The loaded library, or `not_connected` naming `method`.
    private func connected(_ method: String) throws(CameraError) -> AndorSDK2Library {
        guard let library else {
            throw CameraError(.notConnected, "\(method): the Andor camera is not connected (connect() first)",
                              sdkStatus: AndorStatus.notInitialized.rawValue)
        }
        return library
    }

    /// Throws the named error unless `status` is DRV_SUCCESS.
    /// - Parameters:
    ///   - call: the SDK function, e.g. `SetImage`.
    ///   - arguments: its arguments by their header names, for the message (`DRV_P<n>INVALID`
    ///     names parameter n).
    ///   - context: what the caller asked for, in its own terms, to start the message.
    private func check(_ status: UInt32, _ call: String, _ arguments: KeyValuePairs<String, any CustomStringConvertible> = [:],
                       context: String? = nil) throws(CameraError) {
        let status = AndorStatus(status)
        logger.trace("SDK call", metadata: ["andor.call": "\(call)", "andor.status": "\(status)"])
        guard status != .success else { return }
        let argumentList = arguments.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        var message = "\(call)(\(argumentList)) failed: \(status)"
        if let position = status.invalidParameterPosition {
            if position <= arguments.count {
                let (name, value) = arguments[arguments.index(arguments.startIndex, offsetBy: position - 1)]
                message += ", parameter \(position) (\(name) = \(value)) rejected"
            } else {
                message += ", parameter \(position) rejected"
            }
        }
        if let context { message = "\(context): " + message }
        throw CameraError(status.errorCode, message, sdkStatus: status.rawValue)
    }

    /// GetStatus's value.
    private func sdkAcquisitionStatus(_ library: AndorSDK2Library) throws(CameraError) -> AndorStatus {
        var status: CInt = 0
        try check(library.getStatus(&status), "GetStatus")
        return AndorStatus(UInt32(bitPattern: status))
    }

    /// The error for a GetStatus value other than acquiring or idle (an acquisition error).
    private func statusError(_ status: AndorStatus) -> CameraError {
        CameraError(status.errorCode == .busy ? .busy : .driver, "the acquisition failed: GetStatus reports \(status)",
                    sdkStatus: status.rawValue)
    }

    /// Cheap checks that keep nonsense away from the SDK; each error names the field.
    private func validate(_ settings: AcquisitionSettings) throws(CameraError) {
        func invalid(_ message: String) -> CameraError { CameraError(.invalidArgument, message) }
        guard settings.exposureTime.isFinite, settings.exposureTime >= 0 else {
            throw invalid("exposureTime \(settings.exposureTime) s must be a finite number >= 0")
        }
        guard settings.binX >= 1, settings.binY >= 1 else {
            throw invalid("binning \(settings.binX)x\(settings.binY) must be at least 1x1")
        }
        let area = settings.subframe
        guard area.x >= 0, area.y >= 0, area.width >= 1, area.height >= 1,
              area.x + area.width <= CInt.max, area.y + area.height <= CInt.max else {
            throw invalid("subframe \(area) must have x, y >= 0 and a positive size")
        }
        guard area.width % settings.binX == 0, area.height % settings.binY == 0 else {
            throw invalid("subframe size \(area.width)x\(area.height) must be a multiple of the binning "
                + "\(settings.binX)x\(settings.binY)")
        }
        if let info {
            guard info.readoutModes.indices.contains(settings.readoutMode) else {
                throw invalid("readoutMode \(settings.readoutMode) must be 0..<\(info.readoutModes.count)")
            }
            guard info.gains.indices.contains(settings.gain) else {
                throw invalid("gain \(settings.gain) must be 0..<\(info.gains.count)")
            }
        }
    }

    /// Reads the camera's description after Initialize.
    private func describe(_ library: AndorSDK2Library) throws(CameraError) -> CameraInfo {
        var width: CInt = 0, height: CInt = 0
        try check(library.getDetector(&width, &height), "GetDetector")
        guard width > 0, height > 0 else {
            throw CameraError(.driver, "GetDetector reports an empty sensor (\(width) x \(height))")
        }
        var pixelWidth: Float = 0, pixelHeight: Float = 0
        try check(library.getPixelSize(&pixelWidth, &pixelHeight), "GetPixelSize")

        // The SDK documents a MAX_PATH buffer (260 bytes); the buffer is generous and terminated.
        var name = [CChar](repeating: 0, count: 1024)
        try check(name.withUnsafeMutableBufferPointer { library.getHeadModel($0.baseAddress) }, "GetHeadModel")
        name[name.count - 1] = 0
        let headModel = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)

        var serialNumber: CInt = 0
        let serialStatus = AndorStatus(library.getCameraSerialNumber(&serialNumber))
        var serial: String?
        if serialStatus == .success {
            serial = String(serialNumber)
        } else if serialStatus.errorCode != .notSupported {
            try check(serialStatus.rawValue, "GetCameraSerialNumber")
        }

        var minimumTemperature: CInt = 0, maximumTemperature: CInt = 0
        try check(library.getTemperatureRange(&minimumTemperature, &maximumTemperature), "GetTemperatureRange")

        var speedCount: CInt = 0
        try check(library.getNumberHSSpeeds(Self.adChannel, Self.amplifier, &speedCount), "GetNumberHSSpeeds",
                  ["channel": Self.adChannel, "typ": Self.amplifier])
        var readoutModes: [String] = []
        for index in 0..<max(speedCount, 0) {
            var megahertz: Float = 0
            try check(library.getHSSpeed(Self.adChannel, Self.amplifier, index, &megahertz), "GetHSSpeed",
                      ["channel": Self.adChannel, "typ": Self.amplifier, "index": index])
            readoutModes.append(Self.speedName(megahertz: megahertz))
        }
        library.hasReadoutSpeeds = !readoutModes.isEmpty

        var gainCount: CInt = 0
        try check(library.getNumberPreAmpGains(&gainCount), "GetNumberPreAmpGains")
        var gains: [String] = []
        for index in 0..<max(gainCount, 0) {
            var factor: Float = 0
            try check(library.getPreAmpGain(index, &factor), "GetPreAmpGain", ["index": index])
            gains.append(String(format: "%gx", Double(factor)))
        }
        library.hasPreAmpGains = !gains.isEmpty

        var maximumExposure = Self.fallbackMaximumExposure
        if let getMaximumExposure = library.getMaximumExposure {
            var seconds: Float = 0
            try check(getMaximumExposure(&seconds), "GetMaximumExposure")
            maximumExposure = Double(seconds)
        }
        var maximumBinX = min(Self.fallbackMaximumBinning, Int(width))
        var maximumBinY = min(Self.fallbackMaximumBinning, Int(height))
        if let getMaximumBinning = library.getMaximumBinning {
            var horizontal: CInt = 0, vertical: CInt = 0
            try check(getMaximumBinning(Self.readModeImage, 0, &horizontal), "GetMaximumBinning",
                      ["ReadMode": Self.readModeImage, "HorzVert": 0])
            try check(getMaximumBinning(Self.readModeImage, 1, &vertical), "GetMaximumBinning",
                      ["ReadMode": Self.readModeImage, "HorzVert": 1])
            maximumBinX = max(1, min(Int(horizontal), Int(width)))
            maximumBinY = max(1, min(Int(vertical), Int(height)))
        }

        return CameraInfo(
            model: headModel.isEmpty ? "Andor (unnamed head)" : headModel, serial: serial,
            width: Int(width), height: Int(height),
            pixelWidth: Double(pixelWidth), pixelHeight: Double(pixelHeight),
            minimumSetpoint: Int(minimumTemperature), maximumSetpoint: Int(maximumTemperature),
            maximumBinX: maximumBinX, maximumBinY: maximumBinY,
            readoutModes: readoutModes.isEmpty ? ["default"] : readoutModes,
            gains: gains.isEmpty ? ["1x"] : gains,
            hasShutter: true, minimumExposure: 0, maximumExposure: maximumExposure,
            electronsPerADU: electronsPerADU, firstRowIsTop: false)
    }

    /// `"1.0 MHz"` for 1 MHz and above, `"50 kHz"` below.
    static func speedName(megahertz: Float) -> String {
        megahertz >= 1 ? String(format: "%.1f MHz", Double(megahertz))
            : String(format: "%.0f kHz", Double(megahertz) * 1000)
    }
}

/// The SDK2 entry points of one `dlopen`ed library. Created by loading; ``close()`` unloads it,
/// after which no function may be called.
final class AndorSDK2Library {
    typealias NoArguments = @convention(c) () -> CUnsignedInt
    typealias OneInt = @convention(c) (CInt) -> CUnsignedInt
    typealias TwoInts = @convention(c) (CInt, CInt) -> CUnsignedInt
    typealias FourInts = @convention(c) (CInt, CInt, CInt, CInt) -> CUnsignedInt
    typealias SixInts = @convention(c) (CInt, CInt, CInt, CInt, CInt, CInt) -> CUnsignedInt
    typealias OneFloat = @convention(c) (CFloat) -> CUnsignedInt
    typealias CharPointer = @convention(c) (UnsafeMutablePointer<CChar>?) -> CUnsignedInt
    typealias IntPointer = @convention(c) (UnsafeMutablePointer<CInt>?) -> CUnsignedInt
    typealias TwoIntPointers = @convention(c) (UnsafeMutablePointer<CInt>?, UnsafeMutablePointer<CInt>?) -> CUnsignedInt
    typealias FloatPointer = @convention(c) (UnsafeMutablePointer<CFloat>?) -> CUnsignedInt
    typealias TwoFloatPointers = @convention(c) (UnsafeMutablePointer<CFloat>?, UnsafeMutablePointer<CFloat>?) -> CUnsignedInt
    typealias ThreeFloatPointers = @convention(c) (UnsafeMutablePointer<CFloat>?, UnsafeMutablePointer<CFloat>?,
                                                   UnsafeMutablePointer<CFloat>?) -> CUnsignedInt
    typealias TwoIntsIntPointer = @convention(c) (CInt, CInt, UnsafeMutablePointer<CInt>?) -> CUnsignedInt
    typealias ThreeIntsFloatPointer = @convention(c) (CInt, CInt, CInt, UnsafeMutablePointer<CFloat>?) -> CUnsignedInt
    typealias IntFloatPointer = @convention(c) (CInt, UnsafeMutablePointer<CFloat>?) -> CUnsignedInt
    /// `at_u32` is `unsigned int` on LP64 Linux (atmcdLXd.h).
    typealias Data16 = @convention(c) (UnsafeMutablePointer<CUnsignedShort>?, CUnsignedInt) -> CUnsignedInt

    /// Every call the driver needs; a library lacking one is refused.
    static let requiredSymbols = [
        "Initialize", "ShutDown", "GetDetector", "GetPixelSize", "GetHeadModel", "GetCameraSerialNumber",
        "GetTemperatureRange", "GetNumberHSSpeeds", "GetHSSpeed", "SetHSSpeed", "GetNumberPreAmpGains",
        "GetPreAmpGain", "SetPreAmpGain", "SetReadMode", "SetAcquisitionMode", "SetExposureTime",
        "GetAcquisitionTimings", "SetShutter", "SetImage", "StartAcquisition", "GetStatus",
        "WaitForAcquisitionTimeOut", "AbortAcquisition", "GetAcquiredData16", "CoolerON", "CoolerOFF",
        "IsCoolerOn", "SetTemperature", "GetTemperatureF", "SetFanMode",
    ]

    let path: String
    private var handle: UnsafeMutableRawPointer?

    let initialize: CharPointer
    let shutDown: NoArguments
    let getDetector: TwoIntPointers
    let getPixelSize: TwoFloatPointers
    let getHeadModel: CharPointer
    let getCameraSerialNumber: IntPointer
    let getTemperatureRange: TwoIntPointers
    let getNumberHSSpeeds: TwoIntsIntPointer
    let getHSSpeed: ThreeIntsFloatPointer
    let setHSSpeed: TwoInts
    let getNumberPreAmpGains: IntPointer
    let getPreAmpGain: IntFloatPointer
    let setPreAmpGain: OneInt
    let setReadMode: OneInt
    let setAcquisitionMode: OneInt
    let setExposureTime: OneFloat
    let getAcquisitionTimings: ThreeFloatPointers
    let setShutter: FourInts
    let setImage: SixInts
    let startAcquisition: NoArguments
    let getStatus: IntPointer
    let waitForAcquisitionTimeOut: OneInt
    let abortAcquisition: NoArguments
    let getAcquiredData16: Data16
    let coolerOn: NoArguments
    let coolerOff: NoArguments
    let isCoolerOn: IntPointer
    let setTemperature: OneInt
    let getTemperatureF: FloatPointer
    let setFanMode: OneInt
    /// Optional calls, used when the library has them.
    let getMaximumExposure: FloatPointer?
    let getMaximumBinning: TwoIntsIntPointer?

    /// Whether SetHSSpeed / SetPreAmpGain apply (the camera listed speeds / gains at connection).
    var hasReadoutSpeeds = true
    var hasPreAmpGains = true

    /// Loads `path` with `dlopen(RTLD_NOW | RTLD_LOCAL)` and resolves every required call.
    /// - Throws: ``CameraError`` `driver_error` naming the path and `dlerror()` when the library
    ///   cannot be loaded, or the path, every missing symbol and the first `dlerror()` when calls
    ///   are missing.
    init(path: String) throws(CameraError) {
        self.path = path
        _ = dlerror()
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            throw CameraError(.driver, "cannot load the Andor SDK library \(path): \(Self.lastError())")
        }
        var missing: [String] = []
        var firstError: String?
        for name in Self.requiredSymbols {
            _ = dlerror()
            if dlsym(handle, name) == nil {
                missing.append(name)
                if firstError == nil { firstError = Self.lastError() }
            }
        }
        guard missing.isEmpty else {
            dlclose(handle)
            throw CameraError(.driver, "the Andor SDK library \(path) lacks \(missing.joined(separator: ", ")) "
                + "(\(firstError ?? "dlsym found nothing"))")
        }
        func function<T>(_ name: String) -> T {
            // Present: checked above.
            unsafeBitCast(dlsym(handle, name)!, to: T.self)
        }
        func optionalFunction<T>(_ name: String) -> T? {
            dlsym(handle, name).map { unsafeBitCast($0, to: T.self) }
        }
        self.handle = handle
        initialize = function("Initialize")
        shutDown = function("ShutDown")
        getDetector = function("GetDetector")
        getPixelSize = function("GetPixelSize")
        getHeadModel = function("GetHeadModel")
        getCameraSerialNumber = function("GetCameraSerialNumber")
        getTemperatureRange = function("GetTemperatureRange")
        getNumberHSSpeeds = function("GetNumberHSSpeeds")
        getHSSpeed = function("GetHSSpeed")
        setHSSpeed = function("SetHSSpeed")
        getNumberPreAmpGains = function("GetNumberPreAmpGains")
        getPreAmpGain = function("GetPreAmpGain")
        setPreAmpGain = function("SetPreAmpGain")
        setReadMode = function("SetReadMode")
        setAcquisitionMode = function("SetAcquisitionMode")
        setExposureTime = function("SetExposureTime")
        getAcquisitionTimings = function("GetAcquisitionTimings")
        setShutter = function("SetShutter")
        setImage = function("SetImage")
        startAcquisition = function("StartAcquisition")
        getStatus = function("GetStatus")
        waitForAcquisitionTimeOut = function("WaitForAcquisitionTimeOut")
        abortAcquisition = function("AbortAcquisition")
        getAcquiredData16 = function("GetAcquiredData16")
        coolerOn = function("CoolerON")
        coolerOff = function("CoolerOFF")
        isCoolerOn = function("IsCoolerOn")
        setTemperature = function("SetTemperature")
        getTemperatureF = function("GetTemperatureF")
        setFanMode = function("SetFanMode")
        getMaximumExposure = optionalFunction("GetMaximumExposure")
        getMaximumBinning = optionalFunction("GetMaximumBinning")
    }

    /// Unloads the library (`dlclose`); idempotent.
    func close() {
        if let handle { dlclose(handle) }
        handle = nil
    }

    deinit { close() }

    private static func lastError() -> String {
        guard let message = dlerror() else { return "no dlerror() message" }
        return String(cString: message)
    }
}
