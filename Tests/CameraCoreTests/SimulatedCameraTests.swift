import ApertureProtocol
import Bus
@testable import CameraCore
import Foundation
import Testing

/// The simulated camera's physics and driver behaviour, on small sensors with fast time.
@Suite struct SimulatedCameraTests {
    // MARK: Helpers

    /// A connected 256x256 camera with 1000x faster time, adjusted by `change`.
    func makeCamera(_ change: (inout SimulatedCamera.Configuration) -> Void = { _ in }) throws -> SimulatedCamera {
        var configuration = SimulatedCamera.Configuration()
        configuration.width = 256
        configuration.height = 256
        configuration.starCount = 20
        configuration.timeScale = 0.001
        change(&configuration)
        let camera = SimulatedCamera(configuration: configuration)
        _ = try camera.connect()
        return camera
    }

    func settings(_ type: ImageType, _ time: Double, shutter: ShutterMode? = nil, subframe: Subframe? = nil,
                  bin: Int = 1, readoutMode: Int = 0, gain: Int = 0) -> AcquisitionSettings {
        AcquisitionSettings(exposureTime: time, shutter: shutter ?? type.shutter,
                            subframe: subframe ?? Subframe(x: 0, y: 0, width: 256, height: 256),
                            binX: bin, binY: bin, readoutMode: readoutMode, gain: gain, imageType: type)
    }

    /// Starts an acquisition, waits for it in 10 ms slices as the camera process does, reads it.
    func expose(_ camera: SimulatedCamera, _ settings: AcquisitionSettings) throws -> [UInt16] {
        try camera.startAcquisition(settings)
        let deadline = Date().addingTimeInterval(30)
        while try !camera.waitForAcquisition(timeout: 0.01) {
            try #require(Date() < deadline, "the acquisition never ended")
        }
        var pixels = [UInt16](repeating: 0, count: settings.imageWidth * settings.imageHeight)
        try pixels.withUnsafeMutableBufferPointer { buffer in try camera.readImage(into: buffer) }
        return pixels
    }

    func mean(_ pixels: [UInt16]) -> Double {
        pixels.reduce(0.0) { $0 + Double($1) } / Double(pixels.count)
    }

    func standardDeviation(_ pixels: [UInt16]) -> Double {
        let average = mean(pixels)
        let sum = pixels.reduce(0.0) { $0 + (Double($1) - average) * (Double($1) - average) }
        return (sum / Double(pixels.count - 1)).squareRoot()
    }

    func median(_ pixels: [UInt16]) -> Double {
        Double(pixels.sorted()[pixels.count / 2])
    }

    /// Intensity-weighted centroid and second moments (bias or background removed) of the
    /// window of half-size `radius` around pixel (cx, cy) of a `width`-wide frame.
    func moments(_ pixels: [UInt16], width: Int, cx: Int, cy: Int, radius: Int, background: Double)
        -> (x: Double, y: Double, sigma: Double)
    {
        var total = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0
        for y in (cy - radius)...(cy + radius) {
            for x in (cx - radius)...(cx + radius) {
                let value = Double(pixels[y * width + x]) - background
                total += value
                sx += value * Double(x)
                sy += value * Double(y)
                sxx += value * Double(x * x)
                syy += value * Double(y * y)
            }
        }
        let x = sx / total, y = sy / total
        let varianceX = sxx / total - x * x
        let varianceY = syy / total - y * y
        return (x, y, ((varianceX + varianceY) / 2).squareRoot())
    }

    // MARK: Bias and read noise

    @Test func biasHasTheBiasLevelAndTheReadNoise() throws {
        let camera = try makeCamera()
        let fast = try expose(camera, settings(.bias, 0))
        #expect(abs(mean(fast) - 500) < 0.2)
        #expect(abs(standardDeviation(fast) - 8) < 0.2)

        let slow = try expose(camera, settings(.bias, 0, readoutMode: 1))
        #expect(abs(mean(slow) - 500) < 0.2)
        #expect(abs(standardDeviation(slow) - 3) < 0.1)

        // Gain 4x: a quarter of an electron per ADU, so 8 e- of read noise are 32 ADU.
        let amplified = try expose(camera, settings(.bias, 0, gain: 2))
        #expect(abs(mean(amplified) - 500) < 0.5)
        #expect(abs(standardDeviation(amplified) - 32) < 0.8)
    }

