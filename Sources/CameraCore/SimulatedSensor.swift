import ApertureProtocol
import Foundation

/// What one simulated exposure needs to be rendered, captured when it starts.
struct SimulatedExposure: Sendable, Hashable {
    var settings: AcquisitionSettings
    /// Selects the noise and cosmic-ray realisation (with the seed).
    var frameNumber: UInt64
    /// The sensor temperature at the start of the exposure (sets the dark current).
    var sensorTemperature: Double
    /// The focuser position at the start of the exposure (sets the PSF width).
    var focusPosition: Double
    var stars: [SimulatedStar]
}

/// One cosmic-ray deposit: `electrons` in the pixel of row-major index `pixel` on the full sensor.
struct SimulatedCosmicRayDeposit: Sendable, Hashable {
    var pixel: Int
    var electrons: Double
}

/// The sensor physics: renders an exposure into ADU, one pass over the region read out.
///
/// Per unbinned pixel of the region, in electrons:
/// - light rate `L` (e-/s): none for bias and dark frames or with the shutter closed; for flats
///   `flatIllumination`; for object frames `skyBackground` plus every star's Gaussian PSF
///   integrated over the pixel; both scaled by the vignetting `1 - vignetting * r^2 / rCorner^2`;
/// - mean charge `lambda = (L + D(T)) * t`, with `D(T)` the dark current at the exposure's start
///   temperature (a bias has t = 0: no light, no dark, no cosmic rays);
/// - charge `n ~ Poisson(lambda)`: exact inversion below a mean of 20, the normal approximation
///   `lambda + sqrt(lambda) * z` (not rounded, never negative) above;
/// - plus cosmic-ray deposits, then clipped at `fullWell`.
///
/// Binning sums the charge of `binX * binY` pixels on the chip, as a CCD does, before one read:
/// `ADU = round(bias + (sum n + readNoise * z) / electronsPerADU)`, clipped to 0...65535. So a
/// binned pixel carries the bias and the read noise once, and `sum(ADU - bias)` over a frame is
/// the same binned or not, up to read noise and rounding.
///
/// Determinism: every random value of a pixel comes from its own stream keyed by the seed, the
/// frame number and the pixel's position on the full sensor, and cosmic rays are drawn over the
/// full sensor; so a subframe (on the binning grid) is bit-for-bit the matching region of the full
/// frame with the same seed and frame number, and the charge in a binned frame is exactly the
/// charge of the unbinned one summed (only the read noise differs).
enum SimulatedSensor {
    /// Below this mean the Poisson charge is drawn exactly (inversion); at and above it, from the
    /// normal approximation.
    static let exactPoissonLimit = 20.0

    /// The key of a frame's noise streams.
    static func frameKey(seed: UInt64, frameNumber: UInt64) -> UInt64 {
        simulatedMix64(seed ^ simulatedMix64(frameNumber &+ 0x4652_414D_454B_4559))  // "FRAMEKEY"
    }

