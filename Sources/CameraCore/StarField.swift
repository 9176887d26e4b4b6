import ApertureProtocol
import Foundation

/// One star of the simulated sky.
///
/// Coordinates are in unbinned sensor pixels, 0-based, with pixel `(i, j)` centred on
/// `(x, y) = (i, j)`: a star at `(10, 20)` is centred on column 10, row 20 (top row first).
public struct SimulatedStar: Sendable, Hashable, Codable {
    /// Column of the star's centre, in pixels.
    public var x: Double
    /// Row of the star's centre, in pixels (row 0 is the first row read out).
    public var y: Double
    /// Total flux in electrons per second, all of the PSF (before vignetting).
    public var flux: Double

    /// Creates a star.
    ///
    /// - Parameters:
    ///   - x: column of the centre, in pixels.
    ///   - y: row of the centre, in pixels.
    ///   - flux: total flux in e-/s.
    public init(x: Double, y: Double, flux: Double) {
        self.x = x
        self.y = y
        self.flux = flux
    }
}

/// The star field: the catalogue drawn from the seed, and each frame's PSF stamps.
enum StarField {
    /// The catalogue fixed by `configuration.seed`: `starCount` stars placed uniformly over the
    /// sensor, fluxes from a power law (N(>F) ~ F^-slope) within `starFluxRange`, brightest first.
    static func catalog(for configuration: SimulatedCamera.Configuration) -> [SimulatedStar] {
        guard configuration.starCount > 0, configuration.width > 0, configuration.height > 0 else { return [] }
        var random = SimulatedRandom(seed: simulatedMix64(configuration.seed ^ 0x5354_4152_5345_4544))  // "STARSEED"
        let lower = max(configuration.starFluxRange.lowerBound, .leastNormalMagnitude)
        let upper = max(configuration.starFluxRange.upperBound, lower)
        let slope = configuration.starCountSlope > 0 ? configuration.starCountSlope : 1
        let span = 1 - pow(lower / upper, slope)
        var stars: [SimulatedStar] = []
        stars.reserveCapacity(configuration.starCount)
        for _ in 0..<configuration.starCount {
            let x = random.nextUnit() * Double(configuration.width) - 0.5
            let y = random.nextUnit() * Double(configuration.height) - 0.5
            // Inverse of the truncated power law's cumulative distribution.
            let flux = lower * pow(1 - random.nextUnit() * span, -1 / slope)
            stars.append(SimulatedStar(x: x, y: y, flux: min(flux, upper)))
        }
        stars.sort { $0.flux > $1.flux }
        return stars
    }

    /// One star's light on the pixels of one frame: the Gaussian integrated over each pixel is
    /// separable, `flux * wx[i] * wy[j]`, where `wx[i]` is the fraction of the 1-D Gaussian
    /// falling in column i. Only pixels within 5 sigma of the centre (and inside the region read)
    /// are kept.
    struct Stamp {
        var x0: Int, x1: Int, y0: Int, y1: Int
        /// Electrons per second.
        var flux: Double
        /// The star's index in the catalogue: stars are summed in this order on every pixel, so a
        /// pixel's value does not depend on the region read.
        var order: Int
        /// Offsets of `wx` and `wy` in ``Stamps/weights``.
        var xOffset: Int, yOffset: Int
    }

    /// The stamps of every star touching a region, sorted by first row, with their weights in one
    /// array (one allocation per frame, none per pixel).
    struct Stamps {
        var stamps: [Stamp] = []
        var weights: [Double] = []
    }

    /// The stamps of `stars` for a Gaussian of `sigma` pixels, clipped to the region
    /// `[regionX0, regionX1] x [regionY0, regionY1]` (inclusive, unbinned pixels).
    static func stamps(of stars: [SimulatedStar], sigma: Double, regionX0: Int, regionX1: Int,
                       regionY0: Int, regionY1: Int) -> Stamps {
        var result = Stamps()
        guard sigma > 0, sigma.isFinite else { return result }
        let reach = 5 * sigma
        let scale = 1 / (sigma * 2.0.squareRoot())
        // A star far out of focus spreads its light below a hundredth of an electron per pixel
        // at its peak: it is left out (it would cost a whole frame of work for nothing).
        let peakFraction = 1 / (2 * Double.pi * sigma * sigma)
        /// A pixel index, the coordinate clamped to the region first (a PSF wider than Int).
        func index(_ coordinate: Double, _ low: Int, _ high: Int) -> Int {
            Int(min(Double(high) + 1, max(Double(low) - 1, (coordinate + 0.5).rounded(.down))))
        }
        for (order, star) in stars.enumerated()
        where star.flux > 0 && star.x.isFinite && star.y.isFinite && star.flux * peakFraction >= 0.01 {
            let x0 = max(regionX0, index(star.x - reach, regionX0, regionX1))
            let x1 = min(regionX1, index(star.x + reach, regionX0, regionX1))
            let y0 = max(regionY0, index(star.y - reach, regionY0, regionY1))
            let y1 = min(regionY1, index(star.y + reach, regionY0, regionY1))
            guard x0 <= x1, y0 <= y1 else { continue }
            let xOffset = result.weights.count
            appendWeights(from: x0, to: x1, centre: star.x, scale: scale, into: &result.weights)
            let yOffset = result.weights.count
            appendWeights(from: y0, to: y1, centre: star.y, scale: scale, into: &result.weights)
            result.stamps.append(Stamp(x0: x0, x1: x1, y0: y0, y1: y1, flux: star.flux, order: order,
                                       xOffset: xOffset, yOffset: yOffset))
        }
        result.stamps.sort { $0.y0 < $1.y0 }
        return result
    }

