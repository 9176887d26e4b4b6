import ApertureProtocol
import Bus
import Foundation
import Synchronization

/// A camera with physical behaviour and no hardware: the default driver, and the source of test
/// frames for processing and focus code.
///
/// The sensor has a bias level and read noise, dark current doubling every few degrees, a cooler
/// that approaches its set-point with a time constant, a fixed star field (``starCatalog``) with a
/// Gaussian PSF whose width follows ``focusPosition``, sky background, Poisson noise, cosmic-ray
/// hits, vignetted flat illumination and saturation at 65535. ``Configuration`` holds every
/// parameter and documents the model; ``SimulatedSensor`` (internal) renders the frames.
///
/// The real sky: an object frame with a pointing (``AcquisitionSettings/pointing``, or
/// ``Configuration/pointing``) shows the stars of a Tycho-2 index (``SkyCatalog``,
/// ``Configuration/catalogPath``) around it instead of the synthetic field, projected with the
/// focal length, pixel size and rotation (``skyStars(at:)``), through the same PSF, focus and
/// noise model.
///
/// Determinism: the star field depends only on the seed; a frame depends only on the seed, its
/// frame number (``nextFrameNumber``, counting every started acquisition), its settings, the
/// focus position and the sensor temperature at its start. The temperature follows the scaled
/// wall clock, so it is reproducible with the cooler off (the sensor stays at ambient).
///
/// Timing: an acquisition lasts `(exposureTime + readout) * timeScale` real seconds (a bias too,
/// although its physics ignores the exposure time), the readout being
/// `imageWidth * imageHeight / pixelRate` of the readout mode; the frame is computed when it is
/// read (``readImage(into:)``), in one pass over the pixels read.
///
/// What holds between frames of the same seed and frame number: a subframe (on the binning grid)
/// is bit-for-bit the matching region of the full frame, noise and cosmic rays included; a binned
/// frame holds exactly the summed charge of the unbinned one, with its own read noise and one
/// bias per binned pixel.
///
/// Thread safety: the state sits behind a mutex, so the class is `Sendable`; the camera process
/// still drives it from its one SDK thread, as ``CameraDriver`` requires, and other code (a
/// simulated focuser, a test) may move ``focusPosition`` from anywhere.
public final class SimulatedCamera: CameraDriver, Sendable {
    /// The parameters this camera was made with.
    public let configuration: Configuration

    private let epoch: ContinuousClock.Instant
    private let state: Mutex<State>

    private struct State {
        var connected = false
        var cooling: SimulatedCooling
        var focusPosition: Double
        var stars: [SimulatedStar]
        /// The last pointing rendered and its projected stars (a series at one pointing queries
        /// the catalogue once).
        var sky: (pointing: SkyPointing, stars: [SimulatedStar])?
        var nextFrameNumber: UInt64 = 0
        /// The last acquisition started and not aborted; running until `end`, then readable.
        var acquisition: Acquisition?
    }

    private struct Acquisition {
        var exposure: SimulatedExposure
        var end: ContinuousClock.Instant
    }

