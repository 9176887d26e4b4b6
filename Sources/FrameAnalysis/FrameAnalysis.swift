/// The analysis of one frame: every part the ``AnalysisConfiguration`` switched on, the others
/// nil (absent from the JSON).
///
/// Coordinates are 0-based pixel indices, x the column and y the row from the first pixel given
/// (row 0 is the first row the camera delivers: the top of the image for the simulator, the
/// bottom for Andor cameras; see the frame's `row_order`), so a centroid of `(x, y) = (10, 20)`
/// is the centre of column 10, row 20. Every floating-point
/// value is finite (a quantity that is undefined for this frame, such as the centroid of an
/// all-zero frame, is nil), so the result always encodes as JSON.
public struct FrameAnalysis: Sendable, Hashable, Codable {
    /// `width`: the frame's width in pixels.
    public var width: Int
    /// `height`: the frame's height in pixels.
    public var height: Int

    /// `min_max`: the extreme values and where each first occurs in row-major order (numpy's
    /// `argmin`/`argmax` convention).
    public var minMax: Extrema?
    /// `mean`: the mean pixel value.
    public var mean: Double?
    /// `sigma`: the population standard deviation, `sqrt(sum((v - mean)^2) / n)` (areaDetector's
    /// and numpy's default `std`).
    public var sigma: Double?
    /// `total`: the sum of every pixel.
    public var total: Int?
    /// `net`: `total - net_background * pixel count` (areaDetector's net).
    public var net: Double?
    /// `net_background`: the mean of the border pixels used for `net` (0 with a border of width 0).
    public var netBackground: Double?
    /// `centroid`: the intensity-weighted centroid and its sigmas.
    public var centroid: Centroid?
    /// `histogram`: the configured histogram.
    public var histogram: Histogram?
    /// `profile_x`: one value per column: the column sums, or their means over the rows.
    public var profileX: [Double]?
    /// `profile_y`: one value per row: the row sums, or their means over the columns.
    public var profileY: [Double]?
    /// `saturated_pixels`: the number of pixels at or above the saturation threshold.
    public var saturatedPixels: Int?

    /// `roi_signal_x_profile`: the signal ROI's x-profile, psen's: for each of its `size_x`
    /// columns, the sum of its `size_y` rows. Nil when the ROI is disabled or does not fit.
    public var roiSignalXProfile: [Double]?
    /// `roi_background_x_profile`: the background ROI's x-profile, likewise.
    public var roiBackgroundXProfile: [Double]?
    /// `background_subtracted_signal`: the signal x-profile minus the background x-profile
    /// scaled to the signal's row count, column by column:
    /// `signal[i] - background[i] * signal.size_y / background.size_y`.
    ///
    /// Both profiles are column sums, so the background profile, scaled by the ratio of the ROI
    /// heights, estimates the background in the signal ROI's rows; with ROIs of equal height this
    /// is psen's plain `signal - background`. Present only when both ROIs are set, fit the frame
    /// and have the same `size_x` (otherwise ``roiErrors`` says why).
    public var backgroundSubtractedSignal: [Double]?
    /// `roi_errors`: why an ROI gave no profile on this frame (it does not fit the image, or the
    /// two ROIs' widths differ), each message naming the ROI; empty when all is well.
    public var roiErrors: [String]

    /// `focus`: star count, median FWHM and HFD, when focus metrics are on.
    public var focus: FocusMetrics?

    /// An empty analysis of a `width` x `height` frame: every part nil.
    /// - Parameters:
    ///   - width: the frame width in pixels.
    ///   - height: the frame height in pixels.
    public init(width: Int = 0, height: Int = 0) {
        self.width = width
        self.height = height
        roiErrors = []
    }

    /// The minimum and maximum pixel values and their first positions.
    public struct Extrema: Sendable, Hashable, Codable {
        /// `min`: the smallest pixel value.
        public var minimum: Int
        /// `min_x`: the column where `min` first occurs.
        public var minimumX: Int
        /// `min_y`: the row where `min` first occurs.
        public var minimumY: Int
        /// `max`: the largest pixel value.
        public var maximum: Int
        /// `max_x`: the column where `max` first occurs.
        public var maximumX: Int
        /// `max_y`: the row where `max` first occurs.
        public var maximumY: Int

        /// Creates extrema from their values and positions.
        public init(minimum: Int, minimumX: Int, minimumY: Int, maximum: Int, maximumX: Int, maximumY: Int) {
            self.minimum = minimum
            self.minimumX = minimumX
            self.minimumY = minimumY
            self.maximum = maximum
            self.maximumX = maximumX
            self.maximumY = maximumY
        }

        enum CodingKeys: String, CodingKey {
            case minimum = "min"
            case minimumX = "min_x"
            case minimumY = "min_y"
            case maximum = "max"
            case maximumX = "max_x"
            case maximumY = "max_y"
        }
    }

    /// The intensity-weighted centroid, areaDetector's: pixels below the threshold weigh 0, the
    /// others their value `v`; `x = sum(v x) / sum(v)`, `sigma_x = sqrt(sum(v (x - x̄)^2) / sum(v))`,
    /// likewise for y.
    public struct Centroid: Sendable, Hashable, Codable {
        /// `threshold`: the threshold used.
        public var threshold: Int
        /// `total`: the sum of the weights (the pixels at or above the threshold).
        public var total: Int
        /// `x`: the centroid's column; nil when `total` is 0.
        public var x: Double?
        /// `y`: the centroid's row; nil when `total` is 0.
        public var y: Double?
        /// `sigma_x`: the weighted standard deviation in x; nil when `total` is 0.
        public var sigmaX: Double?
        /// `sigma_y`: the weighted standard deviation in y; nil when `total` is 0.
        public var sigmaY: Double?

