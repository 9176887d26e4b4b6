import ApertureConfig
import ApertureProtocol
import Bus
import CameraCore
import CameraService
import FrameAnalysis
import ProcessorService
import Foundation

/// What a decoded value goes through before it is used, as the camera and the processor do it,
/// so that a fuzz target that decodes a request also runs every check (and the first use) that
/// follows: the exposure plan against the simulator's capabilities, the FITS keyword rule, the
/// simulated camera's PSF at a `focus:` from the comment, the cooler's range, the filter names,
/// the processor configuration's validation and one analysis with it.
///
/// Each function throws where the real process would answer an error; a crash is a finding.
package enum ValidationChain {
    /// The default configuration (`camera.maximum_exposure`, `camera.filters`...).
    static let configuration = ApertureConfiguration()

    /// The default simulator's capabilities: what `expose` is planned against.
    package static let info: CameraInfo = {
        var simulator = SimulatedCamera.Configuration()
        simulator.maximumExposure = max(simulator.maximumExposure, configuration.camera.maximumExposure)
        return try! SimulatedCamera(configuration: simulator).connect()
    }()

    /// A small, fast simulator that renders one frame per `focus:` or set-point to check.
    static let smallCamera: SimulatedCamera = {
        var simulator = SimulatedCamera.Configuration()
        simulator.width = 32
        simulator.height = 32
        simulator.timeScale = 1e-9
        let camera = SimulatedCamera(configuration: simulator)
        _ = try! camera.connect()
        return camera
    }()

    /// The frame the processor checks run on.
    static let frameSide = 64
    /// A star on a noisy background, `frameSide` pixels square.
    static let frame: [UInt16] = {
        var pixels = [UInt16](repeating: 0, count: frameSide * frameSide)
        for index in pixels.indices {
            let dx = Double(index % frameSide - 20), dy = Double(index / frameSide - 40)
            let star = 20_000 * exp(-(dx * dx + dy * dy) / 8)
            pixels[index] = UInt16(500 + Int(star) + (index * 7919) % 50)
        }
        return pixels
    }()
    nonisolated(unsafe) static let analyzer = FrameAnalyzer()

    /// `expose` (camera.ctl, `POST /v1/exposures`, evora `/capture`): the camera's own checks
    /// (``ExposureAdmission``), then the simulated PSF at the comment's focus position.
    /// - Throws: `CameraError` or `BusError` `invalid_argument`, as the camera answers.
    package static func expose(_ request: ExposureRequest) throws -> ExposurePlan {
        let plan = try ExposureAdmission.plan(request, info: info, configuration: configuration)
        if let focus = plan.request.focusFromComment {
            try renderFrame(focus: focus)
        }
        return plan
    }

    /// Takes one frame on the small simulator at `focus` (what the camera's frame loop does
    /// with `focus:` from the comment).
    static func renderFrame(focus: Double) throws {
        let camera = smallCamera
        camera.focusPosition = focus
        let settings = AcquisitionSettings(exposureTime: 0.01, shutter: .auto,
                                           subframe: Subframe(x: 0, y: 0, width: 32, height: 32), imageType: .object)
        try camera.startAcquisition(settings)
        while try !camera.waitForAcquisition(timeout: 1) {}
        var pixels = [UInt16](repeating: 0, count: 32 * 32)
        try pixels.withUnsafeMutableBufferPointer { buffer in try camera.readImage(into: buffer) }
    }

    /// `cool` (camera.ctl, `POST /v1/camera/cooling`, evora `/setTemperature`): the cooler's range, then
    /// the driver's set-point.
    package static func cool(setpoint: Int?, cooler: Bool?) throws {
        if let setpoint, !(info.minimumSetpoint...info.maximumSetpoint).contains(setpoint) {
            throw BusError(.invalidArgument, "setpoint: outside \(info.minimumSetpoint)...\(info.maximumSetpoint) C")
        }
        if setpoint == nil && cooler == nil { throw BusError(.invalidArgument, "setpoint or cooler") }
        try smallCamera.setCooler(on: cooler ?? true)
        if let setpoint { try smallCamera.setTemperatureSetpoint(setpoint) }
    }

    /// `filter` (camera.ctl, `POST /v1/filterwheel`, evora `/setFilterWheel`): the slot it names.
    /// - Returns: the slot, nil for a read or a home.
    package static func filter(name: String?, slot: Int?) throws -> Int? {
        let names = configuration.filterWheel.filters
        if let name {
            guard let index = names.firstIndex(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) else {
                throw BusError(.invalidArgument, "name: unknown filter")
            }
            return index
        }
        if let slot, !names.indices.contains(slot) { throw BusError(.invalidArgument, "slot: out of range") }
        return slot
    }

    /// `configure` (processor.ctl, `PUT /v1/processor/configuration`): the validation and the
    /// ROIs' fit to the sensor (here the frame's size), then one frame analysed with it.
    package static func configure(_ configuration: AnalysisConfiguration) throws {
        try configuration.validate(width: frameSide, height: frameSide)
        try analyze(configuration)
    }

    /// `set_roi` (processor.ctl, psen `POST /roi_*`): the ROI's form and its fit to the sensor
    /// (here the frame's size), then one frame analysed with it.
    package static func setROI(_ which: ROIKind, _ values: [Int]?) throws {
        let field = "roi_\(which.rawValue)"
        let roi = try ROI.parse(values, field: field)
        if let roi, let reason = roi.validate(width: frameSide, height: frameSide, field: field) {
            throw BusError(.invalidArgument, reason)
        }
        var configuration = AnalysisConfiguration.everything
        if which == .background { configuration.backgroundROI = roi } else { configuration.signalROI = roi }
        try analyze(configuration)
    }

    static func analyze(_ configuration: AnalysisConfiguration) throws {
        _ = try frame.withUnsafeBufferPointer { pixels in
            try analyzer.analyze(pixels: pixels, width: frameSide, height: frameSide, configuration: configuration)
        }
    }
}
