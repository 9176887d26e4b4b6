import ApertureProtocol
import Bus
import Foundation

extension SimulatedCamera {
    /// One readout mode of the simulated camera: its name, read noise and digitisation rate.
    public struct ReadoutMode: Sendable, Hashable, Codable {
        /// The name listed in ``CameraInfo/readoutModes``.
        public var name: String
        /// The read noise in electrons rms, added once per (binned) pixel read.
        public var readNoise: Double
        /// Pixels digitised per simulated second; the readout lasts
        /// `imageWidth * imageHeight / pixelRate` simulated seconds.
        public var pixelRate: Double

        /// Creates a readout mode.
        ///
        /// - Parameters:
        ///   - name: the name listed in ``CameraInfo/readoutModes``.
        ///   - readNoise: electrons rms per pixel read.
        ///   - pixelRate: pixels digitised per simulated second.
        public init(name: String, readNoise: Double, pixelRate: Double) {
            self.name = name
            self.readNoise = readNoise
            self.pixelRate = pixelRate
        }
    }

    /// One gain setting of the simulated camera: an amplification of the default gain.
    public struct Gain: Sendable, Hashable, Codable {
        /// The name listed in ``CameraInfo/gains``.
        public var name: String
        /// The amplification relative to ``Configuration/electronsPerADU``: at this gain one ADU is
        /// `electronsPerADU / multiplier` electrons.
        public var multiplier: Double

        /// Creates a gain setting.
        ///
        /// - Parameters:
        ///   - name: the name listed in ``CameraInfo/gains``.
        ///   - multiplier: the amplification relative to ``Configuration/electronsPerADU``.
        public init(name: String, multiplier: Double) {
            self.name = name
            self.multiplier = multiplier
        }
    }

    /// Every physical parameter of the simulated camera, each with a default that resembles a
    /// deep-cooled 1k x 1k scientific CCD (an Andor iKon-M-like head) on a small telescope.
    ///
    /// Units: temperatures in degrees Celsius, times in *simulated* seconds (see ``timeScale``),
    /// charge in electrons (e-), rates per pixel per simulated second. Pixel coordinates are
    /// 0-based with pixel `(i, j)` centred on `(x, y) = (i, j)` and covering `[i-0.5, i+0.5]`, as
    /// a centroid computed with the column and row indices as weights reports them.
    public struct Configuration: Sendable, Hashable {
        // MARK: Sensor and timing

        /// The model name reported in ``CameraInfo/model``.
        public var model: String = "Aperture simulator"
        /// Sensor width in pixels.
        public var width: Int = 1024
        /// Sensor height in pixels.
        public var height: Int = 1024
        /// Pixel pitch in micrometres (square pixels); also sets the sensor area hit by cosmic rays.
        public var pixelSize: Double = 13
        /// The random seed: the same seed (and frame number) gives the same star field and frames.
        public var seed: UInt64 = 1
        /// Real seconds per simulated second: a simulated duration lasts `duration * timeScale` real
        /// seconds. 0.01 makes a 10 s exposure last 0.1 s and cooling 100 times faster; 1 is real time.
        public var timeScale: Double = 1
        /// The shortest exposure accepted, in seconds.
        public var minimumExposure: Double = 0
        /// The longest exposure accepted, in seconds.
        public var maximumExposure: Double = 3600
        /// Whether the camera has a mechanical shutter (a closed shutter blocks all light).
        public var hasShutter: Bool = true
        /// The largest binning factor on either axis (every factor from 1 up to it is supported).
        public var maximumBinning: Int = 16

        // MARK: Cooling

        /// The temperature of the camera's surroundings; the sensor starts there and drifts back
        /// to it with the cooler off.
        public var ambientTemperature: Double = 20
        /// How far below ambient the cooler can pull the sensor: the sensor never goes below
        /// `ambientTemperature - maximumCoolingDelta`, whatever the set-point.
        public var maximumCoolingDelta: Double = 80
        /// The time constant of the first-order approach to the set-point (or to ambient), in
        /// simulated seconds: after one time constant 63% of the way is done.
        public var coolingTimeConstant: Double = 60
        /// The set-point range reported in ``CameraInfo`` (inclusive, degrees Celsius). The driver
        /// accepts any set-point (the caller checks the range); one below
        /// `ambientTemperature - maximumCoolingDelta` is simply never reached.
        public var setpointRange: ClosedRange<Int> = -80...20
        /// The initial set-point (the cooler starts off).
        public var initialSetpoint: Int = -60
        /// How close to the set-point the sensor must be to count as reached, in degrees.
        public var temperatureTolerance: Double = 0.5
        /// How long the sensor must stay within ``temperatureTolerance`` before it is reported
        /// stabilised, in simulated seconds.
        public var stabilizationTime: Double = 30

        // MARK: Electronics

