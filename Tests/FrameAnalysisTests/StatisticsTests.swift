import FrameAnalysis
import Foundation
import Testing

/// areaDetector's statistics against values worked out by hand and by numpy.
@Suite struct StatisticsTests {
    /// A 4x3 frame whose statistics are easy to work out by hand:
    ///
    ///     row 0:  1     2  3   4
    ///     row 1:  5 65535  7   0
    ///     row 2:  9    10 11  12
    let handMade: [UInt16] = [1, 2, 3, 4, 5, 65535, 7, 0, 9, 10, 11, 12]

    @Test func handMadeFrameMinMaxMeanSigmaTotal() throws {
        let result = try analyze(handMade, width: 4, height: 3)
        #expect(result.width == 4 && result.height == 3)
        let extrema = try #require(result.minMax)
        #expect(extrema == FrameAnalysis.Extrema(minimum: 0, minimumX: 3, minimumY: 1,
                                                 maximum: 65535, maximumX: 1, maximumY: 1))
        #expect(result.total == 65599)
        let mean = 65599.0 / 12
        #expect(abs(try #require(result.mean) - mean) < 1e-9)
        // Population variance, worked out term by term.
        let variance = handMade.map { (Double($0) - mean) * (Double($0) - mean) }.reduce(0, +) / 12
        #expect(abs(try #require(result.sigma) - variance.squareRoot()) < 1e-9)
        #expect(result.saturatedPixels == 1)
    }

    @Test func handMadeFrameNetUsesTheBorderMean() throws {
        // Border of 1: every pixel but the two interior ones (65535 and 7), so the border holds
        // 65599 - 65542 = 57 over 10 pixels, and net = 65599 - 5.7 * 12.
        let result = try analyze(handMade, width: 4, height: 3)
        #expect(abs(try #require(result.netBackground) - 5.7) < 1e-12)
        #expect(abs(try #require(result.net) - (65599 - 5.7 * 12)) < 1e-9)

        var none = AnalysisConfiguration()
        none.netBorderWidth = 0
        let plain = try analyze(handMade, width: 4, height: 3, none)
        #expect(plain.net == 65599)
        #expect(plain.netBackground == 0)

        var wide = AnalysisConfiguration()
        wide.netBorderWidth = 2  // as wide as half the image: the whole image is border
        let whole = try analyze(handMade, width: 4, height: 3, wide)
        #expect(abs(try #require(whole.net)) < 1e-9)
    }

    @Test func handMadeFrameProfiles() throws {
        let result = try analyze(handMade, width: 4, height: 3)
        #expect(result.profileX == [15, 65547, 21, 16])
        #expect(result.profileY == [10, 65547, 42])

        var averages = AnalysisConfiguration()
        averages.profileMode = .average
        let averaged = try analyze(handMade, width: 4, height: 3, averages)
        #expect(averaged.profileX == [5, 65547.0 / 3, 7, 16.0 / 3])
        #expect(averaged.profileY == [2.5, 65547.0 / 4, 10.5])
    }

    @Test func handMadeFrameCentroid() throws {
        let result = try analyze(handMade, width: 4, height: 3)
        let centroid = try #require(result.centroid)
        let values = handMade.map(Double.init)
        let total = values.reduce(0, +)
        let cx = values.enumerated().map { Double($0.offset % 4) * $0.element }.reduce(0, +) / total
        let cy = values.enumerated().map { Double($0.offset / 4) * $0.element }.reduce(0, +) / total
        let sx = (values.enumerated().map { pow(Double($0.offset % 4) - cx, 2) * $0.element }.reduce(0, +) / total).squareRoot()
        let sy = (values.enumerated().map { pow(Double($0.offset / 4) - cy, 2) * $0.element }.reduce(0, +) / total).squareRoot()
        #expect(centroid.total == 65599)
        #expect(abs(try #require(centroid.x) - cx) < 1e-12)
        #expect(abs(try #require(centroid.y) - cy) < 1e-12)
        #expect(abs(try #require(centroid.sigmaX) - sx) < 1e-12)
        #expect(abs(try #require(centroid.sigmaY) - sy) < 1e-12)

        // Threshold 10: only 65535 at (1, 1), 10 at (1, 2), 11 at (2, 2), 12 at (3, 2) weigh.
        var thresholded = AnalysisConfiguration()
        thresholded.centroidThreshold = 10
        let kept = try #require(try analyze(handMade, width: 4, height: 3, thresholded).centroid)
        let weight = 65535.0 + 10 + 11 + 12
        let x = (65535.0 * 1 + 10 * 1 + 11 * 2 + 12 * 3) / weight
        let y = (65535.0 * 1 + 10 * 2 + 11 * 2 + 12 * 2) / weight
        #expect(kept.threshold == 10)
        #expect(kept.total == 65568)
        #expect(abs(try #require(kept.x) - x) < 1e-12)
        #expect(abs(try #require(kept.y) - y) < 1e-12)
        let sigmaX = ((65535 * pow(1 - x, 2) + 10 * pow(1 - x, 2) + 11 * pow(2 - x, 2) + 12 * pow(3 - x, 2)) / weight).squareRoot()
        #expect(abs(try #require(kept.sigmaX) - sigmaX) < 1e-12)
    }

    @Test func handMadeFrameHistogramWithBelowAndAbove() throws {
        // 4 bins over [0, 12]: edges 0, 3, 6, 9, 12; the last bin includes 12.
        //   [0, 3): 1 2 0   [3, 6): 3 4 5   [6, 9): 7   [9, 12]: 9 10 11 12   above: 65535
        var configuration = AnalysisConfiguration()
        configuration.histogramBins = 4
        configuration.histogramMinimum = 0
        configuration.histogramMaximum = 12
        let histogram = try #require(try analyze(handMade, width: 4, height: 3, configuration).histogram)
        #expect(histogram.bins == 4)
        #expect(histogram.counts == [3, 3, 1, 4])
        #expect(histogram.below == 0)
        #expect(histogram.above == 1)
        let p = [3.0, 3, 1, 4].map { $0 / 11 }
        #expect(abs(histogram.entropy - -p.map { $0 * log($0) }.reduce(0, +)) < 1e-12)

        // Shifted: 0 and 1 fall below 2; 9...12 and 65535 above 8.5; edges 2, 3.625, 5.25, 6.875, 8.5:
        //   [2, 3.625): 2 3   [3.625, 5.25): 4 5   [5.25, 6.875): none   [6.875, 8.5]: 7
        configuration.histogramMinimum = 2
        configuration.histogramMaximum = 8.5
        let shifted = try #require(try analyze(handMade, width: 4, height: 3, configuration).histogram)
        #expect(shifted.below == 2)
        #expect(shifted.above == 5)
        #expect(shifted.counts == [2, 2, 0, 1])
    }

    @Test func saturationThresholdCountsFromTheThresholdUp() throws {
        var configuration = AnalysisConfiguration()
        configuration.saturationThreshold = 11
        #expect(try analyze(handMade, width: 4, height: 3, configuration).saturatedPixels == 3)  // 11, 12, 65535
        configuration.saturationThreshold = 65536
        #expect(try analyze(handMade, width: 4, height: 3, configuration).saturatedPixels == 0)
    }

    @Test func partsSwitchedOffAreAbsent() throws {
        var configuration = AnalysisConfiguration()
        configuration.minMax = false
        configuration.meanSigma = false
        configuration.histogram = false
        configuration.profiles = false
        configuration.saturation = false
        let result = try analyze(handMade, width: 4, height: 3, configuration)
        #expect(result.minMax == nil && result.mean == nil && result.sigma == nil)
        #expect(result.histogram == nil && result.profileX == nil && result.profileY == nil)
        #expect(result.saturatedPixels == nil && result.focus == nil)
        #expect(result.total == 65599)
        #expect(result.centroid != nil && result.net != nil)
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        #expect(!json.contains("min_max") && !json.contains("histogram") && json.contains("\"total\":65599"))

        configuration.total = false
        configuration.net = false
        configuration.centroid = false
        let empty = try analyze(handMade, width: 4, height: 3, configuration)
        #expect(empty == FrameAnalysis(width: 4, height: 3))
    }

    /// A frame with every kind of value (not a multiple of 8 wide, so the loops' tails run),
    /// and a simulator frame, against numpy.
    @Test(arguments: ["random", "simulator"])
    func agreesWithNumpy(frame: String) throws {
        let width: Int, height: Int
        var pixels: [UInt16]
        if frame == "random" {
            width = 97
            height = 61
            var random = TestRandom(state: 42)
            pixels = (0..<(width * height)).map { _ in UInt16(random.next(below: 65536)) }
            for _ in 0..<40 { pixels[random.next(below: pixels.count)] = 65535 }
            for _ in 0..<5 { pixels[random.next(below: pixels.count)] = 0 }
        } else {
            let simulator = try SimulatorFrames(size: 256)
            width = 256
            height = 256
            pixels = try simulator.take(exposure: 30)
        }
        var configuration = AnalysisConfiguration()
        configuration.netBorderWidth = 3
        configuration.centroidThreshold = frame == "random" ? 30000 : 600
        configuration.histogramBins = 50
        configuration.histogramMinimum = frame == "random" ? 1000 : 400
        configuration.histogramMaximum = frame == "random" ? 60000.5 : 2000
        configuration.saturationThreshold = frame == "random" ? 60000 : 1000
        configuration.signalROI = ROI(offsetX: 5, sizeX: 40, offsetY: 3, sizeY: 20)
        configuration.backgroundROI = ROI(offsetX: 5, sizeX: 40, offsetY: 30, sizeY: 25)
        configuration.focus = frame == "simulator"
        let result = try analyze(pixels, width: width, height: height, configuration)

        let script = """
            import json, sys
            import numpy as np
            w, h = int(sys.argv[2]), int(sys.argv[3])
            c = json.loads(sys.argv[4])
            img = np.fromfile(sys.argv[1], dtype="<u2").reshape(h, w)
            f = img.astype(np.float64)
            r = {}
            r["min"], r["max"] = int(img.min()), int(img.max())
            r["argmin"], r["argmax"] = int(img.argmin()), int(img.argmax())
            r["mean"], r["sigma"], r["total"] = float(img.mean()), float(img.std()), int(img.sum(dtype=np.uint64))
            b = c["net_border_width"]
            mask = np.ones_like(img, dtype=bool); mask[b:h-b, b:w-b] = False
            r["net_background"] = float(img[mask].mean())
            r["net"] = r["total"] - r["net_background"] * w * h
            weights = np.where(img >= c["centroid_threshold"], f, 0.0)
            t = weights.sum(); yy, xx = np.mgrid[0:h, 0:w]
            cx = (weights * xx).sum() / t; cy = (weights * yy).sum() / t
            r["centroid"] = [float(t), cx, cy, float(np.sqrt((weights * (xx - cx) ** 2).sum() / t)),
                             float(np.sqrt((weights * (yy - cy) ** 2).sum() / t))]
            lo, hi = c["histogram_min"], c["histogram_max"]
            counts, _ = np.histogram(img, bins=c["histogram_bins"], range=(lo, hi))
            r["counts"] = counts.tolist(); r["below"] = int((img < lo).sum()); r["above"] = int((img > hi).sum())
            p = counts[counts > 0] / counts.sum(); r["entropy"] = float(-(p * np.log(p)).sum())
            r["profile_x"] = img.sum(axis=0).tolist(); r["profile_y"] = img.sum(axis=1).tolist()
            r["saturated"] = int((img >= c["saturation_threshold"]).sum())
            ox, sx, oy, sy = c["roi_signal"]; s = img[oy:oy+sy, ox:ox+sx].sum(axis=0)
            ox, bx, oy, by = c["roi_background"]; g = img[oy:oy+by, ox:ox+bx].sum(axis=0)
            r["signal"], r["background"] = s.tolist(), g.tolist()
            r["subtracted"] = (s - g * (sy / by)).tolist()
            r["median"] = float(np.median(img)); r["mad"] = float(np.median(np.abs(f - np.median(img))))
            print(json.dumps(r))
            """
        let output = try withTemporaryFolder { folder in
            try writeRaw(pixels, to: folder + "/frame.raw")
            let json = String(decoding: try JSONEncoder().encode(configuration), as: UTF8.self)
            return try runPython(script, [folder + "/frame.raw", "\(width)", "\(height)", json])
        }
        let numpy = try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any])
        func number(_ key: String) throws -> Double { try #require((numpy[key] as? NSNumber)?.doubleValue, "\(key)") }
        func numbers(_ key: String) throws -> [Double] {
            try #require((numpy[key] as? [NSNumber])?.map(\.doubleValue), "\(key)")
        }
        func close(_ a: Double?, _ b: Double, _ what: String) {
            #expect(a.map { abs($0 - b) <= 1e-9 * max(1, abs(b)) } == true, "\(what): \(String(describing: a)) vs numpy \(b)")
        }

        let extrema = try #require(result.minMax)
        #expect(Double(extrema.minimum) == (try number("min")))
        #expect(Double(extrema.maximum) == (try number("max")))
        #expect(Double(extrema.minimumY * width + extrema.minimumX) == (try number("argmin")))
        #expect(Double(extrema.maximumY * width + extrema.maximumX) == (try number("argmax")))
        close(result.mean, try number("mean"), "mean")
        close(result.sigma, try number("sigma"), "sigma")
        #expect(result.total.map(Double.init) == (try number("total")))
        close(result.netBackground, try number("net_background"), "net_background")
        close(result.net, try number("net"), "net")
        let centroid = try #require(result.centroid)
        let expected = try numbers("centroid")
        #expect(Double(centroid.total) == expected[0])
        close(centroid.x, expected[1], "centroid x")
        close(centroid.y, expected[2], "centroid y")
        close(centroid.sigmaX, expected[3], "sigma x")
        close(centroid.sigmaY, expected[4], "sigma y")
        let histogram = try #require(result.histogram)
        #expect(histogram.counts.map(Double.init) == (try numbers("counts")))
        #expect(Double(histogram.below) == (try number("below")))
        #expect(Double(histogram.above) == (try number("above")))
        close(histogram.entropy, try number("entropy"), "entropy")
        #expect(result.profileX == (try numbers("profile_x")))
        #expect(result.profileY == (try numbers("profile_y")))
        #expect(result.saturatedPixels.map(Double.init) == (try number("saturated")))
        #expect(result.roiSignalXProfile == (try numbers("signal")))
        #expect(result.roiBackgroundXProfile == (try numbers("background")))
        let subtracted = try #require(result.backgroundSubtractedSignal)
        for (a, b) in zip(subtracted, try numbers("subtracted")) { close(a, b, "subtracted") }
        #expect(result.roiErrors.isEmpty)
        if let focus = result.focus {
            // The analyzer's background is the exact median and MAD of the frame.
            #expect(focus.background == (try number("median")))
            #expect(abs(focus.backgroundSigma - max(1, 1.4826 * (try number("mad")))) < 1e-9)
        }
    }

    @Test func configurationDecodesPartiallyWithDefaultsAndSnakeCase() throws {
        let json = #"{"roi_signal": [], "roi_background": [1, 2, 3, 4], "histogram_bins": 16, "profile_mode": "average", "focus": true}"#
        let configuration = try JSONDecoder().decode(AnalysisConfiguration.self, from: Data(json.utf8))
        #expect(configuration.signalROI == nil)
        #expect(configuration.backgroundROI == ROI(offsetX: 1, sizeX: 2, offsetY: 3, sizeY: 4))
        #expect(configuration.histogramBins == 16)
        #expect(configuration.profileMode == .average)
        #expect(configuration.focus)
        #expect(configuration.minMax && configuration.netBorderWidth == 1 && configuration.saturationThreshold == 65535)
        #expect(try JSONDecoder().decode(AnalysisConfiguration.self, from: Data("{}".utf8)) == AnalysisConfiguration())

        let encoded = try JSONEncoder().encode(configuration)
        #expect(try JSONDecoder().decode(AnalysisConfiguration.self, from: encoded) == configuration)
        let text = String(decoding: encoded, as: UTF8.self)
        for key in ["roi_signal", "roi_background", "min_max", "mean_sigma", "net_border_width", "centroid_threshold",
                    "histogram_bins", "histogram_min", "histogram_max", "profile_mode", "saturation_threshold",
                    "focus_threshold"] {
            #expect(text.contains("\"\(key)\""), "\(key) missing from \(text)")
        }

        do {
            _ = try JSONDecoder().decode(AnalysisConfiguration.self, from: Data(#"{"roi_signal": [1, 2, 3]}"#.utf8))
            Issue.record("a 3-element ROI was accepted")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains("roi_signal"))
        }
    }

    @Test(arguments: ["histogram_bins", "histogram_max", "net_border_width", "centroid_threshold", "focus_threshold",
                      "saturation_threshold"])
    func invalidConfigurationIsRefusedNamingTheKey(key: String) throws {
        var configuration = AnalysisConfiguration()
        switch key {
        case "histogram_bins": configuration.histogramBins = 0
        case "histogram_max": configuration.histogramMaximum = -1
        case "net_border_width": configuration.netBorderWidth = -1
        case "centroid_threshold": configuration.centroidThreshold = 70000
        case "focus_threshold": configuration.focusThreshold = 0
        default: configuration.saturationThreshold = -5
        }
        #expect {
            try analyze([1, 2, 3, 4], width: 2, height: 2, configuration)
        } throws: { error in
            guard let error = error as? AnalysisError else { return false }
            return error.code == .invalidArgument && error.message.contains(key)
        }
    }

    /// Issue 11: `net_border_width` = 2^62 passed the check (only negatives were refused) and
    /// killed the processor at the next frame (2 * border overflowed).
    @Test(arguments: [
        ("net_border_width", "1 << 62"), ("net_border_width", "65536"), ("focus_threshold", "inf"),
        ("focus_threshold", "1e308"), ("histogram_max", "1e300"),
    ])
    func valuesThatOverflowAreRefusedNamingTheRange(key: String, value: String) throws {
        var configuration = AnalysisConfiguration()
        switch (key, value) {
        case ("net_border_width", "1 << 62"): configuration.netBorderWidth = 1 << 62
        case ("net_border_width", _): configuration.netBorderWidth = Int(value)!
        case ("focus_threshold", _): configuration.focusThreshold = Double(value)!
        default: configuration.histogramMaximum = Double(value)!
        }
        let error = #expect(throws: AnalysisError.self) { try configuration.validate() }
        #expect(error?.message.contains(key) == true)
        #expect(error?.message.contains("...") == true, "the message gives the range: \(error?.message ?? "")")
    }

    /// A border of half the image or more is the whole image, however large (no overflow).
    @Test func aBorderWiderThanTheImageCountsEveryPixel() throws {
        var configuration = AnalysisConfiguration()
        configuration.netBorderWidth = 65535
        let result = try analyze(handMade, width: 4, height: 3, configuration)
        #expect(result.net == 0)
    }

    @Test func resultEncodesWithSnakeCaseKeys() throws {
        var configuration = AnalysisConfiguration.everything
        configuration.signalROI = ROI(offsetX: 0, sizeX: 2, offsetY: 0, sizeY: 1)
        configuration.backgroundROI = ROI(offsetX: 0, sizeX: 2, offsetY: 2, sizeY: 1)
        let result = try analyze(handMade, width: 4, height: 3, configuration)
        let text = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        for key in ["min_max", "min_x", "max_y", "net_background", "sigma_x", "profile_x", "profile_y", "saturated_pixels",
                    "roi_signal_x_profile", "roi_background_x_profile", "background_subtracted_signal", "roi_errors",
                    "star_count", "background_sigma", "rejected_saturated"] {
            #expect(text.contains("\"\(key)\""), "\(key) missing from \(text)")
        }
        #expect(try JSONDecoder().decode(FrameAnalysis.self, from: Data(text.utf8)) == result)
    }
}
