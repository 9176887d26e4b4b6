import ApertureProtocol
import Foundation

/// The simulator's random numbers: reproducible from a seed on every platform, so the same seed
/// gives the same frames everywhere (Foundation's and the standard library's default generators
/// are neither seedable nor portable).
///
/// Two kinds are used:
/// - ``SimulatedRandom``, a sequential xoshiro256** generator, for what is drawn once per frame or
///   per camera (the star catalogue, cosmic-ray hits);
/// - ``SimulatedPixelNoise``, a counter-based stream per sensor pixel (SplitMix64's output function
///   applied to the frame key, the pixel's index on the full sensor and a step), for the per-pixel
///   noise. Because a pixel's noise depends only on where the pixel sits on the sensor, a subframe is
///   exactly the matching region of the full frame with the same frame number.

/// SplitMix64's output function (Steele, Lea & Flood 2014, with Stafford's "Mix13" constants):
/// a bijective 64-bit finaliser whose outputs for consecutive inputs look independent.
@inline(__always)
func simulatedMix64(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// The increment of SplitMix64 (2^64 / golden ratio, odd).
let simulatedGoldenGamma: UInt64 = 0x9E37_79B9_7F4A_7C15

/// xoshiro256** (Blackman & Vigna 2018) seeded through SplitMix64, with uniform, Gaussian and
/// Poisson variates.
struct SimulatedRandom: RandomNumberGenerator {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64
    /// The second value of the last Box–Muller pair, handed out by the next ``nextGaussian()``.
    private var cachedGaussian: Double?

    /// A generator whose whole sequence is fixed by `seed` (any value, zero included).
    init(seed: UInt64) {
        var state = seed
        func splitMix() -> UInt64 {
            state &+= simulatedGoldenGamma
            return simulatedMix64(state)
        }
        s0 = splitMix()
        s1 = splitMix()
        s2 = splitMix()
        s3 = splitMix()
    }

    mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform value in [0, 1) with 53 random bits.
    mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform value in `range`.
    mutating func nextUniform(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * nextUnit()
    }

    /// A standard normal variate (Box–Muller; the pair's second value is kept for the next call).
    mutating func nextGaussian() -> Double {
        if let cached = cachedGaussian {
            cachedGaussian = nil
            return cached
        }
        let u1 = 1 - nextUnit()  // (0, 1]: the logarithm stays finite
        let u2 = nextUnit()
        let radius = (-2 * log(u1)).squareRoot()
        let angle = 2 * Double.pi * u2
        cachedGaussian = radius * sin(angle)
        return radius * cos(angle)
    }

    /// A Poisson variate: Knuth's multiplication method below a mean of 30, the normal
    /// approximation (rounded, never negative) above.
    mutating func nextPoisson(mean: Double) -> Int {
        guard mean > 0, mean.isFinite else { return 0 }
        if mean >= 30 {
            return max(0, Int((mean + mean.squareRoot() * nextGaussian()).rounded()))
        }
        let limit = exp(-mean)
        var product = nextUnit()
        var count = 0
        while product > limit {
            count += 1
            product *= nextUnit()
        }
        return count
    }

    private func rotateLeft(_ value: UInt64, _ shift: UInt64) -> UInt64 {
        (value << shift) | (value >> (64 - shift))
    }
}

/// The per-pixel noise stream: pixel `index` of frame `key` yields the values
/// `mix64(start + k * gamma)` for k = 1, 2, ..., where `start = key ^ (index * C)`.
///
/// Each pixel first takes one Marsaglia polar pair of standard normal variates (one for the
/// read noise, one for the shot noise when the normal approximation applies) and then, only when
/// needed, one uniform for the exact Poisson inversion of a small mean.
struct SimulatedPixelNoise {
    private var state: UInt64

    /// The stream of pixel `index` (its row-major index on the full, unbinned sensor) in the
    /// frame whose key is `frameKey`.
    @inline(__always)
    init(frameKey: UInt64, pixelIndex: Int) {
        state = frameKey ^ (UInt64(truncatingIfNeeded: pixelIndex) &* 0xD1B5_4A32_D192_ED03)
    }

    /// Two independent standard normal variates (Marsaglia's polar method: no trigonometry).
    @inline(__always)
    mutating func nextGaussianPair() -> (Double, Double) {
        while true {
            state &+= simulatedGoldenGamma
            let bits = simulatedMix64(state)
            let v1 = Double(Int32(truncatingIfNeeded: bits >> 32)) * 0x1p-31
            let v2 = Double(Int32(truncatingIfNeeded: bits)) * 0x1p-31
            let s = v1 * v1 + v2 * v2
            if s < 1, s > 0 {
                let factor = (-2 * log(s) / s).squareRoot()
                return (v1 * factor, v2 * factor)
            }
        }
    }

    /// A uniform value in [0, 1).
    @inline(__always)
    mutating func nextUnit() -> Double {
        state &+= simulatedGoldenGamma
        return Double(simulatedMix64(state) >> 11) * 0x1p-53
    }
}
