/// Analyses 16-bit frames: psen_processing's ROI profiles, areaDetector's statistics and focus
/// metrics, as an ``AnalysisConfiguration`` selects.
///
/// How it works: one pass over the pixels computes each row's minimum, maximum and sum, the
/// column sums and a 65536-bin histogram of the raw values, in integers (rows are read once from
/// memory; a first, vectorised loop over the row does the sums and extremes, a second counts its
/// values while the row is still in L1 cache). The statistics are then derived from those: mean,
/// sigma, saturation, the configured histogram and the background median from the 65536-bin
/// histogram, in at most 65536 steps whatever the frame size; centroid and profiles from the
/// column and row sums. The ROI profiles and the border for `net` are small separate passes over
/// their own pixels; star detection (focus on) is one more pass, over the rows, comparing with the
/// detection level, then work per star.
///
/// Memory: the analyzer keeps its accumulators between frames and only allocates when a frame
/// needs more than any before (a larger frame, more star candidates); ``bufferAllocations``
/// counts it. With ``analyze(pixels:width:height:configuration:into:)`` and a result kept from the
/// previous frame of the same size and not shared, the result's arrays are filled in place too,
/// so a steady stream of frames allocates nothing at all. A result that is also kept elsewhere
/// (a history of the last N results) is copied on write instead: correct, one allocation per
/// array. ``analyze(pixels:width:height:configuration:)`` allocates the result's arrays (profiles,
/// histogram counts) for each frame.
///
/// Threading: an analyzer is used by one thread at a time (it is not `Sendable`); make one per
/// processing thread.
public final class FrameAnalyzer {
    /// How many times the analyzer has allocated working memory. It stops growing once frames
    /// of the largest size have been seen with every part on: a test of "no allocation after
    /// warm-up".
    public var bufferAllocations: Int { allocations + detector.bufferAllocations }

    private var allocations = 0

    /// The largest width and height accepted: column sums, row sums and histogram counts are
    /// 32-bit, which holds 65535 x 65535 values of 65535.
    public static let maximumDimension = 65535

    private var histograms = ScratchBuffer<UInt32>()
    private var columns = ScratchBuffer<UInt32>()
    private var thresholdedColumns = ScratchBuffer<UInt32>()
    private var rows = ScratchBuffer<UInt32>()
    private var thresholdedRows = ScratchBuffer<UInt32>()
    private var signalSums = ScratchBuffer<UInt32>()
    private var backgroundSums = ScratchBuffer<UInt32>()
    private let detector = StarDetector()

    /// An analyzer with no memory yet; the first frame allocates it.
    public init() {}

    deinit {
        histograms.release()
        columns.release()
        thresholdedColumns.release()
        rows.release()
        thresholdedRows.release()
        signalSums.release()
        backgroundSums.release()
    }

    /// Analyses one frame into a new result.
    /// - Parameters:
    ///   - pixels: the frame, row-major, top row first; the first `width * height` values are used.
    ///   - width: the frame width in pixels, 1...65535.
    ///   - height: the frame height in pixels, 1...65535.
    ///   - configuration: what to compute.
    /// - Returns: the analysis; ROIs that do not fit this frame are reported in
    ///   ``FrameAnalysis/roiErrors``, not thrown.
    /// - Throws: ``AnalysisError`` `invalid_argument` when the size is out of range, `pixels`
    ///   holds fewer than `width * height` values, or the configuration is invalid.
    public func analyze(pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
                        configuration: AnalysisConfiguration) throws(AnalysisError) -> FrameAnalysis {
        var result = FrameAnalysis(width: width, height: height)
        try analyze(pixels: pixels, width: width, height: height, configuration: configuration, into: &result)
        return result
    }

