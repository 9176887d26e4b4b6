import Foundation

/// A compile-time switch of the main pass: each combination of switches is its own specialised
/// loop, so a part that is off costs nothing per pixel (not even a test).
protocol ScanSwitch {
    static var isOn: Bool { get }
}

enum SwitchOn: ScanSwitch {
    static var isOn: Bool { true }
}

enum SwitchOff: ScanSwitch {
    static var isOn: Bool { false }
}

/// Where the main pass accumulates. Every buffer is owned by ``FrameAnalyzer`` and reused.
struct ScanTargets {
    /// Four interleaved histograms of the raw values, 65536 bins each (pixel `x` of a row goes to
    /// histogram `x % 4`, so that a run of equal values does not serialise on one counter).
    /// All zero on entry; ``PixelHistogram/merge(_:from:through:)`` folds them into the first.
    var histograms: UnsafeMutablePointer<UInt32>
    /// Column sums, `width` of them, zero on entry.
    var columns: UnsafeMutablePointer<UInt32>
    /// Column sums of the pixels at or above the threshold, zero on entry.
    var thresholdedColumns: UnsafeMutablePointer<UInt32>
    /// Row sums, `height` of them (written, not accumulated).
    var rows: UnsafeMutablePointer<UInt32>
    /// Row sums of the pixels at or above the threshold (written).
    var thresholdedRows: UnsafeMutablePointer<UInt32>
}

/// What the main pass found besides its accumulators.
struct ScanExtrema {
    var minimum: UInt16 = .max
    /// The first row holding `minimum`.
    var minimumRow = 0
    var maximum: UInt16 = 0
    /// The first row holding `maximum`.
    var maximumRow = 0
}

/// The one pass over the pixels.
///
/// Memory is read once, row by row. For each row, a first loop (which the compiler vectorises:
/// 16-bit loads widened to 32-bit lanes) takes the row's minimum and maximum, its sum, and adds
/// the row into the column sums (and, with a centroid threshold, the thresholded sums); a second
/// loop over the same row, now in L1 cache, counts the values into the histograms. Integer
/// accumulators only: a column sum of at most 65535 rows of 16-bit values fits 32 bits, as do a
/// row sum of at most 65535 columns and a histogram count (``FrameAnalyzer`` refuses larger frames). Everything else
/// (mean, sigma, saturation, the configured histogram, the background median) is derived from the
/// 65536-bin histogram afterwards, in at most 65536 steps, whatever the frame size.
enum FrameScan {
    /// Runs the pass with the parts selected by the switch types.
    /// - Parameters:
    ///   - pixels: `width * height` values, row-major, top row first.
    ///   - threshold: the centroid threshold (used when `Thresholded` is on).
    ///   - targets: the accumulators (see ``ScanTargets`` for what must be zero).
    /// - Returns: the extreme values and the first rows holding them.
    @inline(never)
    static func run<Histogram: ScanSwitch, Columns: ScanSwitch, Thresholded: ScanSwitch>(
        _ pixels: UnsafePointer<UInt16>, width: Int, height: Int, threshold: UInt16, targets: ScanTargets,
        histogram _: Histogram.Type, columns _: Columns.Type, thresholded _: Thresholded.Type
    ) -> ScanExtrema {
        var extrema = ScanExtrema()
        let columns = targets.columns
        let thresholdedColumns = targets.thresholdedColumns
        let h0 = targets.histograms
        let h1 = h0 + 65536
        let h2 = h1 + 65536
        let h3 = h2 + 65536
        for y in 0..<height {
            let row = pixels + y &* width
            var rowMinimum = UInt16.max
            var rowMaximum = UInt16.min
            var rowSum: UInt32 = 0
            var rowThresholdedSum: UInt32 = 0
            for x in 0..<width {
                let value = row[x]
                rowMinimum = min(rowMinimum, value)
                rowMaximum = max(rowMaximum, value)
                let wide = UInt32(truncatingIfNeeded: value)
                rowSum &+= wide
                if Columns.isOn {
                    columns[x] &+= wide
                    if Thresholded.isOn {
                        let kept = value >= threshold ? wide : 0
                        thresholdedColumns[x] &+= kept
                        rowThresholdedSum &+= kept
                    }
                }
            }
            targets.rows[y] = rowSum
            if Thresholded.isOn { targets.thresholdedRows[y] = rowThresholdedSum }
            if rowMinimum < extrema.minimum {
                extrema.minimum = rowMinimum
                extrema.minimumRow = y
            }
            if rowMaximum > extrema.maximum || y == 0 {
                extrema.maximum = rowMaximum
                extrema.maximumRow = y
            }
            if Histogram.isOn {
                var x = 0
                while x &+ 8 <= width {
                    h0[Int(truncatingIfNeeded: row[x])] &+= 1
                    h1[Int(truncatingIfNeeded: row[x &+ 1])] &+= 1
                    h2[Int(truncatingIfNeeded: row[x &+ 2])] &+= 1
                    h3[Int(truncatingIfNeeded: row[x &+ 3])] &+= 1
                    h0[Int(truncatingIfNeeded: row[x &+ 4])] &+= 1
                    h1[Int(truncatingIfNeeded: row[x &+ 5])] &+= 1
                    h2[Int(truncatingIfNeeded: row[x &+ 6])] &+= 1
                    h3[Int(truncatingIfNeeded: row[x &+ 7])] &+= 1
                    x &+= 8
                }
                while x < width {
                    h0[Int(truncatingIfNeeded: row[x])] &+= 1
                    x &+= 1
                }
            }
        }
        return extrema
    }

