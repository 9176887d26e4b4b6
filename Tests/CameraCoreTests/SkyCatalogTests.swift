import ApertureProtocol
@testable import CameraCore
import Foundation
import FrameAnalysis
import Testing
import ProcessTestSupport

/// The real-sky simulator: the catalogue reader against astrometry.net's own `query-starkd`, the
/// projection's orientation, and the stars a pointed frame shows.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SkyCatalogTests {
    static let index08 = "/usr/share/astrometry/index-tycho2-08.littleendian.fits"

    /// Runs a program to its end on a thread of its own (not one of the cooperative pool);
    /// returns its status and stdout.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await offPool { try runToExit(executable, arguments) }
        return (result.status, result.stdout)
    }

    /// Runs `body` on a thread of its own and waits for it without holding a thread of the
    /// cooperative pool: reading the 79 MB index and rendering full frames take seconds in a
    /// debug build, and two blocked pool threads starve every suite running beside this one.
    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// The stars query-starkd lists: `RA, Dec, MAG_VT` lines after a `#` header.
    static func queryStarkd(ra: Double, dec: Double, radius: Double) async throws -> [CatalogStar] {
        let result = try await run("/usr/bin/query-starkd", ["-r", "\(ra)", "-d", "\(dec)", "-R", "\(radius)",
                                                             "-t", "MAG_VT", index08])
        #expect(result.status == 0, "query-starkd failed: \(result.output)")
        return result.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard fields.count == 3, let ra = fields[0], let dec = fields[1], let mag = fields[2] else { return nil }
            return CatalogStar(ra: ra, dec: dec, magnitude: mag)
        }
    }

    /// Angular distance in arcseconds.
    static func separation(_ a: CatalogStar, _ b: CatalogStar) -> Double {
        let u = SkyCatalog.unitVector(ra: a.ra, dec: a.dec), v = SkyCatalog.unitVector(ra: b.ra, dec: b.dec)
        let dot = max(-1, min(1, u.x * v.x + u.y * v.y + u.z * v.z))
        return acos(dot) * 180 / .pi * 3600
    }

    @Test(arguments: [(83.82, -5.39, 0.7), (10.0, 89.6, 0.8), (359.9, 20.0, 1.0), (0.05, -45.0, 0.5)])
    func theReaderFindsTheStarsQueryStarkdFinds(ra: Double, dec: Double, radius: Double) async throws {
        let (count, ours) = try await Self.offPool {
            let catalog = try SkyCatalog.shared(path: Self.index08)
            return (catalog.count, catalog.stars(aroundRA: ra, dec: dec, radius: radius))
        }
        #expect(count == 1_279_364)
        let theirs = try await Self.queryStarkd(ra: ra, dec: dec, radius: radius)
        #expect(theirs.count > 10, "query-starkd found only \(theirs.count) stars")
        // Stars right on the circle's edge may fall either side of it (query-starkd prints 6
        // significant digits); every star inside the edge's 2" band must be in both lists.
        for star in theirs {
            let nearest = ours.min { Self.separation($0, star) < Self.separation($1, star) }
            // query-starkd prints 6 significant digits: 359.912 is good to 0.0005 degrees.
            func step(_ value: Double) -> Double { pow(10, floor(log10(max(abs(value), 1e-3))) - 5) / 2 }
            let tolerance = (step(star.ra) * cos(star.dec * .pi / 180) + step(star.dec)) * 3600 + 0.05
            let inside = Self.separation(star, CatalogStar(ra: ra, dec: dec, magnitude: 0)) < radius * 3600 - 4
            guard let nearest else { Issue.record("no star of ours near \(star)"); continue }
            if inside || Self.separation(nearest, star) < 4 {
                #expect(Self.separation(nearest, star) <= tolerance, "query-starkd's \(star) vs our \(nearest)")
                #expect(abs(nearest.magnitude - star.magnitude) < 0.001, "magnitude of \(star): ours \(nearest.magnitude)")
            }
        }
        #expect(abs(ours.count - theirs.count) <= 1, "ours \(ours.count), query-starkd \(theirs.count)")
    }

    @Test func aMissingCatalogueIsNamed() {
        let error = #expect(throws: SkyCatalog.ReadError.self) { try SkyCatalog(path: "/nonexistent/index.fits") }
        #expect(error?.description.contains("/nonexistent/index.fits") == true)
        let notAnIndex = #expect(throws: SkyCatalog.ReadError.self) { try SkyCatalog(path: "/etc/hostname") }
        #expect(notAnIndex != nil)
    }

    @Test func northIsUpEastIsLeftAndRotationTurnsCounterClockwise() {
        var configuration = SimulatedCamera.Configuration()
        let pointing = SkyPointing(ra: 100, dec: 30)
        let north = CatalogStar(ra: 100, dec: 30.1, magnitude: 10)
        let east = CatalogStar(ra: 100 + 0.1 / cos(30 * Double.pi / 180), dec: 30, magnitude: 11)
        let centre = (x: 511.5, y: 511.5)
        let step = 0.1 * 3600 / configuration.pixelScale  // pixels per 0.1 degree, about 80.5
        #expect(abs(configuration.pixelScale - 4.469) < 0.001)

        var stars = StarField.project([north, east], pointing: pointing, configuration: configuration)
        #expect(stars.count == 2)
        // Brightest first: the V = 10 star (north) is 10^0.4 times the V = 11 one (east).
        #expect(abs(stars[0].flux / stars[1].flux - pow(10, 0.4)) < 1e-9)
        #expect(abs(stars[0].flux - pow(10, -0.4 * (10 - 20.75))) < 1e-6)
        #expect(abs(stars[0].x - centre.x) < 0.01 && abs(stars[0].y - (centre.y - step)) < 0.2, "north: \(stars[0])")
        #expect(abs(stars[1].x - (centre.x - step)) < 0.2 && abs(stars[1].y - centre.y) < 0.5, "east: \(stars[1])")

        configuration.rotation = 90
        stars = StarField.project([north, east], pointing: pointing, configuration: configuration)
        // Turned a quarter counter-clockwise: up goes left, left goes down.
        #expect(abs(stars[0].x - (centre.x - step)) < 0.2 && abs(stars[0].y - centre.y) < 0.01, "north: \(stars[0])")
        #expect(abs(stars[1].x - centre.x) < 0.5 && abs(stars[1].y - (centre.y + step)) < 0.2, "east: \(stars[1])")
    }

    @Test func aPointedFrameShowsTheCatalogueStarsWhereTheyProject() async throws {
        let pointing = SkyPointing(ra: 83.82, dec: -5.39)
        // Two full frames rendered and measured off the pool (seconds in a debug build).
        let (truth, detection, syntheticStars, catalogue, exposed) = try await Self.offPool {
            var configuration = SimulatedCamera.Configuration()
            configuration.timeScale = 0.001
            configuration.cosmicRayRate = 0
            configuration.rotation = 30
            let camera = SimulatedCamera(configuration: configuration)
            _ = try camera.connect()
            let truth = try camera.skyStars(at: pointing)
            let settings = AcquisitionSettings(exposureTime: 1, shutter: .open,
                                               subframe: Subframe(x: 0, y: 0, width: 1024, height: 1024),
                                               imageType: .object, pointing: pointing)
            try camera.startAcquisition(settings)
            var exposed = try camera.waitForAcquisition(timeout: 10)
            var pixels = [UInt16](repeating: 0, count: 1024 * 1024)
            try pixels.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
            let detection = try pixels.withUnsafeBufferPointer { try StarDetector().detect(pixels: $0, width: 1024, height: 1024) }
            // Without a pointing the same camera shows its synthetic field.
            try camera.startAcquisition(AcquisitionSettings(exposureTime: 1, shutter: .open,
                                                            subframe: Subframe(x: 0, y: 0, width: 1024, height: 1024)))
            exposed = try camera.waitForAcquisition(timeout: 10) && exposed
            var synthetic = [UInt16](repeating: 0, count: 1024 * 1024)
            try synthetic.withUnsafeMutableBufferPointer { try camera.readImage(into: $0) }
            let syntheticStars = try synthetic.withUnsafeBufferPointer {
                try StarDetector().detect(pixels: $0, width: 1024, height: 1024)
            }
            return (truth, detection, syntheticStars, camera.starCatalog, exposed)
        }
        #expect(exposed)
        // The default field holds a few dozen index-08 stars.
        let onSensor = truth.filter { $0.x > 0 && $0.x < 1023 && $0.y > 0 && $0.y < 1023 }
        #expect(onSensor.count >= 30, "only \(onSensor.count) catalogue stars on the sensor")
        #expect(detection.stars.count >= 20, "detected \(detection.stars.count)")
        // Every detected star is a catalogue star, within a tenth of a pixel.
        var matched = 0
        for star in detection.stars {
            let nearest = truth.map { (($0.x - star.x) * ($0.x - star.x) + ($0.y - star.y) * ($0.y - star.y)).squareRoot() }.min() ?? .infinity
            #expect(nearest < 0.3, "detected star at (\(star.x), \(star.y)) is \(nearest) px from any catalogue star")
            if nearest < 0.3 { matched += 1 }
        }
        // And the catalogue's stars away from the edges are found, but for the saturated ones.
        let measurable = onSensor.filter { $0.x > 40 && $0.x < 983 && $0.y > 40 && $0.y < 983 && $0.flux < 500_000 }
        let found = measurable.filter { truthStar in
            detection.stars.contains { abs($0.x - truthStar.x) < 0.5 && abs($0.y - truthStar.y) < 0.5 }
        }
        #expect(found.count >= measurable.count * 9 / 10, "found \(found.count) of \(measurable.count) catalogue stars")

        // Without a pointing the same camera shows its synthetic field.
        let nearSynthetic = syntheticStars.stars.prefix(20).filter { star in
            catalogue.contains { abs($0.x - star.x) < 0.5 && abs($0.y - star.y) < 0.5 }
        }
        #expect(nearSynthetic.count == min(20, syntheticStars.stars.count))
    }

    @Test func aPointingOutsideItsRangesIsRefusedNamingTheField() throws {
        let info = CameraInfo(model: "m", serial: "s", width: 64, height: 64, pixelWidth: 13, pixelHeight: 13,
                              minimumSetpoint: -80, maximumSetpoint: 20, maximumBinX: 4, maximumBinY: 4,
                              readoutModes: ["fast"], gains: ["1x"], hasShutter: true, minimumExposure: 0,
                              maximumExposure: 3600, maximumADU: 65535, electronsPerADU: 1, firstRowIsTop: true)
        let cases: [(ra: Double?, dec: Double?, field: String, says: String)] = [
            (10, nil, "dec", "is required with ra"),
            (nil, 10, "ra", "is required with dec"),
            (360, 0, "ra", "360.0 is outside 0 up to (not including) 360"),
            (-0.5, 0, "ra", "outside"),
            (.nan, 0, "ra", "finite"),
            (10, 90.5, "dec", "90.5 is outside -90 to 90"),
            (10, -.infinity, "dec", "finite"),
        ]
        for item in cases {
            let request = ExposureRequest(type: .object, time: 1, ra: item.ra, dec: item.dec)
            let error = #expect(throws: CameraError.self) {
                try request.plan(info: info, maximumExposure: 3600, filters: [])
            }
            #expect(error?.field == item.field, "\(item)")
            #expect(error?.message.contains(item.says) == true, "\(error?.message ?? "")")
        }
        let plan = try ExposureRequest(type: .object, time: 1, ra: 359.99, dec: -90).plan(info: info, maximumExposure: 3600, filters: [])
        #expect(plan.settings.pointing == SkyPointing(ra: 359.99, dec: -90))
        #expect(try ExposureRequest(type: .object, time: 1).plan(info: info, maximumExposure: 3600, filters: []).settings.pointing == nil)
    }

    @Test func sexagesimalTextCarriesInsteadOfShowingSixty() {
        #expect(SkyPointing(ra: 83.82, dec: -5.39).sexagesimalRA == "05 35 16.800")
        #expect(SkyPointing(ra: 83.82, dec: -5.39).sexagesimalDec == "-05 23 24.00")
        #expect(SkyPointing(ra: 359.99999999, dec: 0).sexagesimalRA == "00 00 00.000")
        #expect(SkyPointing(ra: 0, dec: 89.9999999).sexagesimalDec == "+90 00 00.00")
        #expect(SkyPointing(ra: 0, dec: -0.0001).sexagesimalDec == "-00 00 00.36")
    }
}
