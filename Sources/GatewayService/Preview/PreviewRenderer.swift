import Foundation

/// How the preview maps pixel values to grey levels.
public enum PreviewStretch: String, Sendable, Hashable, CaseIterable {
    /// Linear between IRAF's zscale limits (``ZScale``): the sky and faint detail stand out,
    /// stars saturate. The default.
    case zscale
    /// `asinh(x / a) / asinh(1 / a)` with `a = 0.1` (astropy's `AsinhStretch`) of `x` scaled
    /// linearly from the zscale low limit to the frame's maximum: faint detail and bright
    /// stars' cores both show.
    case asinh
    /// Linear from the frame's minimum to its maximum.
    case linear
}

/// IRAF's zscale, as astropy's `ZScaleInterval` computes it (same defaults, same sample, same
/// rejection), so that the limits agree with `ZScaleInterval().get_limits(data)` on the frame's
/// FITS file.
///
/// At most `samples` pixels are taken, every `stride`-th in memory order (`stride = max(1,
/// int(n / samples))`), and sorted; a line is fitted to the sorted values against their index
/// with iterative k-sigma rejection (the rejected mask grown by 1% of the sample each round);
/// the limits are `median -/+ slope / contrast` times the distance to the sample's centre,
/// clipped to the sample's range.
public enum ZScale {
    /// The sampled limits of `pixels`.
    /// - Parameters:
    ///   - pixels: the frame, in memory order.
    ///   - samples: astropy's `n_samples` (1000).
    ///   - contrast: astropy's `contrast` (0.25).
    ///   - maxReject: the largest fraction of the sample rejected (0.5).
    ///   - minPixels: the fewest pixels kept (5).
    ///   - krej: the rejection threshold in standard deviations (2.5).
    ///   - maxIterations: the most rejection rounds (5).
    /// - Returns: `(low, high)`; `(0, 0)` for an empty frame.
    public static func limits(_ pixels: UnsafeBufferPointer<UInt16>, samples: Int = 1000, contrast: Double = 0.25,
                              maxReject: Double = 0.5, minPixels: Int = 5, krej: Double = 2.5,
                              maxIterations: Int = 5) -> (low: Double, high: Double) {
        guard !pixels.isEmpty, samples > 0 else { return (0, 0) }
        let stride = max(1, Int(Double(pixels.count) / Double(samples)))
        var sample: [Double] = []
        sample.reserveCapacity(samples)
        var index = 0
        while index < pixels.count, sample.count < samples {
            sample.append(Double(pixels[index]))
            index += stride
        }
        sample.sort()
        return limits(sorted: sample, contrast: contrast, maxReject: maxReject, minPixels: minPixels,
                      krej: krej, maxIterations: maxIterations)
    }

    /// The limits of an already sorted sample (the fitting part of ``limits(_:samples:contrast:maxReject:minPixels:krej:maxIterations:)``).
    static func limits(sorted sample: [Double], contrast: Double, maxReject: Double, minPixels: Int,
                       krej: Double, maxIterations: Int) -> (low: Double, high: Double) {
        let count = sample.count
        guard count > 0 else { return (0, 0) }
        var low = sample[0]
        var high = sample[count - 1]
        let minimumKept = max(minPixels, Int(Double(count) * maxReject))
        var kept = count
        var lastKept = count + 1
        var bad = [Bool](repeating: false, count: count)
        let grow = max(1, Int(Double(count) * 0.01))
        var slope = 0.0
        var fitted = false
        for _ in 0..<maxIterations {
            if kept >= lastKept || kept < minimumKept { break }
            // Least squares line through the kept points (numpy's polyfit with 0/1 weights).
            var n = 0.0, sx = 0.0, sy = 0.0
            for i in 0..<count where !bad[i] {
                n += 1
                sx += Double(i)
                sy += sample[i]
            }
            let mx = sx / n, my = sy / n
            var sxx = 0.0, sxy = 0.0
            for i in 0..<count where !bad[i] {
                let dx = Double(i) - mx
                sxx += dx * dx
                sxy += dx * (sample[i] - my)
            }
            let b = sxx > 0 ? sxy / sxx : 0
            let a = my - b * mx
            slope = b
            fitted = true
            // k-sigma rejection of the residuals (the standard deviation over the kept points).
            var residuals = [Double](repeating: 0, count: count)
            var rn = 0.0, rs = 0.0
            for i in 0..<count {
                residuals[i] = sample[i] - (a + b * Double(i))
                if !bad[i] { rn += 1; rs += residuals[i] }
            }
            let rmean = rs / rn
            var rvar = 0.0
            for i in 0..<count where !bad[i] {
                let d = residuals[i] - rmean
                rvar += d * d
            }
            let threshold = krej * (rvar / rn).squareRoot()
            for i in 0..<count where residuals[i] < -threshold || residuals[i] > threshold {
                bad[i] = true
            }
            // Grow the mask as numpy.convolve(bad, ones(grow), mode="same") does.
            var prefix = [Int](repeating: 0, count: count + 1)
            for i in 0..<count { prefix[i + 1] = prefix[i] + (bad[i] ? 1 : 0) }
            let shift = (grow - 1) / 2
            for i in 0..<count {
                let upper = min(count - 1, i + shift)
                let lower = max(0, i + shift - grow + 1)
                bad[i] = upper >= lower && prefix[upper + 1] - prefix[lower] > 0
            }
            lastKept = kept
            kept = bad.lazy.filter { !$0 }.count
        }
        if fitted, kept >= minimumKept {
            if contrast > 0 { slope /= contrast }
            let centre = (count - 1) / 2
            let median = count % 2 == 1 ? sample[count / 2] : (sample[count / 2 - 1] + sample[count / 2]) / 2
            low = max(low, median - Double(centre - 1) * slope)
            high = min(high, median + Double(count - centre) * slope)
        }
        return (low, high)
    }
}