    /// Analyses one frame into `result`, reusing its arrays when their sizes match (the
    /// allocation-free form for a stream of frames).
    /// - Parameters:
    ///   - pixels: the frame, row-major, top row first; the first `width * height` values are used.
    ///   - width: the frame width in pixels, 1...65535.
    ///   - height: the frame height in pixels, 1...65535.
    ///   - configuration: what to compute.
    ///   - result: overwritten entirely: parts switched off become nil.
    /// - Throws: ``AnalysisError`` `invalid_argument` (see ``analyze(pixels:width:height:configuration:)``);
    ///   `result` is then left unchanged.
    public func analyze(pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
                        configuration: AnalysisConfiguration, into result: inout FrameAnalysis) throws(AnalysisError) {
        guard (1...Self.maximumDimension).contains(width), (1...Self.maximumDimension).contains(height) else {
            throw AnalysisError(.invalidArgument, "frame size \(width)x\(height): width and height must be within "
                + "1...\(Self.maximumDimension)")
        }
        let pixelCount = width * height
        guard pixels.count >= pixelCount, let base = pixels.baseAddress else {
            throw AnalysisError(.invalidArgument, "the frame holds \(pixels.count) pixels, \(width)x\(height) needs \(pixelCount)")
        }
        try configuration.validate()

        result.width = width
        result.height = height
        let c = configuration
        let needHistogram = c.meanSigma || c.histogram || c.saturation || c.focus
        let needColumns = c.profiles || c.centroid
        let threshold: UInt16? = c.centroid && c.centroidThreshold > 0 ? UInt16(c.centroidThreshold) : nil
        let needScan = needHistogram || needColumns || c.minMax || c.total || c.net

        if needScan {
            // A part that is off gets the row sums as a stand-in pointer: its loop never touches it.
            let rowSums = rows.reserve(height, allocations: &allocations)
            let targets = ScanTargets(
                histograms: needHistogram ? zeroedHistograms() : rowSums,
                columns: needColumns ? zeroed(&columns, width) : rowSums,
                thresholdedColumns: threshold != nil ? zeroed(&thresholdedColumns, width) : rowSums,
                rows: rowSums,
                thresholdedRows: threshold != nil ? thresholdedRows.reserve(height, allocations: &allocations)
                    : rowSums)
            let extrema = FrameScan.run(base, width: width, height: height, threshold: threshold,
                                        histogram: needHistogram, columns: needColumns, targets: targets)
            deriveStatistics(base, width: width, height: height, configuration: c, threshold: threshold,
                             targets: targets, extrema: extrema, histogram: needHistogram, into: &result)
        } else {
            clearStatistics(&result)
        }
        roiProfiles(base, width: width, height: height, configuration: c, into: &result)
    }

    // MARK: Statistics

