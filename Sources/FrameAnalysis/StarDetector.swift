import Foundation

/// One star as ``StarDetector`` measured it.
public struct Star: Sendable, Hashable, Codable {
    /// `x`: the centre's column (Gaussian-weighted centroid), in pixels; pixel `(i, j)` is centred
    /// on `(i, j)`.
    public var x: Double
    /// `y`: the centre's row, likewise.
    public var y: Double
    /// `peak`: the brightest pixel's raw value.
    public var peak: Int
    /// `flux`: the background-subtracted sum within the measuring aperture (radius `4 sigma`).
    public var flux: Double
    /// `background`: the local background, the median of an annulus around the aperture.
    public var background: Double
    /// `fwhm`: the full width at half maximum in pixels, `2 sqrt(2 ln 2) sigma` of the Gaussian with
    /// the same Gaussian-weighted second moments (see ``StarDetector``).
    public var fwhm: Double
    /// `hfd`: the half-flux diameter in pixels: the diameter of the circle, centred on the star,
    /// holding half of `flux`.
    public var hfd: Double
    /// `ellipticity`: `(a^2 - b^2) / (a^2 + b^2)` of the weighted second moments (0 for a round
    /// star, 1 for a line).
    public var ellipticity: Double

    /// Creates a star from its measurements.
    public init(x: Double, y: Double, peak: Int, flux: Double, background: Double, fwhm: Double, hfd: Double,
                ellipticity: Double = 0) {
        self.x = x
        self.y = y
        self.peak = peak
        self.flux = flux
        self.background = background
        self.fwhm = fwhm
        self.hfd = hfd
        self.ellipticity = ellipticity
    }
}

/// What one ``StarDetector/detect(pixels:width:height:)`` found.
public struct StarDetection: Sendable, Hashable, Codable {
    /// `metrics`: star count, medians, background, rejections.
    public var metrics: FocusMetrics
    /// `stars`: every star measured, brightest peak first.
    public var stars: [Star]

    /// Creates a detection.
    public init(metrics: FocusMetrics, stars: [Star]) {
        self.metrics = metrics
        self.stars = stars
    }
}

