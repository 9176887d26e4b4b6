import ApertureProtocol
import CameraCore
import FrameAnalysis
import Foundation
import Testing

/// Star detection, FWHM and HFD on the simulator's star fields, whose PSF is known, and the
/// focus fit over a series.
@Suite struct FocusTests {
    /// A 256x256 sensor with a 5x5 grid of unsaturated stars 48 pixels apart (room for the
    /// measuring window of stars defocused to FWHM 11 px), sky 10 e-/s, read noise 8 e-.
    func gridCamera() throws -> SimulatorFrames {
        let frames = try SimulatorFrames(size: 256)
        frames.camera.starCatalog = starGrid(perSide: 5, margin: 32, spacing: 48, lowFlux: 30_000, highFlux: 150_000)
        return frames
    }

    func focusMetrics(_ pixels: [UInt16], size: Int) throws -> FocusMetrics {
        var configuration = AnalysisConfiguration()
        configuration.focus = true
        return try #require(try analyze(pixels, width: size, height: size, configuration).focus)
    }

    @Test func fwhmAndHFDMatchTheSimulatorAtBestFocus() throws {
        let frames = try gridCamera()
        let truth = frames.measuredFWHMTruth(atFocus: 5000)  // 2.3548 * sqrt(1.5^2 + 1/12) = 3.597
        let metrics = try focusMetrics(try frames.take(focus: 5000), size: 256)
        #expect(metrics.starCount == 25)
        let fwhm = try #require(metrics.medianFWHM)
        let hfd = try #require(metrics.medianHFD)
        #expect(abs(fwhm / truth - 1) < 0.02, "median FWHM \(fwhm), truth \(truth)")
        // For a Gaussian the half-flux diameter equals the FWHM.
        #expect(abs(hfd / truth - 1) < 0.03, "median HFD \(hfd), truth \(truth)")
        #expect(metrics.rejectedSaturated == 0 && metrics.rejectedEdge == 0)
    }

    @Test func starsAreFoundWhereTheSimulatorPutThem() throws {
        let frames = try gridCamera()
        let pixels = try frames.take(focus: 5000)
        let detector = StarDetector()
        let detection = try pixels.withUnsafeBufferPointer { try detector.detect(pixels: $0, width: 256, height: 256) }
        #expect(detection.stars.count == 25)
        for star in frames.camera.starCatalog {
            let nearest = detection.stars.map { hypot($0.x - star.x, $0.y - star.y) }.min() ?? .infinity
            #expect(nearest < 0.05, "star at (\(star.x), \(star.y)): nearest detection \(nearest) px away")
        }
        // Brightest first; flux within a few percent of the simulator's (flux * 1 s, 1 e-/ADU).
        let brightest = try #require(detection.stars.first)
        #expect(abs(brightest.flux / 150_000 - 1) < 0.03, "flux \(brightest.flux)")
        // Bias 500 + (sky 10 + dark current at the 20 C ambient) e-/s over 1 s, at 1 e-/ADU.
        let configuration = frames.camera.configuration
        let level = configuration.biasLevel + configuration.skyBackground
            + configuration.darkCurrent(atTemperature: configuration.ambientTemperature)
        #expect(abs(brightest.background - level) < 3, "background \(brightest.background), expected \(level)")
        #expect(detection.stars.allSatisfy { $0.ellipticity < 0.1 })
    }

    @Test(arguments: [5150.0, 5300, 5600, 4400])
    func widthGrowsAsTheSimulatorSaysWhenDefocused(focus: Double) throws {
        let frames = try gridCamera()
        let truth = frames.measuredFWHMTruth(atFocus: focus)
        let metrics = try focusMetrics(try frames.take(focus: focus), size: 256)
        let fwhm = try #require(metrics.medianFWHM)
        let hfd = try #require(metrics.medianHFD)
        #expect(metrics.starCount == 25)
        #expect(abs(fwhm / truth - 1) < 0.03, "at \(focus): median FWHM \(fwhm), truth \(truth)")
        #expect(abs(hfd / truth - 1) < 0.04, "at \(focus): median HFD \(hfd), truth \(truth)")
        #expect(fwhm > frames.measuredFWHMTruth(atFocus: 5000) * 1.1)
    }

    /// The simulator's own random field: faint and saturated stars, cosmic rays, 10 s.
    @Test func realisticFieldAtBestFocus() throws {
        let frames = try SimulatorFrames(size: 512) { $0.starCount = 60 }
        let truth = frames.measuredFWHMTruth(atFocus: 5000)
        let metrics = try focusMetrics(try frames.take(exposure: 10, focus: 5000), size: 512)
        let fwhm = try #require(metrics.medianFWHM)
        #expect(metrics.starCount >= 30, "\(metrics)")
        #expect(abs(fwhm / truth - 1) < 0.03, "median FWHM \(fwhm), truth \(truth): \(metrics)")
        #expect(abs(try #require(metrics.medianHFD) / truth - 1) < 0.05, "\(metrics)")
    }