    @Test func biasIgnoresExposureTimeAndLight() throws {
        let camera = try makeCamera { $0.cosmicRayRate = 100 }
        let bias = try expose(camera, settings(.bias, 100, shutter: .open))
        #expect(abs(mean(bias) - 500) < 0.2)
        #expect(bias.max()! < 500 + 8 * 7)
    }

    // MARK: Dark current and cooling

    @Test func darkCurrentDoublesEverySixDegrees() throws {
        func darkSignal(setpoint: Int) throws -> (signal: Double, celsius: Double) {
            let camera = try makeCamera {
                $0.timeScale = 1e-5  // 60 s time constant: 0.6 ms
                $0.cosmicRayRate = 0
            }
            try camera.setTemperatureSetpoint(setpoint)
            try camera.setCooler(on: true)
            Thread.sleep(forTimeInterval: 0.05)  // 5000 simulated seconds, 80 time constants
            let status = try camera.temperature()
            #expect(status.state == .stabilized)
            let dark = try expose(camera, settings(.dark, 3600))
            return (mean(dark) - 500, status.celsius)
        }
        let colder = try darkSignal(setpoint: -20)
        let warmer = try darkSignal(setpoint: -14)
        #expect(abs(colder.celsius + 20) < 0.01)
        #expect(abs(warmer.celsius + 14) < 0.01)
        // 0.1 e-/px/s at -20 C for 3600 s: 360 e-, 720 e- six degrees warmer.
        #expect(abs(colder.signal - 360) < 2)
        #expect(abs(warmer.signal / colder.signal - 2) < 0.02)
    }

    @Test func coolingFollowsAFirstOrderApproachAndStabilises() {
        var configuration = SimulatedCamera.Configuration()
        configuration.ambientTemperature = 20
        configuration.coolingTimeConstant = 60
        var cooling = SimulatedCooling(configuration: configuration, at: 0)
        #expect(cooling.status(at: 10).state == .off)
        #expect(cooling.temperature(at: 10) == 20)

        cooling.setSetpoint(-10, at: 0)
        cooling.setCooler(on: true, at: 0)
        // One time constant: 63% of the 30 degrees.
        #expect(abs(cooling.temperature(at: 60) - (-10 + 30 * exp(-1))) < 1e-9)
        #expect(cooling.status(at: 60).state == .notReached)
        // Within 0.5 C after 60 * ln(30 / 0.5) = 245.7 s, stabilised 30 s later.
        #expect(cooling.status(at: 250).state == .notStabilized)
        #expect(cooling.status(at: 280).state == .stabilized)
        #expect(abs(cooling.status(at: 280).coolerPower! - 30.0 / 80 * 100) < 0.5)

        // Moving the set-point starts over from where the sensor is.
        cooling.setSetpoint(-20, at: 1000)
        #expect(abs(cooling.temperature(at: 1000) + 10) < 1e-5)
        #expect(cooling.status(at: 1001).state == .notReached)

        // Off: back to ambient with the same time constant.
        cooling.setCooler(on: false, at: 5000)
        #expect(abs(cooling.temperature(at: 5060) - (20 - 40 * exp(-1))) < 1e-6)
    }

    @Test func coolingNeverGoesBelowAmbientMinusMaximumDelta() throws {
        var configuration = SimulatedCamera.Configuration()
        configuration.ambientTemperature = 20
        configuration.maximumCoolingDelta = 80
        var cooling = SimulatedCooling(configuration: configuration, at: 0)
        cooling.setSetpoint(-100, at: 0)
        cooling.setCooler(on: true, at: 0)
        var previous = 20.0
        for step in 1...200 {
            let celsius = cooling.temperature(at: Double(step) * 30)
            #expect(celsius >= -60)
            #expect(celsius <= previous)
            previous = celsius
        }
        let late = cooling.status(at: 100_000)
        #expect(abs(late.celsius + 60) < 1e-6)
        #expect(late.state == .notReached)
        #expect(late.coolerPower == 100)

        // The same through the driver, on the scaled clock.
        let camera = try makeCamera { $0.timeScale = 1e-5 }
        try camera.setTemperatureSetpoint(-100)
        try camera.setCooler(on: true)
        Thread.sleep(forTimeInterval: 0.03)
        let status = try camera.temperature()
        #expect(status.celsius >= -60)
        #expect(status.celsius < -59.9)
        #expect(status.setpoint == -100)
        #expect(status.coolerOn)
        #expect(status.state == .notReached)
    }