    /// Dispatches to the specialisation of ``run(_:width:height:threshold:targets:histogram:columns:thresholded:)``
    /// matching run-time choices.
    static func run(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, threshold: UInt16?,
                    histogram: Bool, columns: Bool, targets: ScanTargets) -> ScanExtrema {
        switch (histogram, columns, threshold != nil && columns) {
        case (true, true, true):
            return run(pixels, width: width, height: height, threshold: threshold ?? 0, targets: targets,
                       histogram: SwitchOn.self, columns: SwitchOn.self, thresholded: SwitchOn.self)
        case (true, true, false):
            return run(pixels, width: width, height: height, threshold: 0, targets: targets,
                       histogram: SwitchOn.self, columns: SwitchOn.self, thresholded: SwitchOff.self)
        case (true, false, _):
            return run(pixels, width: width, height: height, threshold: 0, targets: targets,
                       histogram: SwitchOn.self, columns: SwitchOff.self, thresholded: SwitchOff.self)
        case (false, true, true):
            return run(pixels, width: width, height: height, threshold: threshold ?? 0, targets: targets,
                       histogram: SwitchOff.self, columns: SwitchOn.self, thresholded: SwitchOn.self)
        case (false, true, false):
            return run(pixels, width: width, height: height, threshold: 0, targets: targets,
                       histogram: SwitchOff.self, columns: SwitchOn.self, thresholded: SwitchOff.self)
        case (false, false, _):
            return run(pixels, width: width, height: height, threshold: 0, targets: targets,
                       histogram: SwitchOff.self, columns: SwitchOff.self, thresholded: SwitchOff.self)
        }
    }

    /// The column of the first occurrence of `value` in `row`, or 0 if absent.
    static func firstColumn(of value: UInt16, in row: UnsafePointer<UInt16>, width: Int) -> Int {
        for x in 0..<width where row[x] == value { return x }
        return 0
    }