        /// Creates a centroid from its values.
        public init(threshold: Int, total: Int, x: Double?, y: Double?, sigmaX: Double?, sigmaY: Double?) {
            self.threshold = threshold
            self.total = total
            self.x = x
            self.y = y
            self.sigmaX = sigmaX
            self.sigmaY = sigmaY
        }

        enum CodingKeys: String, CodingKey {
            case threshold, total, x, y
            case sigmaX = "sigma_x"
            case sigmaY = "sigma_y"
        }
    }

    /// A histogram of `bins` equal bins from `min` to `max`, numpy's definition: bin `i` holds the
    /// values `v` with `edge[i] <= v < edge[i + 1]`, the last bin also `v == max`, where
    /// `edge[i] = min + i * (max - min) / bins`. `np.histogram(a, bins, (min, max))` gives the same
    /// counts. (areaDetector rounds `(v - min) * bins / (max - min)` to the nearest bin instead,
    /// which gives the first and last bins half the width of the others.)
    public struct Histogram: Sendable, Hashable, Codable {
        /// `bins`: the number of equal bins (`histogram_bins`).
        public var bins: Int
        /// `min`: the lower edge of the first bin (`histogram_min`).
        public var minimum: Double
        /// `max`: the upper edge of the last bin, included in it (`histogram_max`).
        public var maximum: Double
        /// `counts`: one count per bin.
        public var counts: [Int]
        /// `below`: the pixels below `min`.
        public var below: Int
        /// `above`: the pixels above `max`.
        public var above: Int
        /// `entropy`: the Shannon entropy of the binned values in nats, `-sum(p ln p)` with
        /// `p = counts[i] / sum(counts)` (0 when no value falls in range). areaDetector reports
        /// `-sum(c ln c) / n` instead, which equals this minus `ln(sum(counts))` when every pixel
        /// is in range.
        public var entropy: Double

        /// Creates a histogram from its values.
        public init(bins: Int, minimum: Double, maximum: Double, counts: [Int], below: Int, above: Int, entropy: Double) {
            self.bins = bins
            self.minimum = minimum
            self.maximum = maximum
            self.counts = counts
            self.below = below
            self.above = above
            self.entropy = entropy
        }

        enum CodingKeys: String, CodingKey {
            case bins, counts, below, above, entropy
            case minimum = "min"
            case maximum = "max"
        }
    }

    enum CodingKeys: String, CodingKey {
        case width, height, mean, sigma, total, net, centroid, histogram, focus
        case minMax = "min_max"
        case netBackground = "net_background"
        case profileX = "profile_x"
        case profileY = "profile_y"
        case saturatedPixels = "saturated_pixels"
        case roiSignalXProfile = "roi_signal_x_profile"
        case roiBackgroundXProfile = "roi_background_x_profile"
        case backgroundSubtractedSignal = "background_subtracted_signal"
        case roiErrors = "roi_errors"
    }
}

/// The focus metrics of one frame: what ``StarDetector`` found, without the star list.
public struct FocusMetrics: Sendable, Hashable, Codable {
    /// `star_count`: the stars measured (detected and not rejected).
    public var starCount: Int
    /// `median_fwhm`: the median of the stars' FWHM in pixels; nil without stars.
    public var medianFWHM: Double?
    /// `median_hfd`: the median of the stars' half-flux diameters in pixels; nil without stars.
    public var medianHFD: Double?
    /// `background`: the background level (median of the frame), in ADU.
    public var background: Double
    /// `background_sigma`: the background noise, `1.4826 * MAD`, at least 1 ADU.
    public var backgroundSigma: Double
    /// `threshold`: the detection level in ADU: `background + focus_threshold * background_sigma`.
    public var threshold: Double
    /// `rejected_saturated`: peaks at or above the saturation threshold.
    public var rejectedSaturated: Int
    /// `rejected_edge`: stars too close to the image edge for their measuring window.
    public var rejectedEdge: Int
    /// `rejected_unmeasurable`: detections whose shape could not be measured, or that are too
    /// sharp or too elongated to be stars (hot pixels, cosmic-ray hits and tracks; see
    /// ``StarDetector``).
    public var rejectedUnmeasurable: Int

    /// Creates focus metrics from their values.
    public init(starCount: Int, medianFWHM: Double?, medianHFD: Double?, background: Double, backgroundSigma: Double,
                threshold: Double, rejectedSaturated: Int, rejectedEdge: Int, rejectedUnmeasurable: Int) {
        self.starCount = starCount
        self.medianFWHM = medianFWHM
        self.medianHFD = medianHFD
        self.background = background
        self.backgroundSigma = backgroundSigma
        self.threshold = threshold
        self.rejectedSaturated = rejectedSaturated
        self.rejectedEdge = rejectedEdge
        self.rejectedUnmeasurable = rejectedUnmeasurable
    }

    enum CodingKeys: String, CodingKey {
        case background, threshold
        case starCount = "star_count"
        case medianFWHM = "median_fwhm"
        case medianHFD = "median_hfd"
        case backgroundSigma = "background_sigma"
        case rejectedSaturated = "rejected_saturated"
        case rejectedEdge = "rejected_edge"
        case rejectedUnmeasurable = "rejected_unmeasurable"
    }
}