    // MARK: Determinism

    @Test func theSameSeedGivesTheSameFramesAndADifferentSeedDoesNot() throws {
        let first = try expose(try makeCamera { $0.seed = 7 }, settings(.object, 10))
        let again = try expose(try makeCamera { $0.seed = 7 }, settings(.object, 10))
        let other = try expose(try makeCamera { $0.seed = 8 }, settings(.object, 10))
        #expect(first == again)
        #expect(first != other)
        #expect(try makeCamera { $0.seed = 7 }.starCatalog != (try makeCamera { $0.seed = 8 }).starCatalog)

        // The next frame of the same camera is another noise realisation of the same field.
        let camera = try makeCamera { $0.seed = 7 }
        let frame0 = try expose(camera, settings(.object, 10))
        let frame1 = try expose(camera, settings(.object, 10))
        #expect(frame0 == first)
        #expect(frame1 != frame0)
    }

    @Test func aFinishedFrameReadsTheSameTwice() throws {
        let camera = try makeCamera()
        let first = try expose(camera, settings(.object, 5))
        var again = [UInt16](repeating: 0, count: first.count)
        try again.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        #expect(again == first)
    }

    // MARK: Stars and focus

    @Test func aClosedShutterShowsNoStars() throws {
        let camera = try makeCamera { $0.cosmicRayRate = 0 }
        camera.starCatalog.append(SimulatedStar(x: 128, y: 128, flux: 50_000))
        let open = try expose(camera, settings(.object, 10))
        let closed = try expose(camera, settings(.object, 10, shutter: .closed))
        #expect(Double(open[128 * 256 + 128]) > median(open) + 10_000)
        // Closed: dark current only (10.2 e-/px/s at +20 C), no sky, no stars.
        let dark = camera.configuration.darkCurrent(atTemperature: 20) * 10
        #expect(abs(mean(closed) - 500 - dark) < 0.5)
        #expect(Double(closed.max()!) < median(closed) + 7 * (100.0 + 64).squareRoot())
    }

    @Test func starsSitAtTheirCataloguePositions() throws {
        let camera = try makeCamera {
            $0.starCount = 25
            $0.starFluxRange = 3000...20000  // bright enough to centre well, never saturated
            $0.vignetting = 0
            $0.cosmicRayRate = 0
        }
        let frame = try expose(camera, settings(.object, 30))
        let background = median(frame)
        let catalog = camera.starCatalog
        // Away from the edges, no star within 12 px (twice the measuring window) and no much
        // brighter one within 20 px.
        let isolated = catalog.filter { star in
            (10...245).contains(star.x) && (10...245).contains(star.y)
                && catalog.allSatisfy { other in
                    let distance = hypot(other.x - star.x, other.y - star.y)
                    return other == star || (distance > 12 && (distance > 20 || other.flux < 10 * star.flux))
                }
        }
        try #require(isolated.count >= 5)
        for star in isolated {
            let measured = moments(frame, width: 256, cx: Int(star.x.rounded()), cy: Int(star.y.rounded()),
                                   radius: 6, background: background)
            #expect(abs(measured.x - star.x) < 0.1, "star at \(star.x), \(star.y)")
            #expect(abs(measured.y - star.y) < 0.1, "star at \(star.x), \(star.y)")
        }
    }