    /// Renders `exposure` into `output`, which holds at least `imageWidth * imageHeight` values.
    static func render(_ exposure: SimulatedExposure, configuration: SimulatedCamera.Configuration,
                       into output: UnsafeMutableBufferPointer<UInt16>) {
        let settings = exposure.settings
        let sensorWidth = configuration.width
        let region = settings.subframe
        let binX = max(1, settings.binX)
        let binY = max(1, settings.binY)
        let outputWidth = region.width / binX
        let outputHeight = region.height / binY
        guard outputWidth > 0, outputHeight > 0, let outputBase = output.baseAddress,
              output.count >= outputWidth * outputHeight else { return }

        // Exposure-wide quantities.
        let isBias = settings.imageType == .bias
        let time = isBias ? 0 : max(0, settings.exposureTime)
        let lightFalls = settings.shutter != .closed && (settings.imageType == .flat || settings.imageType == .object)
        let baseLight = !lightFalls ? 0 : settings.imageType == .flat ? configuration.flatIllumination
            : configuration.skyBackground
        let withStars = lightFalls && settings.imageType == .object
        let darkCharge = isBias ? 0 : configuration.darkCurrent(atTemperature: exposure.sensorTemperature) * time
        let lightScale = lightFalls ? time : 0
        let mode = configuration.readoutModes.indices.contains(settings.readoutMode)
            ? configuration.readoutModes[settings.readoutMode] : configuration.readoutModes.first
        let readNoise = mode?.readNoise ?? 0
        let multiplier = configuration.gains.indices.contains(settings.gain)
            ? configuration.gains[settings.gain].multiplier : 1
        let aduPerElectron = multiplier / configuration.electronsPerADU
        let bias = configuration.biasLevel
        let fullWell = configuration.fullWell
        let key = frameKey(seed: configuration.seed, frameNumber: exposure.frameNumber)
        let exactLimit = exactPoissonLimit

        // Vignetting: 1 - a * (dx^2 + dy^2) / rCorner^2, the column part precomputed.
        let centreX = Double(configuration.width - 1) / 2
        let centreY = Double(configuration.height - 1) / 2
        let cornerSquared = max(centreX * centreX + centreY * centreY, 1)
        let vignetting = lightFalls ? configuration.vignetting : 0

        let regionX0 = region.x
        let regionY0 = region.y
        let regionWidth = outputWidth * binX
        let stamps = withStars
            ? StarField.stamps(of: exposure.stars, sigma: configuration.psfSigma(atFocus: exposure.focusPosition),
                               regionX0: regionX0, regionX1: regionX0 + regionWidth - 1,
                               regionY0: regionY0, regionY1: regionY0 + outputHeight * binY - 1)
            : StarField.Stamps()
        let hits = time > 0 && !isBias ? cosmicRayDeposits(frameKey: key, exposureTime: time, configuration: configuration)
            : []

        // Row scratch (allocated once per frame).
        let columnVignetting = UnsafeMutableBufferPointer<Double>.allocate(capacity: regionWidth)
        let starLight = UnsafeMutableBufferPointer<Double>.allocate(capacity: regionWidth)
        let charge = UnsafeMutableBufferPointer<Double>.allocate(capacity: outputWidth)
        let readDeviate = UnsafeMutableBufferPointer<Double>.allocate(capacity: outputWidth)
        let reciprocals = UnsafeMutableBufferPointer<Double>.allocate(capacity: 201)  // 1/k for the inversion
        defer {
            reciprocals.deallocate()
            columnVignetting.deallocate()
            starLight.deallocate()
            charge.deallocate()
            readDeviate.deallocate()
        }
        for column in 0..<regionWidth {
            let dx = Double(regionX0 + column) - centreX
            columnVignetting[column] = vignetting * dx * dx / cornerSquared
        }
        starLight.initialize(repeating: 0)
        for k in 0...200 { reciprocals[k] = k == 0 ? 0 : 1 / Double(k) }
        var starRowDirty = false
        var activeStamps: [Int] = []
        var nextStamp = 0
        var nextHit = 0

        var cachedMean = -1.0
        var cachedExp = 1.0

        for outputRow in 0..<outputHeight {
            charge.initialize(repeating: 0)
            for rowInBin in 0..<binY {
                let y = regionY0 + outputRow * binY + rowInBin
                let rowStart = y * sensorWidth

                // Star light on this row.
                if withStars {
                    if starRowDirty {
                        starLight.initialize(repeating: 0)
                        starRowDirty = false
                    }
                    var added = false
                    while nextStamp < stamps.stamps.count, stamps.stamps[nextStamp].y0 <= y {
                        activeStamps.append(nextStamp)
                        nextStamp += 1
                        added = true
                    }
                    if added { activeStamps.sort { stamps.stamps[$0].order < stamps.stamps[$1].order } }
                    activeStamps.removeAll { stamps.stamps[$0].y1 < y }
                    for index in activeStamps {
                        let stamp = stamps.stamps[index]
                        let rowFlux = stamp.flux * stamps.weights[stamp.yOffset + y - stamp.y0]
                        for x in stamp.x0...stamp.x1 {
                            starLight[x - regionX0] += rowFlux * stamps.weights[stamp.xOffset + x - stamp.x0]
                        }
                        starRowDirty = true
                    }
                }

                // Cosmic-ray deposits of this row, if any, are those from `nextHit` on.
                let rowRegionStart = rowStart + regionX0
                while nextHit < hits.count, hits[nextHit].pixel < rowRegionStart { nextHit += 1 }
                var hitPixel = nextHit < hits.count ? hits[nextHit].pixel : Int.max

                let dy = Double(y) - centreY
                let rowVignetting = 1 - vignetting * dy * dy / cornerSquared
                var outputColumn = 0
                var columnInBin = 0
                for column in 0..<regionWidth {
                    let pixel = rowRegionStart + column
                    var noise = SimulatedPixelNoise(frameKey: key, pixelIndex: pixel)
                    let (readZ, shotZ) = noise.nextGaussianPair()
                    var mean = darkCharge
                    if lightScale > 0 {
                        mean += lightScale * (baseLight + starLight[column]) * (rowVignetting - columnVignetting[column])
                    }
                    var electrons = 0.0
                    if mean >= exactLimit {
                        electrons = mean + mean.squareRoot() * shotZ
                        if electrons < 0 { electrons = 0 }
                    } else if mean > 0 {
                        // Inversion: the smallest k with P(X <= k) >= u.
                        if mean != cachedMean {
                            cachedMean = mean
                            cachedExp = exp(-mean)
                        }
                        let u = noise.nextUnit()
                        var probability = cachedExp
                        var cumulative = probability
                        var k = 0
                        while u > cumulative && k < 200 {
                            k += 1
                            probability *= mean * reciprocals[k]
                            cumulative += probability
                        }
                        electrons = Double(k)
                    }
                    if pixel == hitPixel {
                        electrons += hits[nextHit].electrons
                        nextHit += 1
                        hitPixel = nextHit < hits.count ? hits[nextHit].pixel : Int.max
                    }
                    if electrons > fullWell { electrons = fullWell }
                    charge[outputColumn] += electrons
                    if rowInBin == 0 && columnInBin == 0 { readDeviate[outputColumn] = readZ }
                    columnInBin += 1
                    if columnInBin == binX {
                        columnInBin = 0
                        outputColumn += 1
                    }
                }
            }

            // One read per binned pixel.
            let outputRowStart = outputBase + outputRow * outputWidth
            for column in 0..<outputWidth {
                let adu = bias + (charge[column] + readNoise * readDeviate[column]) * aduPerElectron
                let value: UInt16
                if adu <= 0 {
                    value = 0
                } else if adu >= 65534.5 {
                    value = 65535
                } else {
                    value = UInt16(adu + 0.5)
                }
                outputRowStart[column] = value
            }
        }
    }