    private func deriveStatistics(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int,
                                  configuration c: AnalysisConfiguration, threshold: UInt16?, targets: ScanTargets,
                                  extrema: ScanExtrema, histogram needHistogram: Bool, into result: inout FrameAnalysis) {
        let pixelCount = width * height
        let low = Int(extrema.minimum)
        let high = Int(extrema.maximum)

        var total: UInt64 = 0
        for y in 0..<height { total &+= UInt64(targets.rows[y]) }

        if c.minMax {
            result.minMax = FrameAnalysis.Extrema(
                minimum: low,
                minimumX: FrameScan.firstColumn(of: extrema.minimum, in: pixels + extrema.minimumRow * width, width: width),
                minimumY: extrema.minimumRow,
                maximum: high,
                maximumX: FrameScan.firstColumn(of: extrema.maximum, in: pixels + extrema.maximumRow * width, width: width),
                maximumY: extrema.maximumRow)
        } else {
            result.minMax = nil
        }
        result.total = c.total ? Int(total) : nil

        if c.net {
            let border = FrameScan.borderSum(pixels, width: width, height: height, border: c.netBorderWidth)
            let background = border.count > 0 ? Double(border.sum) / Double(border.count) : 0
            result.netBackground = background
            result.net = Double(total) - background * Double(pixelCount)
        } else {
            result.net = nil
            result.netBackground = nil
        }

        if needHistogram {
            let counts = targets.histograms
            PixelHistogram.merge(counts, from: low, through: high)
            if c.meanSigma {
                let moments = PixelHistogram.sumAndVariance(counts, from: low, through: high, pixelCount: pixelCount)
                result.mean = Double(moments.sum) / Double(pixelCount)
                result.sigma = moments.variance.squareRoot()
            } else {
                result.mean = nil
                result.sigma = nil
            }
            result.saturatedPixels = c.saturation
                ? PixelHistogram.count(counts, atLeast: c.saturationThreshold, from: low, through: high) : nil
            if c.histogram {
                histogram(counts, low: low, high: high, configuration: c, into: &result)
            } else {
                result.histogram = nil
            }
            if c.focus {
                let background = PixelHistogram.medianAndMAD(counts, from: low, through: high, pixelCount: pixelCount)
                detector.configuration.threshold = c.focusThreshold
                detector.configuration.saturationLevel = c.saturationThreshold
                result.focus = detector.detect(pixels, width: width, height: height,
                                               median: background.median, mad: background.mad)
            } else {
                result.focus = nil
            }
            PixelHistogram.clear(counts, from: low, through: high)
        } else {
            result.mean = nil
            result.sigma = nil
            result.saturatedPixels = nil
            result.histogram = nil
            result.focus = nil
        }

        if c.centroid {
            let columnWeights = threshold != nil ? targets.thresholdedColumns : targets.columns
            let rowWeights = threshold != nil ? targets.thresholdedRows : targets.rows
            result.centroid = centroid(columns: columnWeights, width: width, rows: rowWeights, height: height,
                                       threshold: c.centroidThreshold)
        } else {
            result.centroid = nil
        }

        if c.profiles {
            let average = c.profileMode == .average
            let columnScale = average ? 1 / Double(height) : 1
            let rowScale = average ? 1 / Double(width) : 1
            fillInPlace(&result.profileX, count: width) { output in
                for x in 0..<width { output[x] = Double(targets.columns[x]) * columnScale }
            }
            fillInPlace(&result.profileY, count: height) { output in
                for y in 0..<height { output[y] = Double(targets.rows[y]) * rowScale }
            }
        } else {
            result.profileX = nil
            result.profileY = nil
        }
    }

    private func clearStatistics(_ result: inout FrameAnalysis) {
        result.minMax = nil
        result.mean = nil
        result.sigma = nil
        result.total = nil
        result.net = nil
        result.netBackground = nil
        result.centroid = nil
        result.histogram = nil
        result.profileX = nil
        result.profileY = nil
        result.saturatedPixels = nil
        result.focus = nil
    }

    private func histogram(_ counts: UnsafePointer<UInt32>, low: Int, high: Int, configuration c: AnalysisConfiguration,
                           into result: inout FrameAnalysis) {
        var binned = result.histogram?.counts
        result.histogram = nil  // so that `binned` is the only reference and is filled in place
        var outside = (below: 0, above: 0)
        fillInPlace(&binned, count: c.histogramBins) { output in
            outside = PixelHistogram.bin(counts, from: low, through: high, bins: c.histogramBins,
                                         minimum: c.histogramMinimum, maximum: c.histogramMaximum, into: output)
        }
        let entropy = binned!.withUnsafeBufferPointer { PixelHistogram.entropy($0) }
        result.histogram = FrameAnalysis.Histogram(bins: c.histogramBins, minimum: c.histogramMinimum,
                                                   maximum: c.histogramMaximum, counts: binned!,
                                                   below: outside.below, above: outside.above, entropy: entropy)
    }