    @Test func measuredFWHMMatchesThePSFAtBestFocusAndGrowsWithDefocus() throws {
        let camera = try makeCamera {
            $0.skyBackground = 0
            $0.darkCurrent = 0
            $0.cosmicRayRate = 0
        }
        camera.starCatalog = [SimulatedStar(x: 128.3, y: 127.6, flux: 400_000)]
        let best = camera.configuration.bestFocus
        #expect(camera.focusPosition == best)
        #expect(abs(camera.psfFWHM(atFocus: best) - 2.3548 * 1.5) < 1e-3)
        #expect(abs(camera.psfSigma(atFocus: best + 200) - 1.5 * 2.0.squareRoot()) < 1e-12)

        func measuredFWHM(at focus: Double) throws -> Double {
            camera.focusPosition = focus
            let sigma = camera.psfSigma(atFocus: focus)
            let frame = try expose(camera, settings(.object, 0.5, readoutMode: 1))
            let measured = moments(frame, width: 256, cx: 128, cy: 128, radius: Int((6 * sigma).rounded(.up)),
                                   background: 500)
            return 2.3548 * measured.sigma
        }
        // Pixel integration adds a pixel's variance, 1/12, to the Gaussian's.
        for focus in [best, best + 300, best - 500] {
            let sigma = camera.psfSigma(atFocus: focus)
            let expected = 2.3548 * (sigma * sigma + 1.0 / 12).squareRoot()
            let measured = try measuredFWHM(at: focus)
            #expect(abs(measured / expected - 1) < 0.03, "focus \(focus): \(measured) px, expected \(expected) px")
        }
        #expect(try measuredFWHM(at: best + 300) > 1.5 * measuredFWHM(at: best))
    }

    /// Issue 11: a focuser position of 1e24 made the PSF wider than Int and trapped in the
    /// star renderer. Far out of focus a star's light is spread to nothing: only the
    /// background is left, and the frame takes no longer than any other.
    @Test(arguments: [1e24, -1e24, 1e9, Double.greatestFiniteMagnitude])
    func aFocusFarOutOfRangeRendersBackgroundOnly(focus: Double) throws {
        let camera = try makeCamera {
            $0.skyBackground = 0
            $0.darkCurrent = 0
            $0.cosmicRayRate = 0
        }
        camera.starCatalog = [SimulatedStar(x: 128.3, y: 127.6, flux: 400_000)]
        let inFocus = try expose(camera, settings(.object, 0.5, readoutMode: 1))
        camera.focusPosition = focus
        let defocused = try expose(camera, settings(.object, 0.5, readoutMode: 1))
        #expect(defocused.max()! < inFocus.max()! / 10, "focus \(focus): the star should be spread out")
    }

    // MARK: Flats, saturation, cosmic rays

    @Test func flatsAreUniformWithTheExpectedLevel() throws {
        let camera = try makeCamera {
            $0.vignetting = 0
            $0.cosmicRayRate = 0
        }
        let flat = try expose(camera, settings(.flat, 5))
        // 3000 e-/px/s light plus 10.2 e-/px/s dark for 5 s.
        let expected = 5 * (3000 + camera.configuration.darkCurrent(atTemperature: 20))
        #expect(abs(mean(flat) - 500 - expected) / expected < 0.001)
        // Poisson-limited: no structure beyond shot and read noise.
        #expect(abs(standardDeviation(flat) / (expected + 64).squareRoot() - 1) < 0.03)
    }

    @Test func vignettingDarkensTheCornersOfAFlat() throws {
        let camera = try makeCamera { $0.cosmicRayRate = 0 }
        let flat = try expose(camera, settings(.flat, 5))
        func blockMean(_ x0: Int, _ y0: Int) -> Double {
            var sum = 0.0
            for y in y0..<(y0 + 8) { for x in x0..<(x0 + 8) { sum += Double(flat[y * 256 + x]) - 500 } }
            return sum / 64
        }
        let ratio = blockMean(0, 0) / blockMean(124, 124)
        #expect(ratio > 0.94 && ratio < 0.965)  // 5% lost at the corner pixel, a little less 4 px in
    }

    @Test func saturatedPixelsClipAt65535() throws {
        let camera = try makeCamera()
        let flat = try expose(camera, settings(.flat, 100))  // 300,000 e- in a 100,000 e- well
        #expect(flat.allSatisfy { $0 == 65535 })
        camera.starCatalog.append(SimulatedStar(x: 100, y: 100, flux: 200_000))
        let object = try expose(camera, settings(.object, 60))
        #expect(object.max() == 65535)
        #expect(object.contains { $0 < 65535 })
    }