    /// The cosmic-ray deposits of one frame over the full sensor, sorted by pixel, deposits in the
    /// same pixel merged. Hits: Poisson with mean `cosmicRayRate * area * t`; each a straight
    /// track from a uniform start pixel, of uniform length 1...`cosmicRayMaximumLength` pixels in a
    /// uniform direction, its charge (uniform in `cosmicRayCharge`) shared equally along it.
    static func cosmicRayDeposits(frameKey: UInt64, exposureTime: Double,
                                  configuration: SimulatedCamera.Configuration) -> [SimulatedCosmicRayDeposit] {
        let width = configuration.width
        let height = configuration.height
        guard width > 0, height > 0, configuration.cosmicRayRate > 0, exposureTime > 0 else { return [] }
        let pixelCentimetres = configuration.pixelSize * 1e-4
        let area = Double(width * height) * pixelCentimetres * pixelCentimetres
        var random = SimulatedRandom(seed: simulatedMix64(frameKey ^ 0x434F_534D_4943_5359))  // "COSMICSY"
        let count = random.nextPoisson(mean: configuration.cosmicRayRate * area * exposureTime)
        var deposits: [SimulatedCosmicRayDeposit] = []
        for _ in 0..<count {
            let startX = Double(Int(random.nextUnit() * Double(width)))
            let startY = Double(Int(random.nextUnit() * Double(height)))
            let length = 1 + Int(random.nextUnit() * Double(max(1, configuration.cosmicRayMaximumLength)))
            let angle = 2 * Double.pi * random.nextUnit()
            let total = random.nextUniform(in: configuration.cosmicRayCharge)
            let perPixel = total / Double(length)
            var previous = -1
            for step in 0..<length {
                let x = Int((startX + Double(step) * cos(angle)).rounded())
                let y = Int((startY + Double(step) * sin(angle)).rounded())
                guard x >= 0, x < width, y >= 0, y < height else { break }
                let pixel = y * width + x
                if pixel == previous {
                    deposits[deposits.count - 1].electrons += perPixel
                } else {
                    deposits.append(SimulatedCosmicRayDeposit(pixel: pixel, electrons: perPixel))
                    previous = pixel
                }
            }
        }
        deposits.sort { $0.pixel < $1.pixel }
        var merged: [SimulatedCosmicRayDeposit] = []
        merged.reserveCapacity(deposits.count)
        for deposit in deposits {
            if let last = merged.last, last.pixel == deposit.pixel {
                merged[merged.count - 1].electrons += deposit.electrons
            } else {
                merged.append(deposit)
            }
        }
        return merged
    }
}