        /// The bias (offset) level in ADU, added once per pixel read.
        public var biasLevel: Double = 500
        /// Electrons per ADU at the first gain setting's multiplier of 1.
        public var electronsPerADU: Double = 1.0
        /// The gain settings; at setting `g` one ADU is `electronsPerADU / gains[g].multiplier`
        /// electrons.
        public var gains: [Gain] = [
            Gain(name: "1x", multiplier: 1),
            Gain(name: "2x", multiplier: 2),
            Gain(name: "4x", multiplier: 4),
        ]
        /// The readout modes: "fast" (5 MHz, 8 e- rms) and "slow" (1 MHz, 3 e- rms). A full
        /// 1024x1024 frame reads out in 0.21 s (fast) or 1.05 s (slow) simulated time.
        public var readoutModes: [ReadoutMode] = [
            ReadoutMode(name: "fast", readNoise: 8, pixelRate: 5_000_000),
            ReadoutMode(name: "slow", readNoise: 3, pixelRate: 1_000_000),
        ]
        /// The charge one pixel holds; more is lost (no blooming is simulated). The ADU scale
        /// itself clips at 65535.
        public var fullWell: Double = 100_000

        // MARK: Dark current

        /// Dark current in e-/pixel/s at ``darkReferenceTemperature``.
        public var darkCurrent: Double = 0.1
        /// The temperature at which the dark current equals ``darkCurrent``.
        public var darkReferenceTemperature: Double = -20
        /// The dark current doubles every this many degrees: `D(T) = darkCurrent *
        /// 2^((T - darkReferenceTemperature) / darkDoublingTemperature)`, so about 10 e-/px/s at +20 C
        /// and 0.001 e-/px/s at -60 C with the defaults.
        public var darkDoublingTemperature: Double = 6

        // MARK: Sky and stars (object frames)

        /// Sky background in e-/pixel/s.
        public var skyBackground: Double = 10
        /// The number of stars in the field (fixed by the seed, placed uniformly over the sensor).
        public var starCount: Int = 200
        /// The range of stars' total fluxes (all of the PSF), in e-/s.
        public var starFluxRange: ClosedRange<Double> = 200...200_000
        /// The slope of the star counts: the number of stars brighter than F falls as `F^-slope`
        /// (0.75 resembles galactic star counts: faint stars are many, bright ones few).
        public var starCountSlope: Double = 0.75
        /// The Gaussian PSF's sigma at best focus, in pixels (FWHM = 2.3548 sigma = 3.5 px).
        public var psfSigma: Double = 1.5
        /// The focuser position of best focus (arbitrary focuser steps).
        public var bestFocus: Double = 5000
        /// The defocus that widens the PSF by sqrt(2): `sigma(f) = psfSigma *
        /// sqrt(1 + ((f - bestFocus) / defocusScale)^2)`, so sigma^2 (and FWHM^2) is a parabola in f.
        public var defocusScale: Double = 200

        // MARK: The real sky (object frames with a pointing)

        /// Where the telescope points when an exposure names no pointing; nil (the default): such
        /// exposures show the synthetic field of ``starCount`` stars. With a pointing (this, or the
        /// exposure's own ``AcquisitionSettings/pointing``) the frame shows the stars of
        /// ``catalogPath`` around it instead.
        public var pointing: SkyPointing?
        /// The telescope's focal length in millimetres: the pixel scale is
        /// `206264.8 * pixelSize / 1000 / focalLength` arcseconds per pixel (4.47"/px, a field of
        /// 76 arcminutes on 1024 pixels of 13 um at 600 mm).
        public var focalLength: Double = 600
        /// The field's rotation in degrees: at 0 north is towards row 0 (the top of the image shown
        /// with row 0 at the top) and east towards column 0 (the left), as the sky looks; a
        /// positive angle turns the star pattern counter-clockwise on that image (see
        /// ``StarField/project(_:pointing:configuration:)`` for the formula).
        public var rotation: Double = 0
        /// The astrometry.net index whose stars are rendered (``SkyCatalog``): Debian's
        /// `astrometry-data-tycho2-08-littleendian` holds 1.28 million Tycho-2 stars over the
        /// whole sky (about 31 per square degree, so about 50 in the default field).
        public var catalogPath: String = "/usr/share/astrometry/index-tycho2-08.littleendian.fits"
        /// The magnitude whose star gives 1 e-/s (all of its PSF): a star of V_T magnitude `m` has
        /// the flux `10^(-0.4 * (m - magnitudeZeroPoint))` e-/s. 20.75 gives 3,200 e-/s at V_T 12
        /// (the faint end of Tycho-2), 20,000 at 10, and saturates stars brighter than about 7 in
        /// a 1 s exposure.
        public var magnitudeZeroPoint: Double = 20.75

        /// The pixel scale in arcseconds per (unbinned) pixel, from ``pixelSize`` and
        /// ``focalLength``.
        public var pixelScale: Double { pixelSize / 1000 / focalLength * 180 / .pi * 3600 }

        // MARK: Flats

        /// Illumination of a flat field at the optical axis, in e-/pixel/s.
        public var flatIllumination: Double = 3000
        /// Vignetting: the fraction of light lost in the sensor's corners. Illumination (flats, sky
        /// and stars alike) is scaled by `1 - vignetting * r^2 / rCorner^2`, r measured from the
        /// sensor centre, so a flat's mean over the whole sensor is about `1 - vignetting / 3` of
        /// its centre.
        public var vignetting: Double = 0.05