    /// Adds the columns `roi.offsetX ..< roi.offsetX + roi.sizeX` of the rows of `roi` into
    /// `sums` (`roi.sizeX` values, zeroed here): psen's x-profile.
    static func columnSums(_ pixels: UnsafePointer<UInt16>, width: Int, roi: ROI, into sums: UnsafeMutablePointer<UInt32>) {
        sums.update(repeating: 0, count: roi.sizeX)
        let count = roi.sizeX
        for y in roi.offsetY..<(roi.offsetY + roi.sizeY) {
            let row = pixels + (y &* width &+ roi.offsetX)
            for x in 0..<count {
                sums[x] &+= UInt32(truncatingIfNeeded: row[x])
            }
        }
    }

    /// The sum and the number of the pixels in the border of width `border` (each pixel once: the
    /// top and bottom `border` rows, and the first and last `border` columns of the rows between).
    /// A border as wide as half the image or more is the whole image.
    static func borderSum(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, border: Int) -> (sum: UInt64, count: Int) {
        guard border > 0 else { return (0, 0) }
        // 2 * border >= width, written so that it cannot overflow.
        if border >= (width + 1) / 2 || border >= (height + 1) / 2 {
            return (rangeSum(pixels, count: width * height), width * height)
        }
        var sum: UInt64 = 0
        sum &+= rangeSum(pixels, count: border * width)
        sum &+= rangeSum(pixels + (height - border) * width, count: border * width)
        for y in border..<(height - border) {
            let row = pixels + y * width
            sum &+= rangeSum(row, count: border)
            sum &+= rangeSum(row + width - border, count: border)
        }
        return (sum, 2 * border * width + 2 * border * (height - 2 * border))
    }

    private static func rangeSum(_ start: UnsafePointer<UInt16>, count: Int) -> UInt64 {
        var sum: UInt64 = 0
        for index in 0..<count { sum &+= UInt64(start[index]) }
        return sum
    }
}

/// Statistics derived from a 65536-bin histogram of 16-bit values: `counts[v]` pixels of value `v`.
/// Each walks only the bins between the frame's minimum and maximum.
enum PixelHistogram {
    /// Folds histograms 1...3 of ``ScanTargets/histograms`` into histogram 0 over `low...high`,
    /// leaving 1...3 zero.
    static func merge(_ histograms: UnsafeMutablePointer<UInt32>, from low: Int, through high: Int) {
        guard low <= high else { return }
        let h1 = histograms + 65536, h2 = h1 + 65536, h3 = h2 + 65536
        for value in low...high {
            histograms[value] &+= h1[value] &+ h2[value] &+ h3[value]
            h1[value] = 0
            h2[value] = 0
            h3[value] = 0
        }
    }

    /// Sets `low...high` back to zero.
    static func clear(_ counts: UnsafeMutablePointer<UInt32>, from low: Int, through high: Int) {
        guard low <= high else { return }
        (counts + low).update(repeating: 0, count: high - low + 1)
    }

    /// The sum of the values and the population variance, `sum(c (v - mean)^2) / n` (two passes
    /// over the bins, so no cancellation).
    static func sumAndVariance(_ counts: UnsafePointer<UInt32>, from low: Int, through high: Int, pixelCount: Int)
        -> (sum: UInt64, variance: Double)
    {
        guard low <= high, pixelCount > 0 else { return (0, 0) }
        var sum: UInt64 = 0
        for value in low...high {
            sum &+= UInt64(value) &* UInt64(counts[value])
        }
        let mean = Double(sum) / Double(pixelCount)
        var squares = 0.0
        for value in low...high where counts[value] != 0 {
            let deviation = Double(value) - mean
            squares += deviation * deviation * Double(counts[value])
        }
        return (sum, squares / Double(pixelCount))
    }

    /// The number of pixels at or above `threshold`.
    static func count(_ counts: UnsafePointer<UInt32>, atLeast threshold: Int, from low: Int, through high: Int) -> Int {
        let start = max(low, threshold)
        guard start <= high else { return 0 }
        var total = 0
        for value in start...high { total &+= Int(counts[value]) }
        return total
    }

