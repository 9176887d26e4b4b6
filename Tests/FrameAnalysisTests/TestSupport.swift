import ApertureProtocol
import CameraCore
import FrameAnalysis
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import ProcessTestSupport
#endif

/// A fresh folder under /tmp for one test, removed afterwards (also after a failure).
func withTemporaryFolder<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/aperture-analysis-test-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let path = try #require(created.map { String(cString: $0) }, "mkdtemp failed: errno \(errno)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// Runs `python3 -c script arguments...` and returns its standard output
/// (``runToExit(_:_:environment:mergingErrors:)``: files, not pipes).
func runPython(_ script: String, _ arguments: [String]) throws -> String {
    let result = try runToExit("/usr/bin/env", ["python3", "-c", script] + arguments)
    try #require(result.status == 0, "python3 failed: \(result.stderr)")
    return result.stdout
}

/// Writes pixels as little-endian 16-bit values (numpy's `<u2`).
func writeRaw(_ pixels: [UInt16], to path: String) throws {
    let data = pixels.withUnsafeBytes { Data($0) }
    try data.write(to: URL(fileURLWithPath: path))
}

/// Analyses a frame held in an array.
func analyze(_ pixels: [UInt16], width: Int, height: Int, _ configuration: AnalysisConfiguration = AnalysisConfiguration(),
             analyzer: FrameAnalyzer = FrameAnalyzer()) throws -> FrameAnalysis {
    try pixels.withUnsafeBufferPointer { buffer in
        try analyzer.analyze(pixels: buffer, width: width, height: height, configuration: configuration)
    }
}

/// A small deterministic generator (SplitMix64) for test frames.
struct TestRandom {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// Simulated frames: a connected camera with instant exposures.
struct SimulatorFrames {
    let camera: SimulatedCamera
    let width: Int
    let height: Int

    /// - Parameters:
    ///   - size: the sensor's width and height.
    ///   - change: adjustments to the default configuration.
    init(size: Int, _ change: (inout SimulatedCamera.Configuration) -> Void = { _ in }) throws {
        var configuration = SimulatedCamera.Configuration()
        configuration.width = size
        configuration.height = size
        configuration.timeScale = 0.0001
        change(&configuration)
        camera = SimulatedCamera(configuration: configuration)
        _ = try camera.connect()
        width = size
        height = size
    }

    /// Takes one full frame the way the camera process does.
    func take(_ type: ImageType = .object, exposure: Double = 1, focus: Double? = nil) throws -> [UInt16] {
        if let focus { camera.focusPosition = focus }
        let settings = AcquisitionSettings(exposureTime: exposure, shutter: type.shutter,
                                           subframe: Subframe(x: 0, y: 0, width: width, height: height), imageType: type)
        try camera.startAcquisition(settings)
        let deadline = Date().addingTimeInterval(30)
        while try !camera.waitForAcquisition(timeout: 0.01) {
            try #require(Date() < deadline, "the acquisition never ended")
        }
        var pixels = [UInt16](repeating: 0, count: width * height)
        try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        return pixels
    }

    /// The FWHM a second-moment measurement gives for the simulator's PSF at `focus`: the true
    /// sigma widened by the pixel, `2.3548 sqrt(sigma^2 + 1/12)`.
    func measuredFWHMTruth(atFocus focus: Double) -> Double {
        let sigma = camera.psfSigma(atFocus: focus)
        return 2 * (2 * log(2.0)).squareRoot() * (sigma * sigma + 1.0 / 12).squareRoot()
    }
}

/// A grid of `perSide` x `perSide` stars `spacing` pixels apart from `margin`, with sub-pixel
/// offsets that differ from star to star and fluxes from `lowFlux` to `highFlux` (e-/s).
func starGrid(perSide: Int, margin: Double, spacing: Double, lowFlux: Double, highFlux: Double) -> [SimulatedStar] {
    var stars: [SimulatedStar] = []
    for row in 0..<perSide {
        for column in 0..<perSide {
            let index = row * perSide + column
            let fraction = Double(index) / Double(max(1, perSide * perSide - 1))
            stars.append(SimulatedStar(x: margin + Double(column) * spacing + Double(index % 5) * 0.19,
                                       y: margin + Double(row) * spacing + Double(index % 7) * 0.13,
                                       flux: lowFlux + (highFlux - lowFlux) * fraction))
        }
    }
    return stars
}