    private func centroid(columns: UnsafePointer<UInt32>, width: Int, rows: UnsafePointer<UInt32>, height: Int,
                          threshold: Int) -> FrameAnalysis.Centroid {
        var weight: UInt64 = 0
        var xWeighted: UInt64 = 0
        for x in 0..<width {
            weight &+= UInt64(columns[x])
            xWeighted &+= UInt64(x) &* UInt64(columns[x])
        }
        guard weight > 0 else {
            return FrameAnalysis.Centroid(threshold: threshold, total: 0, x: nil, y: nil, sigmaX: nil, sigmaY: nil)
        }
        var yWeighted: UInt64 = 0
        for y in 0..<height { yWeighted &+= UInt64(y) &* UInt64(rows[y]) }
        let total = Double(weight)
        let cx = Double(xWeighted) / total
        let cy = Double(yWeighted) / total
        var xx = 0.0, yy = 0.0
        for x in 0..<width where columns[x] != 0 {
            let d = Double(x) - cx
            xx += d * d * Double(columns[x])
        }
        for y in 0..<height where rows[y] != 0 {
            let d = Double(y) - cy
            yy += d * d * Double(rows[y])
        }
        return FrameAnalysis.Centroid(threshold: threshold, total: Int(weight), x: cx, y: cy,
                                      sigmaX: (xx / total).squareRoot(), sigmaY: (yy / total).squareRoot())
    }

    // MARK: ROIs

    private func roiProfiles(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int,
                             configuration c: AnalysisConfiguration, into result: inout FrameAnalysis) {
        result.roiErrors.removeAll(keepingCapacity: true)
        var signal: ROI?
        var background: ROI?
        if let roi = c.signalROI {
            if let problem = roi.validate(width: width, height: height, field: "roi_signal") {
                result.roiErrors.append(problem)
            } else {
                signal = roi
            }
        }
        if let roi = c.backgroundROI {
            if let problem = roi.validate(width: width, height: height, field: "roi_background") {
                result.roiErrors.append(problem)
            } else {
                background = roi
            }
        }
        if let signal {
            let sums = signalSums.reserve(signal.sizeX, allocations: &allocations)
            FrameScan.columnSums(pixels, width: width, roi: signal, into: sums)
            fillInPlace(&result.roiSignalXProfile, count: signal.sizeX) { output in
                for x in 0..<signal.sizeX { output[x] = Double(sums[x]) }
            }
        } else {
            result.roiSignalXProfile = nil
        }
        if let background {
            let sums = backgroundSums.reserve(background.sizeX, allocations: &allocations)
            FrameScan.columnSums(pixels, width: width, roi: background, into: sums)
            fillInPlace(&result.roiBackgroundXProfile, count: background.sizeX) { output in
                for x in 0..<background.sizeX { output[x] = Double(sums[x]) }
            }
        } else {
            result.roiBackgroundXProfile = nil
        }
        if let signal, let background {
            if signal.sizeX == background.sizeX {
                let scale = Double(signal.sizeY) / Double(background.sizeY)
                let signalSums = signalSums.base!
                let backgroundSums = backgroundSums.base!
                fillInPlace(&result.backgroundSubtractedSignal, count: signal.sizeX) { output in
                    for x in 0..<signal.sizeX {
                        output[x] = Double(signalSums[x]) - Double(backgroundSums[x]) * scale
                    }
                }
            } else {
                result.roiErrors.append("roi_background: size_x \(background.sizeX) differs from roi_signal's "
                    + "\(signal.sizeX): no background-subtracted signal")
                result.backgroundSubtractedSignal = nil
            }
        } else {
            result.backgroundSubtractedSignal = nil
        }
    }

    // MARK: Buffers

    private func zeroedHistograms() -> UnsafeMutablePointer<UInt32> {
        if let base = histograms.base { return base }  // kept zero between frames
        let base = histograms.reserve(4 * 65536, allocations: &allocations)
        base.initialize(repeating: 0, count: 4 * 65536)
        return base
    }

    private func zeroed(_ buffer: inout ScratchBuffer<UInt32>, _ count: Int) -> UnsafeMutablePointer<UInt32> {
        let base = buffer.reserve(count, allocations: &allocations)
        base.update(repeating: 0, count: count)
        return base
    }
}