    /// Bins the values numpy's way (see ``FrameAnalysis/Histogram``) into `bins` counts.
    /// - Returns: the counts below `minimum` and above `maximum`.
    static func bin(_ counts: UnsafePointer<UInt32>, from low: Int, through high: Int, bins: Int,
                    minimum: Double, maximum: Double, into output: UnsafeMutableBufferPointer<Int>)
        -> (below: Int, above: Int)
    {
        output.update(repeating: 0)
        guard low <= high else { return (0, 0) }
        var below = 0, above = 0
        let step = (maximum - minimum) / Double(bins)
        let norm = Double(bins) / (maximum - minimum)
        // numpy's edges: linspace(minimum, maximum, bins + 1), the last edge exactly `maximum`.
        func edge(_ index: Int) -> Double { index == bins ? maximum : Double(index) * step + minimum }
        for value in low...high {
            let count = Int(counts[value])
            if count == 0 { continue }
            let v = Double(value)
            if v < minimum {
                below += count
            } else if v > maximum {
                above += count
            } else {
                var index = min(bins - 1, max(0, Int((v - minimum) * norm)))
                if v < edge(index) {
                    index -= 1
                } else if index != bins - 1 && v >= edge(index + 1) {
                    index += 1
                }
                output[index] += count
            }
        }
        return (below, above)
    }

    /// The Shannon entropy in nats of a histogram's counts.
    static func entropy(_ counts: UnsafeBufferPointer<Int>) -> Double {
        var total = 0
        for count in counts { total += count }
        guard total > 0 else { return 0 }
        let n = Double(total)
        var entropy = 0.0
        for count in counts where count > 0 {
            let p = Double(count) / n
            entropy -= p * log(p)
        }
        return entropy
    }

    /// The median (numpy's: the mean of the two middle values for an even count) and the median
    /// absolute deviation from it, exactly, from the counts of `pixelCount` values.
    static func medianAndMAD(_ counts: UnsafePointer<UInt32>, from low: Int, through high: Int, pixelCount: Int)
        -> (median: Double, mad: Double)
    {
        guard low <= high, pixelCount > 0 else { return (0, 0) }
        let lowerRank = (pixelCount - 1) / 2
        let upperRank = pixelCount / 2
        var lowerValue = -1, upperValue = -1
        var seen = 0
        for value in low...high {
            seen += Int(counts[value])
            if lowerValue < 0 && seen > lowerRank { lowerValue = value }
            if seen > upperRank {
                upperValue = value
                break
            }
        }
        let median = (Double(lowerValue) + Double(upperValue)) / 2
        // Deviations in increasing order: walk outwards from the median, taking the nearer side.
        // `left` walks down through the values <= median, `right` up through those above it.
        var left = Int(median.rounded(.down))
        var right = left + 1
        var remainingLeft = left >= low ? Int(counts[left]) : 0
        var remainingRight = right <= high ? Int(counts[right]) : 0
        var rank = 0
        var lowerDeviation = -1.0, upperDeviation = -1.0
        while true {
            while remainingLeft == 0 && left >= low {
                left -= 1
                remainingLeft = left >= low ? Int(counts[left]) : 0
            }
            while remainingRight == 0 && right <= high {
                right += 1
                remainingRight = right <= high ? Int(counts[right]) : 0
            }
            let leftDeviation = left >= low ? median - Double(left) : .infinity
            let rightDeviation = right <= high ? Double(right) - median : .infinity
            guard leftDeviation.isFinite || rightDeviation.isFinite else { break }
            let deviation: Double
            let taken: Int
            if leftDeviation <= rightDeviation {
                deviation = leftDeviation
                taken = remainingLeft
                remainingLeft = 0
            } else {
                deviation = rightDeviation
                taken = remainingRight
                remainingRight = 0
            }
            let next = rank + taken
            if lowerDeviation < 0 && next > lowerRank { lowerDeviation = deviation }
            if next > upperRank {
                upperDeviation = deviation
                break
            }
            rank = next
        }
        return (median, (lowerDeviation + upperDeviation) / 2)
    }
}