/// Finds stars in a frame and measures their FWHM and half-flux diameter: the focus metrics.
///
/// 1. **Background.** The median and the MAD of the frame give the background level and its
///    noise, `sigma = 1.4826 * MAD` (at least 1 ADU, the quantisation step). Standing alone the
///    detector takes them from a subsample (every k-th row, about ``Configuration/backgroundRows``
///    rows); inside ``FrameAnalyzer`` from the exact 65536-bin histogram of the whole frame, which
///    the analyzer has already built.
/// 2. **Detection.** A candidate is a pixel above `median + threshold * sigma` that is a local
///    maximum of its 3x3 neighbourhood (on a plateau, the first pixel in row-major order).
///    Candidates are taken brightest first; one within the area of a star already taken (the
///    larger of ``Configuration/minimumSeparation``, the star's extent above the detection level
///    and its measuring aperture) is part of that star and skipped.
/// 3. **Rejection.** A peak at or above ``Configuration/saturationLevel`` is rejected (its flat
///    top would widen it); so is a star whose measuring window or background annulus leaves the
///    image (edge), one whose shape does not converge or is wider than
///    ``Configuration/maximumRadius`` allows, one sharper than ``Configuration/minimumFWHM``
///    (a cosmic-ray hit or a hot pixel) and one more elongated than
///    ``Configuration/maximumEllipticity`` (a cosmic-ray track, which can be a few pixels long).
/// 4. **FWHM**, from second moments with a matched Gaussian weight (the adaptive moments of
///    Bernstein & Jarvis 2002): with a weight `W = exp(-r^2 / 2w^2)` centred on the star, the
///    weighted variance `p^2` of a Gaussian of variance `s^2` is `s^2 w^2 / (s^2 + w^2)`, so
///    `s^2 = p^2 w^2 / (w^2 - p^2)`; iterating `w <- s` (and moving the weight's centre to the
///    star's) converges in a few steps. The weight keeps the noise of the far pixels out, which
///    raw second moments do not, and needs no non-linear fit. The background is the median of
///    an annulus from `4s + 1` to `4s + 4` pixels. FWHM = `2 sqrt(2 ln 2) s` = 2.3548 s, where `s`
///    is the mean of the x and y sigmas. For a star sampled by pixels, `s^2` is the PSF's
///    variance plus 1/12 (the pixel), as for any second moment.
/// 5. **HFD**, model-free: the flux within the aperture of radius `max(4s, 3)` is spread over a
///    fine radial profile (each pixel split into sub-pixels, 2x2 to 6x6 as the star gets smaller,
///    so that small stars are not quantised by whole pixels), and the radius where the cumulative
///    flux reaches half the total is interpolated. Spreading a pixel over its area widens the
///    profile by the pixel once more, which adds `8 ln 2 / 12` (0.46 px^2) to a Gaussian's HFD^2;
///    that term is subtracted. For a Gaussian, HFD equals FWHM.
///
/// The frame's metrics are the medians of the stars' FWHM and HFD. Working memory is kept
/// between detections (a mask of the frame's size, candidate and star lists), so detecting on
/// frames of one size allocates nothing after the first.
public final class StarDetector {
    /// The detector's parameters; JSON keys snake_case.
    public struct Configuration: Sendable, Hashable, Codable {
        /// `threshold`: the detection level in background sigmas above the background median.
        public var threshold: Double = 5
        /// `minimum_separation`: the least distance in pixels between two stars' peaks.
        public var minimumSeparation: Double = 5
        /// `saturation_level`: a peak at or above this value is rejected as saturated.
        public var saturationLevel: Int = 65535
        /// `minimum_fwhm`: detections sharper than this (pixels) are not stars.
        public var minimumFWHM: Double = 1
        /// `maximum_ellipticity`: detections more elongated than this are not stars (0.5 is an
        /// axis ratio of 1.7; a cosmic-ray track of 2 pixels measures about 0.6).
        public var maximumEllipticity: Double = 0.5
        /// `maximum_radius`: the largest measuring window, background annulus included, in
        /// pixels from the centre; it bounds the measurable FWHM to about `2.35 * (R - 5) / 4`
        /// (16 pixels with the default 32).
        public var maximumRadius: Int = 32
        /// `maximum_stars`: at most this many stars are measured, brightest first.
        public var maximumStars: Int = 500
        /// `background_rows`: about how many rows are sampled for the background when the
        /// detector runs on its own.
        public var backgroundRows: Int = 256

        /// The defaults.
        public init() {}

        enum CodingKeys: String, CodingKey {
            case threshold
            case minimumSeparation = "minimum_separation"
            case saturationLevel = "saturation_level"
            case minimumFWHM = "minimum_fwhm"
            case maximumEllipticity = "maximum_ellipticity"
            case maximumRadius = "maximum_radius"
            case maximumStars = "maximum_stars"
            case backgroundRows = "background_rows"
        }
    }

    /// The parameters used by the next detection.
    public var configuration: Configuration

    /// The stars measured by the last detection, brightest peak first.
    public private(set) var stars: [Star] = []

    /// How many times the detector has allocated working memory (see
    /// ``FrameAnalyzer/bufferAllocations``).
    public private(set) var bufferAllocations = 0

    /// At most this many candidates are kept per frame (a frame whose background estimate is far
    /// off could otherwise make millions); later ones are ignored.
    static let maximumCandidates = 100_000

    private struct Candidate {
        var index: Int
        var value: UInt16
    }

    private var mask = ScratchBuffer<UInt8>()
    private var candidates = ScratchBuffer<Candidate>()
    private var marks = ScratchBuffer<SIMD3<Int32>>()
    private var weightsX = ScratchBuffer<Double>()
    private var offsetsX = ScratchBuffer<Double>()
    private var ring = ScratchBuffer<Double>()
    private var radial = ScratchBuffer<Double>()
    private var widths = ScratchBuffer<Double>()
    private var diameters = ScratchBuffer<Double>()
    private var histogram = ScratchBuffer<UInt32>()

    /// Radial bins of the half-flux profile.
    private static let radialBins = 256

