/// What ``FrameAnalyzer`` computes for each frame: psen_processing's two ROIs and areaDetector's
/// statistics, each part switched on or off, and focus metrics.
///
/// JSON keys are snake_case (listed on each property); a key left out takes its default, so
/// `{}` is the default configuration and `{"roi_signal": [0, 512, 0, 512]}` changes only that.
/// An ROI key holding `null` or `[]` disables that ROI (psen's convention).
///
/// Parts that cost little are on by default; focus metrics (star detection) are off.
public struct AnalysisConfiguration: Sendable, Hashable, Codable {
    /// `roi_background`: the background region, whose x-profile is subtracted from the signal's.
    public var backgroundROI: ROI?
    /// `roi_signal`: the signal region.
    public var signalROI: ROI?

    /// `min_max`: the smallest and largest pixel values and where each first occurs (row-major).
    public var minMax: Bool = true
    /// `mean_sigma`: the mean and the population standard deviation of all pixels.
    public var meanSigma: Bool = true
    /// `total`: the sum of all pixels.
    public var total: Bool = true
    /// `net`: the total minus a background estimated from the image border (areaDetector's net).
    public var net: Bool = true
    /// `net_border_width`: the width in pixels of the border whose mean is the background of
    /// `net` (areaDetector's `BgdWidth`); 0 makes `net` equal to `total`. Each border pixel counts
    /// once (areaDetector's NDPluginStats sums four full-length strips, so it counts the corner
    /// squares twice; NDPluginROIStat counts them once, as here).
    public var netBorderWidth: Int = 1
    /// `centroid`: the intensity-weighted centroid and its sigmas along x and y.
    public var centroid: Bool = true
    /// `centroid_threshold`: pixels below this value weigh 0 in the centroid (areaDetector's
    /// `CentroidThreshold`: a pixel at or above it weighs its full value).
    public var centroidThreshold: Int = 0
    /// `histogram`: a histogram of the pixel values.
    public var histogram: Bool = true
    /// `histogram_bins`: the number of equal bins between `histogram_min` and `histogram_max`.
    public var histogramBins: Int = 1024
    /// `histogram_min`: the lower edge of the first bin; values below are counted in `below`.
    public var histogramMinimum: Double = 0
    /// `histogram_max`: the upper edge of the last bin (included in it); values above are
    /// counted in `above`.
    public var histogramMaximum: Double = 65535
    /// `profiles`: the x profile (one value per column) and the y profile (one per row).
    public var profiles: Bool = true
    /// `profile_mode`: `sum` (column and row sums) or `average` (sums over the row and column
    /// counts).
    public var profileMode: ProfileMode = .sum
    /// `saturation`: the number of pixels at or above `saturation_threshold`.
    public var saturation: Bool = true
    /// `saturation_threshold`: the value from which a pixel counts as saturated.
    public var saturationThreshold: Int = 65535
    /// `focus`: star detection and the focus metrics (star count, median FWHM and HFD).
    public var focus: Bool = false
    /// `focus_threshold`: the detection threshold in standard deviations of the background
    /// above the background (a star's peak pixel must exceed it).
    public var focusThreshold: Double = 5
    /// `calibrate`: the processor subtracts the matching master bias or dark and divides by the
    /// matching master flat before its statistics (the calibrated quick look; issue 15).
    public var calibrate: Bool = false

    /// The two profile kinds.
    public enum ProfileMode: String, Sendable, Hashable, Codable, CaseIterable {
        /// Column sums (x) and row sums (y).
        case sum
        /// Column means (x) and row means (y).
        case average
    }

    /// The border widths `net_border_width` may take (a border of half the image or more is
    /// the whole image).
    public static let netBorderWidthRange = 0...65535
    /// The thresholds `focus_threshold` may take, in standard deviations.
    public static let focusThresholdRange: ClosedRange<Double> = 0.1...1000

    /// The defaults: no ROI, every statistic on (1024-bin histogram over 0...65535, border of
    /// 1 pixel for net, centroid without threshold, saturation at 65535), focus metrics off.
    public init() {}

    /// Everything on, focus metrics included.
    public static var everything: AnalysisConfiguration {
        var configuration = AnalysisConfiguration()
        configuration.focus = true
        return configuration
    }

    /// Checks the values that do not depend on the image, naming the key of the first bad one.
    /// The ROIs' form was checked when they were parsed; whether they fit an image is checked
    /// per frame (``FrameAnalysis/roiErrors``), or beforehand with ``validate(width:height:)``.
    /// - Throws: ``AnalysisError`` `invalid_argument`.
    public func validate() throws(AnalysisError) {
        func check(_ condition: Bool, _ field: String, _ detail: @autoclosure () -> String) throws(AnalysisError) {
            if !condition { throw AnalysisError.invalid(field, detail()) }
        }
        try check(Self.netBorderWidthRange.contains(netBorderWidth),
                  "net_border_width", "\(netBorderWidth) is outside \(Self.netBorderWidthRange.lowerBound)...\(Self.netBorderWidthRange.upperBound)")
        try check((0...65535).contains(centroidThreshold),
                  "centroid_threshold", "\(centroidThreshold) is outside 0...65535")
        try check((1...65536).contains(histogramBins), "histogram_bins", "\(histogramBins) is outside 1...65536")
        try check(histogramMinimum.isFinite && abs(histogramMinimum) <= 1e9,
                  "histogram_min", "\(histogramMinimum) is outside -1e9...1e9")
        try check(histogramMaximum.isFinite && abs(histogramMaximum) <= 1e9,
                  "histogram_max", "\(histogramMaximum) is outside -1e9...1e9")
        try check(histogramMaximum > histogramMinimum,
                  "histogram_max", "\(histogramMaximum) is not above histogram_min \(histogramMinimum)")
        try check((0...65536).contains(saturationThreshold),
                  "saturation_threshold", "\(saturationThreshold) is outside 0...65536")
        try check(Self.focusThresholdRange.contains(focusThreshold),
                  "focus_threshold", "\(focusThreshold) is outside \(Self.focusThresholdRange.lowerBound)...\(Self.focusThresholdRange.upperBound) (standard deviations)")
    }