    /// The fraction of a 1-D Gaussian in each pixel `first...last`:
    /// `Phi((i + 0.5 - centre) / sigma) - Phi((i - 0.5 - centre) / sigma)`, through erfc so the
    /// tails keep their precision.
    private static func appendWeights(from first: Int, to last: Int, centre: Double, scale: Double,
                                      into weights: inout [Double]) {
        var lowerTail = 0.5 * erfc((Double(first) - 0.5 - centre) * scale)  // P(X > lower edge)
        for i in first...last {
            let upperTail = 0.5 * erfc((Double(i) + 0.5 - centre) * scale)
            weights.append(lowerTail - upperTail)
            lowerTail = upperTail
        }
    }
}

extension StarField {
    /// Catalogue stars on the sensor: the gnomonic (TAN) projection about `pointing`, scaled by
    /// the pixel scale and turned by the rotation, with fluxes from the magnitudes.
    ///
    /// For a star at (alpha, delta) and the pointing (alpha0, delta0), the standard coordinates
    /// (radians, xi towards east, eta towards north) are
    /// `xi = cos(delta) sin(alpha - alpha0) / c`,
    /// `eta = (cos(delta0) sin(delta) - sin(delta0) cos(delta) cos(alpha - alpha0)) / c`, with
    /// `c = sin(delta0) sin(delta) + cos(delta0) cos(delta) cos(alpha - alpha0)` (stars with
    /// `c <= 0`, behind the tangent plane, are left out). With `p` the pixel size over the focal
    /// length (radians per pixel), `X = -xi / p` (east to the left), `Y = eta / p` (north up), and
    /// `theta` the rotation, the star lands on
    /// `x = cx + X cos(theta) - Y sin(theta)`, `y = cy - (X sin(theta) + Y cos(theta))`, where
    /// `(cx, cy) = ((width - 1) / 2, (height - 1) / 2)` is the sensor's centre: the pointing.
    /// The flux is `10^(-0.4 (m - magnitudeZeroPoint))` e-/s. Brightest first, as ``catalog(for:)``.
    static func project(_ stars: [CatalogStar], pointing: SkyPointing,
                        configuration: SimulatedCamera.Configuration) -> [SimulatedStar] {
        let radiansPerPixel = configuration.pixelSize / 1000 / configuration.focalLength
        let alpha0 = pointing.ra * .pi / 180, delta0 = pointing.dec * .pi / 180
        let theta = configuration.rotation * .pi / 180
        let cx = Double(configuration.width - 1) / 2, cy = Double(configuration.height - 1) / 2
        let margin = 20.0
        var projected: [SimulatedStar] = []
        for star in stars {
            let alpha = star.ra * .pi / 180, delta = star.dec * .pi / 180
            let c = sin(delta0) * sin(delta) + cos(delta0) * cos(delta) * cos(alpha - alpha0)
            guard c > 0 else { continue }
            let xi = cos(delta) * sin(alpha - alpha0) / c
            let eta = (cos(delta0) * sin(delta) - sin(delta0) * cos(delta) * cos(alpha - alpha0)) / c
            let bigX = -xi / radiansPerPixel, bigY = eta / radiansPerPixel
            let x = cx + bigX * cos(theta) - bigY * sin(theta)
            let y = cy - (bigX * sin(theta) + bigY * cos(theta))
            guard x > -margin, x < Double(configuration.width) + margin,
                  y > -margin, y < Double(configuration.height) + margin else { continue }
            let flux = pow(10, -0.4 * (star.magnitude - configuration.magnitudeZeroPoint))
            guard flux.isFinite else { continue }
            projected.append(SimulatedStar(x: x, y: y, flux: flux))
        }
        projected.sort { $0.flux > $1.flux }
        return projected
    }

    /// The radius in degrees of the circle about the sensor's centre that holds every pixel (and a
    /// margin of 20 pixels for the PSF's wings): the catalogue query of a pointing.
    static func fieldRadius(configuration: SimulatedCamera.Configuration) -> Double {
        let halfDiagonal = (Double(configuration.width * configuration.width + configuration.height * configuration.height)).squareRoot() / 2
        return (halfDiagonal + 20) * configuration.pixelScale / 3600
    }
}