    @Test func longDarksCollectMoreCosmicRays() throws {
        let camera = try makeCamera {
            $0.timeScale = 1e-4
            $0.darkCurrent = 0
            $0.cosmicRayRate = 1  // 0.11 hits/s on 256x256 13 um pixels
        }
        func hotPixels(_ time: Double) throws -> Int {
            try expose(camera, settings(.dark, time)).filter { $0 > 500 + 100 }.count
        }
        let short = try hotPixels(1)
        let long = try hotPixels(1000)
        #expect(short < 10)
        #expect(long > 100)
        #expect(long > 10 * max(short, 1))
    }

    // MARK: Binning and subframes

    @Test func binningSumsTheChargeOfEachBlock() throws {
        let camera = try makeCamera()
        // Stars bright enough to count, none saturating a binned pixel.
        camera.starCatalog = [SimulatedStar(x: 50.2, y: 60.7, flux: 20000), SimulatedStar(x: 180.5, y: 90.1, flux: 50000),
                              SimulatedStar(x: 120, y: 200, flux: 5000)]
        camera.nextFrameNumber = 42
        let full = try expose(camera, settings(.object, 5))
        camera.nextFrameNumber = 42
        let binned = try expose(camera, settings(.object, 5, bin: 2))
        #expect(binned.count == 128 * 128)
        let fullTotal = full.reduce(0.0) { $0 + Double($1) - 500 }
        let binnedTotal = binned.reduce(0.0) { $0 + Double($1) - 500 }
        #expect(abs(binnedTotal / fullTotal - 1) < 2e-3)
        // Block by block: the four pixels' signal, read once (read noise of 5 reads at most 7 sigma).
        var worst = 0.0
        for y in 0..<128 {
            for x in 0..<128 {
                var sum = 0.0
                for dy in 0..<2 { for dx in 0..<2 { sum += Double(full[(2 * y + dy) * 256 + 2 * x + dx]) - 500 } }
                worst = max(worst, abs(Double(binned[y * 128 + x]) - 500 - sum))
            }
        }
        #expect(worst < 7 * 8 * 5.0.squareRoot())
    }

    @Test func aSubframeIsExactlyTheMatchingRegionOfTheFullFrame() throws {
        let camera = try makeCamera { $0.cosmicRayRate = 2 }
        for bin in [1, 2] {
            camera.nextFrameNumber = 9
            let full = try expose(camera, settings(.object, 60, bin: bin))
            camera.nextFrameNumber = 9
            let region = Subframe(x: 40, y: 60, width: 100, height: 80)
            let sub = try expose(camera, settings(.object, 60, subframe: region, bin: bin))
            let fullWidth = 256 / bin
            var expected: [UInt16] = []
            for y in (region.y / bin)..<((region.y + region.height) / bin) {
                expected += full[(y * fullWidth + region.x / bin)..<(y * fullWidth + (region.x + region.width) / bin)]
            }
            #expect(sub == expected, "binning \(bin)")
        }
    }

    // MARK: Driver behaviour