        // MARK: Cosmic rays

        /// Cosmic-ray hits per cm^2 of sensor per second of exposure (dark, flat and object
        /// frames; a shutter does not stop them). 0.05 gives about one hit every 11 s on the
        /// default 1.77 cm^2 sensor.
        public var cosmicRayRate: Double = 0.05
        /// The charge one hit leaves, in electrons, spread along its track.
        public var cosmicRayCharge: ClosedRange<Double> = 1000...8000
        /// The longest track in pixels; a track's length is uniform from 1 to this, its direction
        /// uniform.
        public var cosmicRayMaximumLength: Int = 4

        /// The defaults (a 1024x1024 sensor, real time).
        public init() {}

        /// The Gaussian PSF sigma, in pixels, at a focuser position:
        /// `psfSigma * sqrt(1 + ((focus - bestFocus) / defocusScale)^2)`.
        /// - Parameter focus: the focuser position.
        public func psfSigma(atFocus focus: Double) -> Double {
            let defocus = (focus - bestFocus) / defocusScale
            return psfSigma * (1 + defocus * defocus).squareRoot()
        }

        /// Dark current in e-/pixel/s at a sensor temperature.
        /// - Parameter celsius: the sensor temperature.
        public func darkCurrent(atTemperature celsius: Double) -> Double {
            darkCurrent * exp2((celsius - darkReferenceTemperature) / darkDoublingTemperature)
        }

        /// Checks that the configuration describes a possible camera.
        /// - Throws: ``CameraError`` `invalid_argument` naming the first bad field.
        public func validate() throws(CameraError) {
            func check(_ condition: Bool, _ field: String, _ rule: String) throws(CameraError) {
                if !condition {
                    throw CameraError(.invalidArgument, "simulator configuration: \(field) \(rule)")
                }
            }
            try check(width > 0 && height > 0, "width/height", "must be positive")
            try check(width <= 16384 && height <= 16384, "width/height", "must be at most 16384")
            try check(pixelSize > 0, "pixelSize", "must be positive")
            try check(timeScale > 0 && timeScale.isFinite, "timeScale", "must be positive")
            try check(minimumExposure >= 0 && maximumExposure >= minimumExposure,
                      "minimumExposure/maximumExposure", "must satisfy 0 <= minimum <= maximum")
            try check(maximumBinning >= 1, "maximumBinning", "must be at least 1")
            try check(maximumCoolingDelta >= 0, "maximumCoolingDelta", "must not be negative")
            try check(coolingTimeConstant > 0, "coolingTimeConstant", "must be positive")
            try check(temperatureTolerance > 0, "temperatureTolerance", "must be positive")
            try check(stabilizationTime >= 0, "stabilizationTime", "must not be negative")
            try check(electronsPerADU > 0, "electronsPerADU", "must be positive")
            try check(!gains.isEmpty && gains.allSatisfy { $0.multiplier > 0 }, "gains",
                      "must list at least one gain, each with a positive multiplier")
            try check(!readoutModes.isEmpty && readoutModes.allSatisfy { $0.readNoise >= 0 && $0.pixelRate > 0 },
                      "readoutModes", "must list at least one mode, each with readNoise >= 0 and pixelRate > 0")
            try check(fullWell > 0, "fullWell", "must be positive")
            try check(darkCurrent >= 0, "darkCurrent", "must not be negative")
            try check(darkDoublingTemperature > 0, "darkDoublingTemperature", "must be positive")
            try check(skyBackground >= 0, "skyBackground", "must not be negative")
            try check(starCount >= 0, "starCount", "must not be negative")
            try check(starFluxRange.lowerBound > 0, "starFluxRange", "must be positive")
            try check(starCountSlope > 0, "starCountSlope", "must be positive")
            try check(psfSigma > 0, "psfSigma", "must be positive")
            try check(defocusScale > 0, "defocusScale", "must be positive")
            try check(flatIllumination >= 0, "flatIllumination", "must not be negative")
            try check((0...1).contains(vignetting), "vignetting", "must be between 0 and 1")
            try check(cosmicRayRate >= 0, "cosmicRayRate", "must not be negative")
            try check(cosmicRayCharge.lowerBound >= 0, "cosmicRayCharge", "must not be negative")
            try check(cosmicRayMaximumLength >= 1, "cosmicRayMaximumLength", "must be at least 1")
            try check(focalLength > 0 && focalLength.isFinite, "focalLength", "must be a positive number of millimetres")
            try check(rotation.isFinite, "rotation", "must be a finite number of degrees")
            try check(magnitudeZeroPoint.isFinite, "magnitudeZeroPoint", "must be finite")
            if let pointing {
                try check(SkyPointing.problem(ra: pointing.ra) == nil, "pointing.ra", "must be in 0..<360 degrees")
                try check(SkyPointing.problem(dec: pointing.dec) == nil, "pointing.dec", "must be in -90...90 degrees")
            }
        }
    }
}