    /// Checks everything, the ROIs against an image of `width` x `height` pixels included (the
    /// processor checks ROIs against the camera's sensor when they are set, and each frame's
    /// fit as it analyses it).
    /// - Parameters:
    ///   - width: the image width in pixels.
    ///   - height: the image height in pixels.
    /// - Throws: ``AnalysisError`` `invalid_argument` naming the key and the rule broken.
    public func validate(width: Int, height: Int) throws(AnalysisError) {
        try validate()
        if let problem = signalROI?.validate(width: width, height: height, field: "roi_signal") {
            throw AnalysisError(.invalidArgument, problem, field: "roi_signal")
        }
        if let problem = backgroundROI?.validate(width: width, height: height, field: "roi_background") {
            throw AnalysisError(.invalidArgument, problem, field: "roi_background")
        }
    }

    // MARK: Codable

    enum CodingKeys: String, CodingKey {
        case backgroundROI = "roi_background"
        case signalROI = "roi_signal"
        case minMax = "min_max"
        case meanSigma = "mean_sigma"
        case total
        case net
        case netBorderWidth = "net_border_width"
        case centroid
        case centroidThreshold = "centroid_threshold"
        case histogram
        case histogramBins = "histogram_bins"
        case histogramMinimum = "histogram_min"
        case histogramMaximum = "histogram_max"
        case profiles
        case profileMode = "profile_mode"
        case saturation
        case saturationThreshold = "saturation_threshold"
        case focus
        case focusThreshold = "focus_threshold"
        case calibrate
    }

    /// Decodes the keys present, leaving the others at their defaults; an ROI of `null` or `[]`
    /// is no ROI.
    /// - Throws: `DecodingError` for a value of the wrong type or a malformed ROI (the message
    ///   names the key and the rule broken).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func roi(_ key: CodingKeys) throws -> ROI? {
            guard container.contains(key), try !container.decodeNil(forKey: key) else { return nil }
            let list = try container.decode([Int].self, forKey: key)
            do throws(AnalysisError) {
                return try ROI.parse(list, field: key.rawValue)
            } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: error.message)
            }
        }
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try container.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        let defaults = AnalysisConfiguration()
        backgroundROI = try roi(.backgroundROI)
        signalROI = try roi(.signalROI)
        minMax = try value(.minMax, defaults.minMax)
        meanSigma = try value(.meanSigma, defaults.meanSigma)
        total = try value(.total, defaults.total)
        net = try value(.net, defaults.net)
        netBorderWidth = try value(.netBorderWidth, defaults.netBorderWidth)
        centroid = try value(.centroid, defaults.centroid)
        centroidThreshold = try value(.centroidThreshold, defaults.centroidThreshold)
        histogram = try value(.histogram, defaults.histogram)
        histogramBins = try value(.histogramBins, defaults.histogramBins)
        histogramMinimum = try value(.histogramMinimum, defaults.histogramMinimum)
        histogramMaximum = try value(.histogramMaximum, defaults.histogramMaximum)
        profiles = try value(.profiles, defaults.profiles)
        profileMode = try value(.profileMode, defaults.profileMode)
        saturation = try value(.saturation, defaults.saturation)
        saturationThreshold = try value(.saturationThreshold, defaults.saturationThreshold)
        focus = try value(.focus, defaults.focus)
        focusThreshold = try value(.focusThreshold, defaults.focusThreshold)
        calibrate = try value(.calibrate, defaults.calibrate)
    }

    /// Encodes every key; a disabled ROI as `null`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(backgroundROI, forKey: .backgroundROI)
        try container.encode(signalROI, forKey: .signalROI)
        try container.encode(minMax, forKey: .minMax)
        try container.encode(meanSigma, forKey: .meanSigma)
        try container.encode(total, forKey: .total)
        try container.encode(net, forKey: .net)
        try container.encode(netBorderWidth, forKey: .netBorderWidth)
        try container.encode(centroid, forKey: .centroid)
        try container.encode(centroidThreshold, forKey: .centroidThreshold)
        try container.encode(histogram, forKey: .histogram)
        try container.encode(histogramBins, forKey: .histogramBins)
        try container.encode(histogramMinimum, forKey: .histogramMinimum)
        try container.encode(histogramMaximum, forKey: .histogramMaximum)
        try container.encode(profiles, forKey: .profiles)
        try container.encode(profileMode, forKey: .profileMode)
        try container.encode(saturation, forKey: .saturation)
        try container.encode(saturationThreshold, forKey: .saturationThreshold)
        try container.encode(focus, forKey: .focus)
        try container.encode(focusThreshold, forKey: .focusThreshold)
        try container.encode(calibrate, forKey: .calibrate)
    }
}