    @Test func anAcquisitionLastsItsScaledTime() throws {
        let camera = try makeCamera { $0.timeScale = 0.01 }
        let started = ContinuousClock.now
        try camera.startAcquisition(settings(.dark, 5))  // 50 ms real
        #expect(try camera.acquisitionStatus() == .acquiring)
        #expect(try camera.waitForAcquisition(timeout: 0.001) == false)
        #expect(throws: CameraError.self) {
            var pixels = [UInt16](repeating: 0, count: 256 * 256)
            try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        }
        while try !camera.waitForAcquisition(timeout: 0.01) {}
        #expect(ContinuousClock.now - started >= .milliseconds(50))
        #expect(try camera.acquisitionStatus() == .idle)
    }

    @Test func abortStopsAtOnceAndDiscardsTheFrame() throws {
        let camera = try makeCamera { $0.timeScale = 1 }
        try camera.startAcquisition(settings(.object, 600))
        #expect(try camera.waitForAcquisition(timeout: 0.02) == false)
        let requested = ContinuousClock.now
        try camera.abortAcquisition()
        #expect(try camera.acquisitionStatus() == .idle)
        // Long before the 600 s exposure would have ended (not a tighter figure: shared cores).
        #expect(ContinuousClock.now - requested < .seconds(30))
        #expect(try camera.waitForAcquisition(timeout: 1) == false)
        var pixels = [UInt16](repeating: 0, count: 256 * 256)
        let error = #expect(throws: CameraError.self) {
            try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        }
        #expect(error?.code == .driver)
        // The camera is usable again.
        try camera.startAcquisition(settings(.bias, 0))
        try camera.abortAcquisition()
    }

    @Test func requestsAreRefusedWithTheRightCodes() throws {
        let idle = SimulatedCamera(configuration: {
            var configuration = SimulatedCamera.Configuration()
            configuration.width = 64
            configuration.height = 64
            return configuration
        }())
        let bias = AcquisitionSettings(exposureTime: 0, shutter: .closed, subframe: Subframe(x: 0, y: 0, width: 64, height: 64),
                                       imageType: .bias)
        let notConnected = #expect(throws: CameraError.self) { try idle.startAcquisition(bias) }
        #expect(notConnected?.code == .notConnected)
        #expect((try? idle.temperature()) == nil)
        #expect((try? idle.setCooler(on: true)) == nil)

        let camera = try makeCamera { $0.timeScale = 1 }
        var pixels = [UInt16](repeating: 0, count: 256 * 256)
        let nothing = #expect(throws: CameraError.self) {
            try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
        }
        #expect(nothing?.code == .driver)

        func code(_ settings: AcquisitionSettings) -> CameraError.Code? {
            do {
                try camera.startAcquisition(settings)
                try camera.abortAcquisition()
                return nil
            } catch {
                return error.code
            }
        }
        #expect(code(settings(.object, 1, subframe: Subframe(x: 200, y: 0, width: 100, height: 10))) == .invalidArgument)
        #expect(code(settings(.object, 1, subframe: Subframe(x: 0, y: 0, width: 99, height: 10), bin: 2)) == .invalidArgument)
        #expect(code(settings(.object, 1, readoutMode: 2)) == .invalidArgument)
        #expect(code(settings(.object, 1, gain: 3)) == .invalidArgument)
        #expect(code(settings(.object, 3601)) == .invalidArgument)
        #expect(code(settings(.object, -1)) == .invalidArgument)

        try camera.startAcquisition(settings(.object, 600))
        #expect(code(settings(.bias, 0)) == .busy)
        try camera.abortAcquisition()

        try camera.disconnect()
        #expect((try? camera.acquisitionStatus()) == nil)
    }

    @Test func connectReportsTheConfigurationAndRefusesABadOne() throws {
        let info = try makeCamera().connect()
        #expect(info.width == 256 && info.height == 256)
        #expect(info.pixelWidth == 13)
        #expect(info.minimumSetpoint == -80 && info.maximumSetpoint == 20)
        #expect(info.readoutModes == ["fast", "slow"])
        #expect(info.gains == ["1x", "2x", "4x"])
        #expect(info.hasShutter)
        #expect(info.minimumExposure == 0 && info.maximumExposure == 3600)
        #expect(info.maximumADU == 65535)
        #expect(info.electronsPerADU == 1)
        #expect(info.firstRowIsTop)

        var configuration = SimulatedCamera.Configuration()
        configuration.timeScale = 0
        let error = #expect(throws: CameraError.self) { try SimulatedCamera(configuration: configuration).connect() }
        #expect(error?.code == .invalidArgument)
        #expect(error?.message.contains("timeScale") == true)
    }

    @Test func theDefaultCatalogueFollowsTheConfiguration() {
        let configuration = SimulatedCamera.Configuration()
        let stars = SimulatedCamera(configuration: configuration).starCatalog
        #expect(stars.count == 200)
        #expect(stars.allSatisfy { (-0.5..<1023.5).contains($0.x) && (-0.5..<1023.5).contains($0.y) })
        #expect(stars.allSatisfy { configuration.starFluxRange.contains($0.flux) })
        #expect(zip(stars, stars.dropFirst()).allSatisfy { $0.flux >= $1.flux })
        // Faint stars outnumber bright ones.
        #expect(stars.filter { $0.flux < 2000 }.count > stars.filter { $0.flux >= 2000 }.count)
    }
}