/// A frame reduced to a small 8-bit grey image for display.
public struct PreviewImage: Sendable {
    /// Pixels per row, and rows.
    public var width: Int
    /// Rows.
    public var height: Int
    /// Grey levels, `width * height`, the top row first.
    public var grey: [UInt8]
    /// The values mapped to black and to white.
    public var low: Double
    /// The value mapped to white.
    public var high: Double
    /// The stretch used.
    public var stretch: PreviewStretch

    /// astropy's `AsinhStretch` default softening.
    public static let asinhSoftening = 0.1

    /// Renders a frame: box-averages it down to `width` columns (never up; the height follows
    /// the aspect ratio), turns it the right way up, and stretches it to 8 bits.
    /// - Parameters:
    ///   - pixels: the frame, `frameWidth * frameHeight` pixels in memory order.
    ///   - frameWidth: pixels per row.
    ///   - frameHeight: rows.
    ///   - topDown: whether the first row in memory is the top of the image (false for Andor:
    ///     the first row is the bottom, and the preview flips it).
    ///   - width: the requested width.
    ///   - stretch: the stretch.
    public static func render(_ pixels: UnsafeBufferPointer<UInt16>, frameWidth: Int, frameHeight: Int, topDown: Bool,
                              width requested: Int, stretch: PreviewStretch) -> PreviewImage {
        precondition(frameWidth > 0 && frameHeight > 0 && pixels.count >= frameWidth * frameHeight)
        let outWidth = max(1, min(requested, frameWidth))
        let outHeight = max(1, min(frameHeight, Int((Double(frameHeight) * Double(outWidth) / Double(frameWidth)).rounded())))

        // Which output column each source column adds to, and each output column's box width.
        var column = [Int32](repeating: 0, count: frameWidth)
        var columnSpan = [Int](repeating: 0, count: outWidth)
        for x in 0..<frameWidth {
            let target = min(outWidth - 1, x * outWidth / frameWidth)
            column[x] = Int32(target)
            columnSpan[target] += 1
        }

        var averaged = [Double](repeating: 0, count: outWidth * outHeight)
        var sums = [UInt64](repeating: 0, count: outWidth)
        var minimum = UInt16.max
        var maximum = UInt16.min
        column.withUnsafeBufferPointer { column in
            sums.withUnsafeMutableBufferPointer { sums in
                for row in 0..<outHeight {
                    // Image rows (from the top) row * H / h ..< (row + 1) * H / h.
                    let first = row * frameHeight / outHeight
                    let end = max(first + 1, (row + 1) * frameHeight / outHeight)
                    for i in 0..<outWidth { sums[i] = 0 }
                    for y in first..<end {
                        let memoryRow = topDown ? y : frameHeight - 1 - y
                        let base = memoryRow * frameWidth
                        var rowMinimum = UInt16.max
                        var rowMaximum = UInt16.min
                        for x in 0..<frameWidth {
                            let value = pixels[base + x]
                            sums[Int(column[x])] &+= UInt64(value)
                            rowMinimum = min(rowMinimum, value)
                            rowMaximum = max(rowMaximum, value)
                        }
                        minimum = min(minimum, rowMinimum)
                        maximum = max(maximum, rowMaximum)
                    }
                    let rows = Double(end - first)
                    let outBase = row * outWidth
                    for i in 0..<outWidth {
                        averaged[outBase + i] = Double(sums[i]) / (rows * Double(columnSpan[i]))
                    }
                }
            }
        }

        let low: Double
        let high: Double
        switch stretch {
        case .zscale:
            (low, high) = ZScale.limits(pixels)
        case .asinh:
            low = ZScale.limits(pixels).low
            high = Double(maximum)
        case .linear:
            low = Double(minimum)
            high = Double(maximum)
        }
        let grey = Self.stretch(averaged, low: low, high: high, stretch: stretch)
        return PreviewImage(width: outWidth, height: outHeight, grey: grey, low: low, high: high, stretch: stretch)
    }

    /// Maps values to grey levels: `(v - low) / (high - low)` clipped to 0...1, through the
    /// stretch's curve, times 255, rounded.
    static func stretch(_ values: [Double], low: Double, high: Double, stretch: PreviewStretch) -> [UInt8] {
        let range = high - low
        let scale = range > 0 ? 1 / range : 0
        var grey = [UInt8](repeating: 0, count: values.count)
        switch stretch {
        case .zscale, .linear:
            for i in values.indices {
                let t = min(1, max(0, (values[i] - low) * scale))
                grey[i] = UInt8((t * 255).rounded())
            }
        case .asinh:
            let a = asinhSoftening
            let norm = 1 / Foundation.asinh(1 / a)
            // 4096 steps of the normalised value are finer than 8 bits anywhere on the curve.
            let steps = 4096
            let table = (0...steps).map { UInt8((Foundation.asinh(Double($0) / Double(steps) / a) * norm * 255).rounded()) }
            for i in values.indices {
                let t = min(1, max(0, (values[i] - low) * scale))
                grey[i] = table[Int((t * Double(steps)).rounded())]
            }
        }
        return grey
    }
}