    /// FWHM over sigma for a Gaussian, `2 sqrt(2 ln 2)`.
    static let fwhmPerSigma = 2 * (2 * log(2.0)).squareRoot()

    /// What spreading the pixels over their area adds to a Gaussian's HFD^2: `(8 ln 2) / 12`.
    static let pixelBoxHFDSquared = 8 * log(2.0) / 12

    /// Creates a detector.
    ///
    /// - Parameter configuration: the detection parameters.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    deinit {
        mask.release()
        candidates.release()
        marks.release()
        weightsX.release()
        offsetsX.release()
        ring.release()
        radial.release()
        widths.release()
        diameters.release()
        histogram.release()
    }

    /// Detects and measures the stars of a frame.
    /// - Parameters:
    ///   - pixels: the frame, row-major, top row first; the first `width * height` values are used.
    ///   - width: the frame width in pixels.
    ///   - height: the frame height in pixels.
    /// - Returns: the metrics and the stars.
    /// - Throws: ``AnalysisError`` `invalid_argument` when the size is outside
    ///   1...``FrameAnalyzer/maximumDimension`` or `pixels` is too short.
    public func detect(pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int) throws(AnalysisError) -> StarDetection {
        guard width > 0, height > 0, width <= FrameAnalyzer.maximumDimension, height <= FrameAnalyzer.maximumDimension else {
            throw AnalysisError(.invalidArgument, "frame size \(width)x\(height): width and height must be within "
                + "1...\(FrameAnalyzer.maximumDimension)")
        }
        guard pixels.count >= width * height, let base = pixels.baseAddress else {
            throw AnalysisError(.invalidArgument, "the frame holds \(pixels.count) pixels, \(width)x\(height) needs \(width * height)")
        }
        let background = sampledBackground(base, width: width, height: height)
        let metrics = detect(base, width: width, height: height, median: background.median, mad: background.mad)
        return StarDetection(metrics: metrics, stars: stars)
    }

    /// The median and MAD of every k-th row.
    private func sampledBackground(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int) -> (median: Double, mad: Double) {
        let counts = histogram.reserveZeroed(65536, allocations: &bufferAllocations)  // zero between uses
        let step = max(1, height / max(1, configuration.backgroundRows))
        var low = 65535, high = 0, sampled = 0
        var y = 0
        while y < height {
            let row = pixels + y * width
            for x in 0..<width {
                let value = Int(row[x])
                counts[value] &+= 1
                low = min(low, value)
                high = max(high, value)
            }
            sampled += width
            y += step
        }
        let result = PixelHistogram.medianAndMAD(counts, from: low, through: high, pixelCount: sampled)
        PixelHistogram.clear(counts, from: low, through: high)
        return result
    }

    /// Detects with a known background (the analyzer's exact median and MAD); fills ``stars``.
    func detect(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, median: Double, mad: Double) -> FocusMetrics {
        let settings = configuration
        let sigma = max(1.4826 * mad, 1)
        let level = median + settings.threshold * sigma
        stars.removeAll(keepingCapacity: true)
        var metrics = FocusMetrics(starCount: 0, medianFWHM: nil, medianHFD: nil, background: median,
                                   backgroundSigma: sigma, threshold: level, rejectedSaturated: 0,
                                   rejectedEdge: 0, rejectedUnmeasurable: 0)
        guard level < 65535 else { return metrics }
        let floorLevel = UInt16(max(0, level.rounded(.down)))  // v > level  <=>  v > floor(level)

        let found = findCandidates(pixels, width: width, height: height, above: floorLevel)
        guard found > 0 else { return metrics }
        let list = UnsafeMutableBufferPointer(start: candidates.base!, count: found)
        InPlace.sort(list) { $0.value != $1.value ? $0.value > $1.value : $0.index < $1.index }

        let pixelCount = width * height
        let maskBase = mask.reserveZeroed(pixelCount, allocations: &bufferAllocations)  // zero between uses
        let marksBase = marks.reserve(candidates.capacity, allocations: &bufferAllocations)
        var markCount = 0
        let maximumRadius = max(4, settings.maximumRadius)
        let window = 2 * maximumRadius + 1
        let workspace = Workspace(
            weights: weightsX.reserve(window, allocations: &bufferAllocations),
            offsets: offsetsX.reserve(window, allocations: &bufferAllocations),
            ring: ring.reserve(window * window, allocations: &bufferAllocations),
            radial: radial.reserve(Self.radialBins, allocations: &bufferAllocations))
        let fwhmList = widths.reserve(max(1, settings.maximumStars), allocations: &bufferAllocations)
        let hfdList = diameters.reserve(max(1, settings.maximumStars), allocations: &bufferAllocations)

        for candidate in list {
            if stars.count >= settings.maximumStars { break }
            if maskBase[candidate.index] != 0 { continue }
            let px = candidate.index % width
            let py = candidate.index / width
            let extent = self.extent(pixels, width: width, height: height, x: px, y: py, above: floorLevel,
                                     limit: maximumRadius)
            var exclusion = max(settings.minimumSeparation, Double(extent))
            if Int(candidate.value) >= settings.saturationLevel {
                metrics.rejectedSaturated += 1
            } else {
                switch measure(pixels, width: width, height: height, peakX: px, peakY: py,
                               initialSigma: max(1, Double(extent) / 2), globalBackground: median,
                               maximumRadius: maximumRadius, workspace: workspace) {
                case .star(var star, let aperture):
                    if star.fwhm < settings.minimumFWHM || star.ellipticity > settings.maximumEllipticity {
                        metrics.rejectedUnmeasurable += 1
                    } else {
                        star.peak = Int(candidate.value)
                        fwhmList[stars.count] = star.fwhm
                        hfdList[stars.count] = star.hfd
                        stars.append(star)
                        exclusion = max(exclusion, aperture)
                    }
                case .edge:
                    metrics.rejectedEdge += 1
                case .unmeasurable:
                    metrics.rejectedUnmeasurable += 1
                }
            }
            let radius = Int32(min(Double(maximumRadius), exclusion.rounded(.up)))
            marksBase[markCount] = SIMD3(Int32(px), Int32(py), radius)
            markCount += 1
            paint(maskBase, width: width, height: height, mark: marksBase[markCount - 1], value: 1)
        }
        for index in 0..<markCount {
            paint(maskBase, width: width, height: height, mark: marksBase[index], value: 0)
        }

        metrics.starCount = stars.count
        metrics.medianFWHM = InPlace.median(UnsafeMutableBufferPointer(start: fwhmList, count: stars.count))
        metrics.medianHFD = InPlace.median(UnsafeMutableBufferPointer(start: hfdList, count: stars.count))
        return metrics
    }

    // MARK: Detection

    /// Collects the local maxima above `level` into ``candidates``; returns how many.
    private func findCandidates(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, above level: UInt16) -> Int {
        var count = 0
        var list = candidates.reserve(1024, allocations: &bufferAllocations)
        var capacity = candidates.capacity
        let threshold = SIMD8<UInt16>(repeating: level)
        for y in 0..<height {
            let row = pixels + y * width
            let raw = UnsafeRawPointer(row)
            var x = 0
            while x < width {
                if x + 8 <= width {
                    let block = raw.loadUnaligned(fromByteOffset: x * 2, as: SIMD8<UInt16>.self)
                    if !any(block .> threshold) {
                        x += 8
                        continue
                    }
                }
                let end = min(width, x + 8)
                while x < end {
                    let value = row[x]
                    if value > level && isLocalMaximum(pixels, width: width, height: height, x: x, y: y, value: value) {
                        if count == capacity {
                            guard capacity < Self.maximumCandidates else { return count }
                            list = candidates.grow(keeping: count, allocations: &bufferAllocations)
                            capacity = candidates.capacity
                        }
                        list[count] = Candidate(index: y * width + x, value: value)
                        count += 1
                    }
                    x += 1
                }
            }
        }
        return count
    }

    /// Whether no neighbour is brighter, and no neighbour earlier in row-major order is as bright.
    @inline(__always)
    private func isLocalMaximum(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, x: Int, y: Int,
                                value: UInt16) -> Bool {
        for dy in -1...1 {
            let yy = y + dy
            if yy < 0 || yy >= height { continue }
            let row = pixels + yy * width
            for dx in -1...1 where dx != 0 || dy != 0 {
                let xx = x + dx
                if xx < 0 || xx >= width { continue }
                let neighbour = row[xx]
                if neighbour > value { return false }
                if neighbour == value && (dy < 0 || (dy == 0 && dx < 0)) { return false }
            }
        }
        return true
    }

    /// How far from the peak, along the row and the column, the pixels stay above `level`.
    private func extent(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, x: Int, y: Int, above level: UInt16,
                        limit: Int) -> Int {
        var longest = 1
        for direction in 0..<4 {
            let dx = direction == 0 ? 1 : direction == 1 ? -1 : 0
            let dy = direction == 2 ? 1 : direction == 3 ? -1 : 0
            var step = 1
            while step < limit {
                let xx = x + dx * step, yy = y + dy * step
                if xx < 0 || xx >= width || yy < 0 || yy >= height || pixels[yy * width + xx] <= level { break }
                step += 1
            }
            longest = max(longest, step)
        }
        return longest
    }

    /// Sets the disk of a mark to `value` in the mask.
    private func paint(_ mask: UnsafeMutablePointer<UInt8>, width: Int, height: Int, mark: SIMD3<Int32>, value: UInt8) {
        let cx = Int(mark.x), cy = Int(mark.y), radius = Int(mark.z)
        let squared = radius * radius
        for y in max(0, cy - radius)...min(height - 1, cy + radius) {
            let dy = y - cy
            let row = mask + y * width
            for x in max(0, cx - radius)...min(width - 1, cx + radius) where (x - cx) * (x - cx) + dy * dy <= squared {
                row[x] = value
            }
        }
    }

    // MARK: Measurement

    private struct Workspace {
        var weights: UnsafeMutablePointer<Double>
        var offsets: UnsafeMutablePointer<Double>
        var ring: UnsafeMutablePointer<Double>
        var radial: UnsafeMutablePointer<Double>
    }

    private enum Measurement {
        /// A star, and the radius it covers (aperture and annulus).
        case star(Star, Double)
        case edge
        case unmeasurable
    }

    private enum MomentsResult {
        case converged(x: Double, y: Double, sigma: Double, ellipticity: Double)
        case edge
        case unmeasurable
    }

    private func measure(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, peakX: Int, peakY: Int,
                         initialSigma: Double, globalBackground: Double, maximumRadius: Int,
                         workspace: Workspace) -> Measurement {
        // 1. Shape with the global background.
        var x = Double(peakX), y = Double(peakY), sigma = initialSigma, ellipticity = 0.0
        switch adaptiveMoments(pixels, width: width, height: height, x: x, y: y, sigma: sigma,
                               background: globalBackground, peakX: peakX, peakY: peakY,
                               maximumRadius: maximumRadius, workspace: workspace) {
        case .converged(let cx, let cy, let s, _): (x, y, sigma) = (cx, cy, s)
        case .edge: return .edge
        case .unmeasurable: return .unmeasurable
        }
        // 2. Local background: the median of an annulus outside the aperture.
        let aperture = max(4 * sigma, 3)
        let inner = aperture + 1, outer = aperture + 4
        let reach = Int(outer.rounded(.up))
        guard reach <= maximumRadius else { return .unmeasurable }
        let ix = Int(x.rounded()), iy = Int(y.rounded())
        guard ix - reach >= 0, iy - reach >= 0, ix + reach < width, iy + reach < height else { return .edge }
        var ringCount = 0
        for j in -reach...reach {
            let dy = Double(iy + j) - y
            let row = pixels + (iy + j) * width
            for i in -reach...reach {
                let dx = Double(ix + i) - x
                let r2 = dx * dx + dy * dy
                if r2 >= inner * inner && r2 <= outer * outer {
                    workspace.ring[ringCount] = Double(row[ix + i])
                    ringCount += 1
                }
            }
        }
        guard let background = InPlace.median(UnsafeMutableBufferPointer(start: workspace.ring, count: ringCount)) else {
            return .unmeasurable
        }
        // 3. Shape again with the local background.
        switch adaptiveMoments(pixels, width: width, height: height, x: x, y: y, sigma: sigma,
                               background: background, peakX: peakX, peakY: peakY,
                               maximumRadius: maximumRadius, workspace: workspace) {
        case .converged(let cx, let cy, let s, let e): (x, y, sigma, ellipticity) = (cx, cy, s, e)
        case .edge: return .edge
        case .unmeasurable: return .unmeasurable
        }
        // 4. Half-flux diameter within the aperture.
        let radius = max(4 * sigma, 3)
        let limit = Int((radius + 1).rounded(.up))
        let cx = Int(x.rounded()), cy = Int(y.rounded())
        guard cx - limit >= 0, cy - limit >= 0, cx + limit < width, cy + limit < height else { return .edge }
        guard let halfFlux = halfFluxRadius(pixels, width: width, x: x, y: y, sigma: sigma, radius: radius,
                                            background: background, radial: workspace.radial) else {
            return .unmeasurable
        }
        let fwhm = Self.fwhmPerSigma * sigma
        // Spreading each pixel's value evenly over its area convolves the (already pixel-
        // integrated) profile with the pixel once more, adding 1/12 to its variance: for a
        // Gaussian, HFD^2 grows by 8 ln 2 / 12. That known term is taken off, so that HFD, like
        // FWHM, describes the PSF as the pixels sampled it.
        let diameter = 2 * halfFlux.radius
        let hfd = max(0, diameter * diameter - Self.pixelBoxHFDSquared).squareRoot()
        let star = Star(x: x, y: y, peak: 0, flux: halfFlux.flux, background: background, fwhm: fwhm, hfd: hfd,
                        ellipticity: ellipticity)
        return .star(star, max(radius, outer))
    }

    /// Gaussian-weighted (adaptive) second moments; see the type's documentation.
    private func adaptiveMoments(_ pixels: UnsafePointer<UInt16>, width: Int, height: Int, x startX: Double,
                                 y startY: Double, sigma startSigma: Double, background: Double, peakX: Int, peakY: Int,
                                 maximumRadius: Int, workspace: Workspace) -> MomentsResult {
        var cx = startX, cy = startY
        var w2 = startSigma * startSigma
        let weights = workspace.weights
        let offsets = workspace.offsets
        for _ in 0..<60 {
            let w = w2.squareRoot()
            let reach = Int((4 * w).rounded(.up)) + 1
            guard reach <= maximumRadius else { return .unmeasurable }
            let ix = Int(cx.rounded()), iy = Int(cy.rounded())
            guard ix - reach >= 0, iy - reach >= 0, ix + reach < width, iy + reach < height else { return .edge }
            let span = 2 * reach + 1
            let inverse = -0.5 / w2
            for i in 0..<span {
                let dx = Double(ix - reach + i) - cx
                offsets[i] = dx
                weights[i] = exp(dx * dx * inverse)
            }
            var s = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, syy = 0.0, sxy = 0.0
            for j in 0..<span {
                let dy = Double(iy - reach + j) - cy
                let wy = exp(dy * dy * inverse)
                let row = pixels + (iy - reach + j) * width + (ix - reach)
                var rs = 0.0, rsx = 0.0, rsxx = 0.0
                for i in 0..<span {
                    let value = (Double(row[i]) - background) * weights[i]
                    let dx = offsets[i]
                    rs += value
                    rsx += value * dx
                    rsxx += value * dx * dx
                }
                s += wy * rs
                sx += wy * rsx
                sxx += wy * rsxx
                sy += wy * dy * rs
                syy += wy * dy * dy * rs
                sxy += wy * dy * rsx
            }
            guard s > 0 else { return .unmeasurable }
            let mx = sx / s, my = sy / s
            let vxx = sxx / s - mx * mx, vyy = syy / s - my * my, vxy = sxy / s - mx * my
            let p2 = (vxx + vyy) / 2
            guard p2 > 0, p2.isFinite else { return .unmeasurable }
            if p2 >= 0.95 * w2 {
                // Far wider than the weight: widen it and try again.
                w2 *= 4
                continue
            }
            let s2 = p2 * w2 / (w2 - p2)
            let factor = (s2 + w2) / w2
            let shiftX = mx * factor, shiftY = my * factor
            cx += shiftX
            cy += shiftY
            let wander = max(2, 2 * s2.squareRoot())
            guard abs(cx - Double(peakX)) <= wander, abs(cy - Double(peakY)) <= wander else { return .unmeasurable }
            let change = abs(s2 - w2) / w2
            w2 = s2
            if change < 1e-6 && abs(shiftX) < 1e-4 && abs(shiftY) < 1e-4 {
                // The shape of the star itself, the weight divided out along each axis:
                // 1/s^2 = 1/p^2 - 1/w^2 applied to the moment matrix's eigenvalues.
                let half = ((vxx - vyy) * (vxx - vyy) / 4 + vxy * vxy).squareRoot()
                let major = p2 + half, minor = p2 - half
                let starMajor = major < w2 ? major * w2 / (w2 - major) : .infinity
                let starMinor = minor > 0 ? minor * w2 / (w2 - minor) : 0
                let ellipticity = starMajor.isFinite ? (starMajor - starMinor) / (starMajor + starMinor) : 1
                return .converged(x: cx, y: cy, sigma: s2.squareRoot(), ellipticity: ellipticity)
            }
        }
        return .unmeasurable
    }

    /// The radius holding half the flux within `radius` of `(x, y)`, from a radial profile of
    /// sub-pixels binned by squared radius (no square root per sub-pixel; a bin is 1/256 of the
    /// aperture's squared radius, and the crossing is interpolated within it); nil when that flux
    /// is not positive.
    private func halfFluxRadius(_ pixels: UnsafePointer<UInt16>, width: Int, x: Double, y: Double, sigma: Double,
                                radius: Double, background: Double, radial: UnsafeMutablePointer<Double>)
        -> (radius: Double, flux: Double)?
    {
        let bins = Self.radialBins
        radial.update(repeating: 0, count: bins)
        let split = sigma < 1.5 ? 6 : sigma < 3 ? 4 : sigma < 6 ? 3 : 2
        let share = 1 / Double(split * split)
        // Sub-pixel centres relative to the pixel centre: (a + 0.5) / split - 0.5.
        var offsets = SIMD8<Double>()
        for a in 0..<split { offsets[a] = (Double(a) + 0.5) / Double(split) - 0.5 }
        let radiusSquared = radius * radius
        let binScale = Double(bins) / radiusSquared
        let limit = Int((radius + 1).rounded(.up))
        let ix = Int(x.rounded()), iy = Int(y.rounded())
        let reachSquared = (radius + 0.75) * (radius + 0.75)
        var dx2 = SIMD8<Double>()
        for j in -limit...limit {
            let centreY = Double(iy + j) - y
            let row = pixels + (iy + j) * width
            for i in -limit...limit {
                let centreX = Double(ix + i) - x
                if centreX * centreX + centreY * centreY > reachSquared { continue }
                let part = (Double(row[ix + i]) - background) * share
                for a in 0..<split {
                    let dx = centreX + offsets[a]
                    dx2[a] = dx * dx
                }
                for b in 0..<split {
                    let dy = centreY + offsets[b]
                    let dy2 = dy * dy
                    for a in 0..<split {
                        let r2 = dx2[a] + dy2
                        if r2 < radiusSquared {
                            radial[min(bins - 1, Int(r2 * binScale))] += part
                        }
                    }
                }
            }
        }
        var total = 0.0
        for bin in 0..<bins { total += radial[bin] }
        guard total > 0 else { return nil }
        let half = total / 2
        var cumulative = 0.0
        for bin in 0..<bins {
            let next = cumulative + radial[bin]
            if next >= half && radial[bin] > 0 {
                let fraction = (half - cumulative) / radial[bin]
                return (((Double(bin) + fraction) / binScale).squareRoot(), total)
            }
            cumulative = next
        }
        return (radius, total)
    }
}