    /// Seven frames 200 steps apart around the best focus (5000), as a focus run takes them.
    ///
    /// Tolerance: 20 steps is a tenth of the simulator's defocus scale (200 steps widen the PSF
    /// by sqrt 2); 20 steps from focus the stars are only 0.5% wider, less than the scatter of a
    /// frame's median FWHM, so no series of width measurements can place focus much closer.
    /// Measured here: within a few steps.
    @Test(arguments: [
        (Array(stride(from: 4400.0, through: 5600, by: 200)), FocusFit.Model.quadraticInSquares),
        (Array(stride(from: 4400.0, through: 5600, by: 200)), FocusFit.Model.quadratic),
        (Array(stride(from: 4700.0, through: 5900, by: 200)), FocusFit.Model.quadraticInSquares),
    ])
    func focusSeriesRecoversTheBestFocus(positions: [Double], model: FocusFit.Model) throws {
        let frames = try gridCamera()
        var samples: [FocusSample] = []
        for position in positions {
            let metrics = try focusMetrics(try frames.take(focus: position), size: 256)
            samples.append(FocusSample(position: position, metric: try #require(metrics.medianFWHM)))
        }
        let fit = try FocusFit.fit(samples, model: model)
        #expect(abs(fit.bestFocus - 5000) <= 20, "best focus \(fit.bestFocus) from \(samples)")
        #expect(!fit.extrapolated)
        #expect(fit.pointCount == 7)
        #expect(abs(fit.bestMetric / frames.measuredFWHMTruth(atFocus: 5000) - 1) < (model == .quadratic ? 0.3 : 0.05))
        if model == .quadraticInSquares {
            #expect(fit.rSquared > 0.99)
            let uncertainty = try #require(fit.bestFocusUncertainty)
            #expect(uncertainty < 20)
        }
    }

    @Test func fitOfSquaresIsExactForAHyperbolaAndTheQuadraticIsNotWhenLopsided() throws {
        // width = 3.6 sqrt(1 + ((p - 5000) / 200)^2), sampled on one side mostly.
        let samples = stride(from: 4800.0, through: 6000, by: 200).map {
            FocusSample(position: $0, metric: 3.6 * (1 + pow(($0 - 5000) / 200, 2)).squareRoot())
        }
        let squares = try FocusFit.fit(samples)
        #expect(abs(squares.bestFocus - 5000) < 1e-6)
        #expect(abs(squares.bestMetric - 3.6) < 1e-9)
        #expect(abs(squares.rmsResidual) < 1e-9)
        #expect(abs(squares.predictedMetric(at: 5400) - 3.6 * 5.0.squareRoot()) < 1e-9)
        let plain = try FocusFit.fit(samples, model: .quadratic)
        #expect(abs(plain.bestFocus - 5000) > 50, "the plain quadratic's vertex moves: \(plain.bestFocus)")
    }

    @Test func fitErrors() throws {
        func code(_ samples: [FocusSample], _ model: FocusFit.Model = .quadraticInSquares) -> AnalysisError.Code? {
            do {
                _ = try FocusFit.fit(samples, model: model)
                return nil
            } catch {
                #expect(!error.message.isEmpty)
                return error.code
            }
        }
        let points = [(4800.0, 5.0), (5000, 3.6), (5200, 5.0)].map { FocusSample(position: $0.0, metric: $0.1) }
        #expect(code(points) == nil)
        #expect(code([]) == .insufficientData)
        #expect(code(Array(points.prefix(2))) == .insufficientData)
        #expect(code(points + [FocusSample(position: 5000, metric: 3.7)]) == nil)
        #expect(code([points[0], points[1], FocusSample(position: 5000, metric: 3.5)]) == .insufficientData)
        // A maximum, not a minimum: the series is on the wrong side, or the metric is inverted.
        let concave = points.map { FocusSample(position: $0.position, metric: 10 - $0.metric) }
        #expect(code(concave) == .notAMinimum)
        // Flat: no curvature.
        #expect(code(points.map { FocusSample(position: $0.position, metric: 4) }) == .notAMinimum)
        #expect(code(points + [FocusSample(position: 5100, metric: .nan)]) == .invalidArgument)
        #expect(code(points + [FocusSample(position: 5100, metric: -1)]) == .invalidArgument)
        // Exactly 3 points: a fit, but no scatter to estimate the uncertainty from.
        #expect(try FocusFit.fit(points).bestFocusUncertainty == nil)
        // A minimum outside the positions sampled is flagged.
        let oneSided = [(5200.0, 5.0), (5400, 6.5), (5600, 8.3)].map { FocusSample(position: $0.0, metric: $0.1) }
        #expect(try FocusFit.fit(oneSided).extrapolated)
    }

    // MARK: Degenerate frames

    @Test func allZeroFrame() throws {
        let result = try analyze([UInt16](repeating: 0, count: 64 * 64), width: 64, height: 64, .everything)
        #expect(result.minMax == FrameAnalysis.Extrema(minimum: 0, minimumX: 0, minimumY: 0, maximum: 0, maximumX: 0, maximumY: 0))
        #expect(result.mean == 0 && result.sigma == 0 && result.total == 0 && result.net == 0)
        #expect(result.centroid == FrameAnalysis.Centroid(threshold: 0, total: 0, x: nil, y: nil, sigmaX: nil, sigmaY: nil))
        #expect(result.histogram?.counts.first == 4096 && result.histogram?.entropy == 0)
        #expect(result.saturatedPixels == 0)
        let focus = try #require(result.focus)
        #expect(focus.starCount == 0 && focus.medianFWHM == nil && focus.medianHFD == nil)
        #expect(focus.backgroundSigma == 1)  // the quantisation floor
        _ = try JSONEncoder().encode(result)  // every number finite
    }

    @Test func singleSaturatedPixel() throws {
        var pixels = [UInt16](repeating: 0, count: 64 * 64)
        pixels[20 * 64 + 10] = 65535
        let result = try analyze(pixels, width: 64, height: 64, .everything)
        #expect(result.minMax?.maximum == 65535 && result.minMax?.maximumX == 10 && result.minMax?.maximumY == 20)
        #expect(result.saturatedPixels == 1)
        #expect(result.centroid?.x == 10 && result.centroid?.y == 20 && result.centroid?.sigmaX == 0)
        let focus = try #require(result.focus)
        #expect(focus.starCount == 0)
        #expect(focus.rejectedSaturated == 1)
        _ = try JSONEncoder().encode(result)
    }

    @Test func singleHotPixelIsNotAStar() throws {
        var pixels = [UInt16](repeating: 500, count: 64 * 64)
        pixels[30 * 64 + 30] = 9000
        let focus = try #require(try analyze(pixels, width: 64, height: 64, .everything).focus)
        #expect(focus.starCount == 0)
        #expect(focus.rejectedUnmeasurable == 1)
    }

    @Test func biasFrameHasNoStars() throws {
        let frames = try SimulatorFrames(size: 256)
        let focus = try focusMetrics(try frames.take(.bias, exposure: 0), size: 256)
        #expect(focus.starCount == 0 && focus.medianFWHM == nil)
        #expect(abs(focus.background - 500) <= 1)
        #expect(abs(focus.backgroundSigma - 8) < 0.6)  // the read noise
    }

    @Test func cosmicRaysAreNotStars() throws {
        let frames = try SimulatorFrames(size: 256) {
            $0.starCount = 0
            $0.cosmicRayRate = 10  // about 110 hits of 1 to 4 pixels in 100 s on 0.11 cm^2
        }
        let pixels = try frames.take(.dark, exposure: 100)
        let detector = StarDetector()
        let detection = try pixels.withUnsafeBufferPointer { try detector.detect(pixels: $0, width: 256, height: 256) }
        #expect(detection.metrics.starCount == 0, "\(detection.metrics) \(detection.stars)")
        #expect(detection.metrics.rejectedUnmeasurable + detection.metrics.rejectedEdge > 50, "\(detection.metrics)")
    }

    @Test func starsAtTheEdgeAndSaturatedStarsAreRejected() throws {
        let frames = try SimulatorFrames(size: 128)
        frames.camera.starCatalog = [
            SimulatedStar(x: 64.2, y: 64.3, flux: 50_000),  // measured
            SimulatedStar(x: 2.4, y: 60.1, flux: 50_000),  // at the left edge
            SimulatedStar(x: 30.3, y: 100.2, flux: 5_000_000),  // saturated
        ]
        let focus = try focusMetrics(try frames.take(focus: 5000), size: 128)
        #expect(focus.starCount == 1)
        #expect(focus.rejectedEdge == 1)
        #expect(focus.rejectedSaturated == 1)
    }

    @Test func framesOfTheWrongShapeAreRefused() {
        let analyzer = FrameAnalyzer()
        let pixels = [UInt16](repeating: 1, count: 10)
        for (width, height) in [(0, 5), (5, 0), (4, 3), (-1, -10), (70000, 1)] {
            #expect(throws: AnalysisError.self) {
                try pixels.withUnsafeBufferPointer { buffer in
                    try analyzer.analyze(pixels: buffer, width: width, height: height, configuration: AnalysisConfiguration())
                }
            }
        }
        #expect(throws: AnalysisError(.invalidArgument, "the frame holds 10 pixels, 4x3 needs 12")) {
            try pixels.withUnsafeBufferPointer { buffer in
                try analyzer.analyze(pixels: buffer, width: 4, height: 3, configuration: AnalysisConfiguration())
            }
        }
        // A 1x1 frame and a one-column frame are frames.
        #expect((try? analyze([7], width: 1, height: 1, .everything))?.mean == 7)
        #expect((try? analyze([1, 2, 3, 4, 5], width: 1, height: 5, .everything))?.minMax?.maximumY == 4)
    }
}