    /// A disconnected camera, the sensor at ambient with the cooler off, in focus, with the star
    /// field of `configuration.seed`.
    /// - Parameter configuration: the physical parameters; checked by ``connect()``.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        epoch = ContinuousClock.now
        state = Mutex(State(cooling: SimulatedCooling(configuration: configuration),
                            focusPosition: configuration.bestFocus,
                            stars: StarField.catalog(for: configuration)))
    }

    // MARK: Simulation controls

    /// The focuser position used by the next exposure (read when it starts); starts at
    /// ``Configuration/bestFocus``. Any thread may set it.
    public var focusPosition: Double {
        get { state.withLock { $0.focusPosition } }
        set { state.withLock { $0.focusPosition = newValue } }
    }

    /// The stars on the sensor, brightest first, as drawn from the seed; replace it to place
    /// stars where a test wants them (read when an exposure starts).
    public var starCatalog: [SimulatedStar] {
        get { state.withLock { $0.stars } }
        set { state.withLock { $0.stars = newValue } }
    }

    /// The frame number the next acquisition will have; with the seed it selects the noise and
    /// cosmic rays, so two cameras with the same seed and frame number give the same frame.
    /// Starts at 0 and counts every started acquisition.
    public var nextFrameNumber: UInt64 {
        get { state.withLock { $0.nextFrameNumber } }
        set { state.withLock { $0.nextFrameNumber = newValue } }
    }

    /// The true Gaussian PSF sigma, in pixels, at a focuser position:
    /// `psfSigma * sqrt(1 + ((focus - bestFocus) / defocusScale)^2)`.
    ///
    /// Frames integrate the PSF over each pixel, so a star's second moments measured on a frame
    /// give `sqrt(sigma^2 + 1/12)` rather than `sigma`.
    /// - Parameter focus: the focuser position.
    public func psfSigma(atFocus focus: Double) -> Double {
        configuration.psfSigma(atFocus: focus)
    }

    /// The true PSF's full width at half maximum, in pixels: `2 * sqrt(2 ln 2) * sigma`
    /// (2.3548 sigma).
    /// - Parameter focus: the focuser position.
    public func psfFWHM(atFocus focus: Double) -> Double {
        2 * (2 * log(2.0)).squareRoot() * psfSigma(atFocus: focus)
    }

    /// The readout time of an acquisition in simulated seconds: the pixels read
    /// (`imageWidth * imageHeight`) over the readout mode's pixel rate.
    /// - Parameter settings: the acquisition.
    public func readoutTime(for settings: AcquisitionSettings) -> Double {
        guard configuration.readoutModes.indices.contains(settings.readoutMode) else { return 0 }
        let pixels = Double(max(0, settings.imageWidth) * max(0, settings.imageHeight))
        return pixels / configuration.readoutModes[settings.readoutMode].pixelRate
    }

    /// The catalogue stars on the sensor at a pointing (``StarField/project(_:pointing:configuration:)``),
    /// brightest first: what an object frame at that pointing shows. The catalogue
    /// (``Configuration/catalogPath``) is read at the first call and kept.
    /// - Parameter pointing: where the telescope points.
    /// - Throws: ``CameraError`` `driver_error` naming the catalogue when it cannot be read.
    public func skyStars(at pointing: SkyPointing) throws(CameraError) -> [SimulatedStar] {
        if let sky = state.withLock({ $0.sky }), sky.pointing == pointing { return sky.stars }
        let catalog: SkyCatalog
        do throws(SkyCatalog.ReadError) {
            catalog = try SkyCatalog.shared(path: configuration.catalogPath)
        } catch {
            throw CameraError(.driver, "the simulator's star catalogue (camera.simulator.catalog) \(error.description); "
                + "install astrometry-data-tycho2-08-littleendian or point the key at an index file")
        }
        let stars = StarField.project(
            catalog.stars(aroundRA: pointing.ra, dec: pointing.dec, radius: StarField.fieldRadius(configuration: configuration)),
            pointing: pointing, configuration: configuration)
        state.withLock { $0.sky = (pointing, stars) }
        return stars
    }

    // MARK: CameraDriver capabilities

    /// The configured pointing (``Configuration/pointing``), used when an exposure names none.
    public var defaultPointing: SkyPointing? { configuration.pointing }

    /// The simulated telescope's ``Configuration/focalLength``, in millimetres.
    public var focalLength: Double? { configuration.focalLength }

    /// ``Configuration/electronsPerADU`` divided by each gain's multiplier, as the sensor converts.
    public var electronsPerADUByGain: [Double]? { configuration.gains.map { configuration.electronsPerADU / $0.multiplier } }

    /// The simulator's ``Configuration/timeScale``: real seconds per simulated second.
    public var exposureTimeScale: Double { configuration.timeScale }

    /// Moves ``focusPosition``, which the next exposure's star images follow.
    /// - Parameter position: the focuser position the observer reports.
    public func focuserMoved(to position: Double) {
        focusPosition = position
    }

    // MARK: CameraDriver

    /// Checks the configuration and connects; connecting again is harmless.
    /// - Returns: the simulated camera's capabilities.
    /// - Throws: ``CameraError`` `invalid_argument` naming a bad configuration field.
    public func connect() throws(CameraError) -> CameraInfo {
        try configuration.validate()
        state.withLock { $0.connected = true }
        let modes = configuration.readoutModes
        let gains = configuration.gains
        return CameraInfo(
            model: configuration.model,
            serial: "SIM-\(configuration.seed)",
            width: configuration.width,
            height: configuration.height,
            pixelWidth: configuration.pixelSize,
            pixelHeight: configuration.pixelSize,
            minimumSetpoint: configuration.setpointRange.lowerBound,
            maximumSetpoint: configuration.setpointRange.upperBound,
            maximumBinX: configuration.maximumBinning,
            maximumBinY: configuration.maximumBinning,
            readoutModes: modes.map(\.name),
            gains: gains.map(\.name),
            hasShutter: configuration.hasShutter,
            minimumExposure: configuration.minimumExposure,
            maximumExposure: configuration.maximumExposure,
            maximumADU: 65535,
            electronsPerADU: configuration.electronsPerADU / gains[0].multiplier,
            firstRowIsTop: true)
    }

    /// Discards any acquisition, switches the cooler off (the sensor drifts back to ambient) and
    /// disconnects. Harmless when not connected.
    public func disconnect() throws(CameraError) {
        let now = simulatedTime(at: .now)
        state.withLock { state in
            state.acquisition = nil
            state.cooling.setCooler(on: false, at: now)
            state.connected = false
        }
    }

    /// Starts an exposure: records its start, the sensor temperature, the focus position and the
    /// star field, and takes the next frame number.
    /// - Throws: ``CameraError`` `not_connected`; `busy` while an acquisition runs;
    ///   `invalid_argument` naming a setting outside what ``connect()`` reported; `not_supported`
    ///   for a closed shutter on a camera without one.
    public func startAcquisition(_ settings: AcquisitionSettings) throws(CameraError) {
        let readout = readoutTime(for: settings)
        let timeScale = configuration.timeScale
        // A pointed object frame shows the catalogue's stars (queried before the lock is taken).
        var skyStars: [SimulatedStar]?
        if settings.imageType == .object, let pointing = settings.pointing ?? configuration.pointing {
            guard state.withLock({ $0.connected }) else {
                throw CameraError(.notConnected, "the simulated camera is not connected")
            }
            skyStars = try self.skyStars(at: pointing)
        }
        let start = ContinuousClock.now
        let now = simulatedTime(at: start)
        try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            try check(settings)
            if let running = state.acquisition, start < running.end {
                throw CameraError(.busy, "an acquisition is already running")
            }
            let exposure = SimulatedExposure(settings: settings, frameNumber: state.nextFrameNumber,
                                             sensorTemperature: state.cooling.temperature(at: now),
                                             focusPosition: state.focusPosition, stars: skyStars ?? state.stars)
            state.nextFrameNumber &+= 1
            let realDuration = (settings.exposureTime + readout) * timeScale
            state.acquisition = Acquisition(exposure: exposure, end: start + .seconds(realDuration))
        }
    }

    /// `acquiring` from the start until the exposure and readout have lasted their scaled time.
    /// - Throws: ``CameraError`` `not_connected`.
    public func acquisitionStatus() throws(CameraError) -> AcquisitionStatus {
        let now = ContinuousClock.now
        return try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            if let running = state.acquisition, now < running.end { return .acquiring }
            return .idle
        }
    }

    /// Sleeps until the acquisition ends or `timeout` real seconds pass, whichever comes first.
    /// - Parameter timeout: the longest wait, in real seconds.
    /// - Returns: true when an acquisition has ended and its frame can be read; false on timeout,
    ///   and at once when there is no acquisition (none started, or aborted).
    /// - Throws: ``CameraError`` `not_connected`.
    public func waitForAcquisition(timeout: Double) throws(CameraError) -> Bool {
        let end: ContinuousClock.Instant? = try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            return state.acquisition?.end
        }
        guard let end else { return false }
        let remaining = end - ContinuousClock.now
        if remaining <= .zero { return true }
        let slice = min(remaining, .seconds(max(0, timeout.isFinite ? timeout : 0)))
        if slice > .zero {
            Thread.sleep(forTimeInterval: Self.seconds(slice))
        }
        return ContinuousClock.now >= end
    }

    /// Stops the running acquisition at once and discards its frame; a no-op when idle.
    /// - Throws: ``CameraError`` `not_connected`.
    public func abortAcquisition() throws(CameraError) {
        try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            state.acquisition = nil
        }
    }

    /// Computes the finished acquisition's frame into `buffer` (row-major, top row first,
    /// `imageWidth` x `imageHeight`). The frame stays readable, identical, until the next start or
    /// an abort.
    /// - Throws: ``CameraError`` `not_connected`; `driver_error` when no acquisition has finished
    ///   (none started, still running, or aborted); `invalid_argument` when `buffer` is too small.
    public func readImage(into buffer: UnsafeMutableBufferPointer<UInt16>) throws(CameraError) {
        let now = ContinuousClock.now
        let exposure: SimulatedExposure = try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            guard let acquisition = state.acquisition else {
                throw CameraError(.driver, "no acquired frame to read (none started, or aborted)")
            }
            guard now >= acquisition.end else {
                throw CameraError(.driver, "the acquisition has not finished")
            }
            return acquisition.exposure
        }
        let needed = exposure.settings.imageWidth * exposure.settings.imageHeight
        guard buffer.count >= needed else {
            throw CameraError(.invalidArgument, "buffer holds \(buffer.count) pixels, the frame has \(needed)")
        }
        SimulatedSensor.render(exposure, configuration: configuration, into: buffer)
    }

    /// Switches the cooler; the sensor then heads for the set-point (on) or ambient (off).
    /// - Throws: ``CameraError`` `not_connected`.
    public func setCooler(on: Bool) throws(CameraError) {
        let now = simulatedTime(at: .now)
        try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            state.cooling.setCooler(on: on, at: now)
        }
    }

    /// Moves the set-point. Any value is accepted (the caller checks the range); the sensor stops
    /// at `ambientTemperature - maximumCoolingDelta` if the set-point is colder.
    /// - Throws: ``CameraError`` `not_connected`.
    public func setTemperatureSetpoint(_ celsius: Int) throws(CameraError) {
        let now = simulatedTime(at: .now)
        try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            state.cooling.setSetpoint(celsius, at: now)
        }
    }

    /// The sensor temperature now (scaled time), the set-point, and the cooler's state and power.
    /// - Throws: ``CameraError`` `not_connected`.
    public func temperature() throws(CameraError) -> TemperatureStatus {
        let now = simulatedTime(at: .now)
        return try withState { state throws(CameraError) in
            try Self.requireConnected(state)
            return state.cooling.status(at: now)
        }
    }

    // MARK: Internals

    private func withState<Result: Sendable>(
        _ body: (inout State) throws(CameraError) -> Result
    ) throws(CameraError) -> Result {
        try state.withLock { (state: inout State) throws(CameraError) -> Result in try body(&state) }
    }

    private static func requireConnected(_ state: State) throws(CameraError) {
        guard state.connected else { throw CameraError(.notConnected, "the simulated camera is not connected") }
    }

    /// Simulated seconds since the camera was made.
    private func simulatedTime(at instant: ContinuousClock.Instant) -> Double {
        Self.seconds(instant - epoch) / configuration.timeScale
    }

    private static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
    }

    /// Refuses settings outside what ``connect()`` reported, naming the field.
    private func check(_ settings: AcquisitionSettings) throws(CameraError) {
        func invalid(_ message: String) -> CameraError { CameraError(.invalidArgument, message) }
        let time = settings.exposureTime
        guard time.isFinite, time >= configuration.minimumExposure, time <= configuration.maximumExposure else {
            throw invalid("exposure_time \(time) is outside \(configuration.minimumExposure)...\(configuration.maximumExposure) s")
        }
        let frame = settings.subframe
        guard frame.x >= 0, frame.y >= 0, frame.width >= 1, frame.height >= 1,
              frame.x + frame.width <= configuration.width, frame.y + frame.height <= configuration.height else {
            throw invalid("subframe \(frame.x),\(frame.y) \(frame.width)x\(frame.height) is outside the "
                + "\(configuration.width)x\(configuration.height) sensor")
        }
        let binning = 1...configuration.maximumBinning
        guard binning.contains(settings.binX), binning.contains(settings.binY) else {
            throw invalid("binning \(settings.binX)x\(settings.binY) is outside 1...\(configuration.maximumBinning)")
        }
        guard frame.width % settings.binX == 0, frame.height % settings.binY == 0 else {
            throw invalid("subframe \(frame.width)x\(frame.height) is not a multiple of the binning "
                + "\(settings.binX)x\(settings.binY)")
        }
        guard configuration.readoutModes.indices.contains(settings.readoutMode) else {
            throw invalid("readout_mode \(settings.readoutMode) is not one of 0..<\(configuration.readoutModes.count)")
        }
        guard configuration.gains.indices.contains(settings.gain) else {
            throw invalid("gain \(settings.gain) is not one of 0..<\(configuration.gains.count)")
        }
        if settings.shutter == .closed && !configuration.hasShutter {
            throw CameraError(.notSupported, "the simulated camera has no shutter to close")
        }
    }
}
