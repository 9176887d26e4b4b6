import ApertureProtocol
import Bus
import FITSStorage
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import ProcessTestSupport

/// Issue 13, must-have 4, through the real executables: the simulator at a pointing (from the
/// request, the command line, the configuration), the FITS keywords of a pointed frame, and
/// pointings refused naming the field while nothing restarts.
@Suite(.serialized, .timeLimit(.minutes(5))) struct SkyEndToEndTests {
    /// Real time at a hundredth: a 1 s exposure lasts 10 ms. The full 1024x1024 sensor (the field
    /// of 76 arcminutes that plate solving needs).
    static let fast = ["APERTURE_CAMERA_TIME_SCALE": "0.01"]

    /// Runs a program to its end without holding a thread of the cooperative pool; stdout and
    /// stderr together.
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let result = try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try runToExit(executable, arguments, mergingErrors: true) }) }.start()
        }
        return (result.status, result.stdout)
    }

    /// Starts aperture-camera alone and waits until it is connected.
    static func startCamera(_ environment: [String: String]) async throws -> (ServiceHarness, RequestClient) {
        let camera = try ServiceHarness("aperture-camera", environment: environment)
        let client = try RequestClient(dialing: camera.runtime.endpoint(EndpointName.cameraControl))
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let ping = try? await client.call(Ping.self, timeout: .milliseconds(500)), ping.ready { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (camera, client)
    }

    /// Waits for an exposure to end; returns its record.
    static func finished(_ client: RequestClient, _ id: String) async throws -> ExposureRecord {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let record = try await client.call(ExposureQueryCommand.self, .init(id: id))
            if record.status != .running { return record }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("exposure \(id) did not finish within 60 s")
        throw CancellationError()
    }

    @Test func aPointedExposureFromTheCommandLineCarriesItsPointingAndVerifies() async throws {
        // A site at 40° north whose meridian the Orion nebula (RA 83.82) passed 50° ago, whatever
        // the time of the run: about 25° up, airmass about 2.3 (GMST by the IAU 1982 linear term).
        let daysSinceJ2000 = Date().timeIntervalSince1970 / 86400 + 40587 - 51544.5
        let sidereal = (280.46061837 + 360.98564736629 * daysSinceJ2000).truncatingRemainder(dividingBy: 360)
        var longitude = (83.82 + 50 - sidereal).truncatingRemainder(dividingBy: 360)
        if longitude > 180 { longitude -= 360 } else if longitude < -180 { longitude += 360 }
        var environment = Self.fast
        environment["APERTURE_SITE_LATITUDE"] = "40"
        environment["APERTURE_SITE_LONGITUDE"] = String(format: "%.4f", longitude)
        let (camera, client) = try await Self.startCamera(environment)
        defer { client.close(); camera.cleanup() }
        let cli = try await Self.run(ServiceHarness.buildDirectory + "/aperture", [
            "camera", "expose", "--type", "object", "--time", "1", "--ra", "83.82", "--dec", "-5.39", "--wait",
            "--runtime-dir", camera.runtime.path])
        #expect(cli.status == 0, "aperture camera expose failed: \(cli.output)")
        let path = try #require(cli.output.split(separator: "\n").map(String.init).last { $0.hasSuffix(".fits") })
        let verify = try await Self.run("/usr/bin/fitsverify", [path])
        #expect(verify.output.contains("found 0 warning(s) and 0 error(s)"), "fitsverify \(path):\n\(verify.output)")
        let file = try FITSFile.read(path: path)
        #expect(file.header["OBJCTRA"]?.contains("05 35 16.800") == true, "\(file.header["OBJCTRA"] ?? "none")")
        #expect(file.header["OBJCTDEC"]?.contains("-05 23 24.00") == true, "\(file.header["OBJCTDEC"] ?? "none")")
        #expect(file.header["RA"].flatMap(Double.init) == 83.82)
        #expect(file.header["DEC"].flatMap(Double.init) == -5.39)
        #expect(file.header["EQUINOX"].flatMap(Double.init) == 2000)
        #expect(file.header["FOCALLEN"].flatMap(Double.init) == 600)
        #expect(file.header["XPIXSZ"].flatMap(Double.init) == 13)

        // astropy's own altitude of the pointing at mid-exposure (precession, nutation, aberration;
        // no refraction, as Aperture) gives the AIRMASS of the header by Kasten & Young's formula.
        let script = """
            import sys, json, warnings
            from astropy.io import fits
            from astropy.utils import iers
            iers.conf.auto_download = False
            iers.conf.auto_max_age = None
            from astropy.time import Time
            from astropy.coordinates import SkyCoord, EarthLocation, AltAz
            import astropy.units as u
            h = fits.getheader(sys.argv[1])
            middle = Time(h["DATE-OBS"], scale="utc") + h["EXPTIME"] / 2 * u.s
            site = EarthLocation(lat=h["SITELAT"] * u.deg, lon=h["SITELONG"] * u.deg, height=0 * u.m)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                alt = SkyCoord(ra=h["RA"] * u.deg, dec=h["DEC"] * u.deg).transform_to(AltAz(obstime=middle, location=site)).alt.deg
            import math
            kasten_young = 1 / (math.sin(math.radians(alt)) + 0.50572 * (alt + 6.07995) ** -1.6364)
            print(json.dumps({"airmass": h.get("AIRMASS"), "altitude": alt, "expected": kasten_young}))
            """
        let astropy = try await Self.run("/usr/bin/env", ["python3", "-c", script, path])
        #expect(astropy.status == 0, "astropy: \(astropy.output)")
        let sky = try JSONSerialization.jsonObject(with: Data(astropy.output.utf8)) as? [String: Any]
        let airmass = try #require(sky?["airmass"] as? Double, "no AIRMASS: \(astropy.output)")
        let expected = try #require(sky?["expected"] as? Double)
        #expect(abs(airmass / expected - 1) < 0.001, "AIRMASS \(airmass), astropy's altitude gives \(expected): \(astropy.output)")
        #expect(airmass > 1.8 && airmass < 3, "\(astropy.output)")

        // The Trapezium region's brightest stars are there: far more light than a synthetic field's
        // 200 stars below 200,000 e-/s, and saturated cores (theta-1 Ori, V_T about 5).
        #expect(file.pixels.contains(65535), "no saturated star at the Orion nebula's centre")

        // Half a pointing is refused naming the missing half; the CLI says why.
        let half = try await Self.run(ServiceHarness.buildDirectory + "/aperture", [
            "camera", "expose", "--type", "object", "--time", "1", "--ra", "83.82", "--runtime-dir", camera.runtime.path])
        #expect(half.status != 0 && half.output.contains("dec: is required with ra"), "\(half.output)")
    }

    @Test func theConfiguredPointingAppliesWhenARequestNamesNone() async throws {
        var environment = Self.fast
        environment["APERTURE_CAMERA_SIMULATOR_RA"] = "10.68"
        environment["APERTURE_CAMERA_SIMULATOR_DEC"] = "41.27"
        environment["APERTURE_CAMERA_SIMULATOR_FOCAL_LENGTH"] = "800"
        let (camera, client) = try await Self.startCamera(environment)
        defer { client.close(); camera.cleanup() }
        let configured = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 1))
        let record = try await Self.finished(client, configured.id)
        let header = try FITSFile.read(path: try #require(record.files.first?.path)).header
        #expect(header["RA"].flatMap(Double.init) == 10.68 && header["DEC"].flatMap(Double.init) == 41.27, "\(header)")
        #expect(header["FOCALLEN"].flatMap(Double.init) == 800)
        // The request's own pointing wins.
        let own = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 1, ra: 83.82, dec: -5.39))
        let ownHeader = try FITSFile.read(path: try #require(try await Self.finished(client, own.id).files.first?.path)).header
        #expect(ownHeader["RA"].flatMap(Double.init) == 83.82)
    }

    @Test func aHalfConfiguredPointingOrAMissingCatalogueStopsTheCameraNamingTheKey() async throws {
        for (environment, key) in [
            (["APERTURE_CAMERA_SIMULATOR_RA": "10"], "camera.simulator.dec"),
            (["APERTURE_CAMERA_SIMULATOR_RA": "10", "APERTURE_CAMERA_SIMULATOR_DEC": "20",
              "APERTURE_CAMERA_SIMULATOR_CATALOG": "/nonexistent/index.fits"], "camera.simulator.catalog"),
        ] {
            let camera = try ServiceHarness("aperture-camera", environment: environment)
            defer { camera.cleanup() }
            let status = await camera.waitForExit(timeout: 30)
            #expect(status != nil && status != 0, "the camera did not stop")
            #expect(camera.output.contains(key), "\(camera.output.suffix(2000))")
        }
    }
}

extension SkyEndToEndTests {
    @Test func badPointingsThroughV1AreRefusedNamingTheFieldAndNothingRestarts() async throws {
        let service = try ServiceHarness("aperture", environment: Self.fast)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        let refused: [(body: String, field: String, says: String)] = [
            (#"{"type": "object", "time": 1, "ra": 360, "dec": 0}"#, "ra", "360.0 is outside 0 up to (not including) 360"),
            (#"{"type": "object", "time": 1, "ra": -1, "dec": 0}"#, "ra", "outside"),
            (#"{"type": "object", "time": 1, "ra": 10, "dec": 91}"#, "dec", "91.0 is outside -90 to 90"),
            (#"{"type": "object", "time": 1, "ra": 10}"#, "dec", "is required with ra"),
            (#"{"type": "object", "time": 1, "dec": 10}"#, "ra", "is required with dec"),
            (#"{"type": "object", "time": 1, "ra": "ten", "dec": 10}"#, "ra", "expected a number"),
            (#"{"type": "object", "time": 1, "ra": 10, "dec": 1e300}"#, "dec", "is outside -90 to 90"),
        ]
        for item in refused {
            let reply = try await http(address, "POST", "/v1/exposures", body: Data(item.body.utf8))
            #expect(reply.status == 400, "\(item.body): \(reply.status) \(reply.text)")
            #expect(reply.errorField == item.field, "\(item.body): field \(reply.errorField ?? "none"), \(reply.text)")
            #expect(reply.text.contains(item.says), "\(item.body): \(reply.text)")
        }
        // A good one is taken, saved with its pointing.
        let good = try await http(address, "POST", "/v1/exposures", json: ["type": "object", "time": 1, "ra": 0.5, "dec": 89.9])
        #expect(good.status == 202, "\(good.text)")
        let id = try #require(good.json["id"] as? String)
        let deadline = Date().addingTimeInterval(60)
        var record: [String: Any] = [:]
        while Date() < deadline {
            record = try await http(address, "GET", "/v1/exposures/\(id)").json
            if record["status"] as? String != "running" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(record["status"] as? String == "completed", "\(record)")
        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }
}

/// Issue 13, must-have 5, through the real service: frames of the real-sky simulator solved by
/// astrometry.net's solve-field through evora's `POST /api/plate_solve` (as the web client sends
/// it) and `/v1/solutions`, and solves that fail cleanly while nothing restarts.
@Suite(.serialized, .timeLimit(.minutes(8))) struct PlateSolveEndToEndTests {
    /// The simulator's pixel scale at the defaults: 13 um at 600 mm.
    static let configuredScale = 13.0 / 1000 / 600 * 180 / .pi * 3600

    /// Angular distance in arcseconds.
    static func arcseconds(_ ra1: Double, _ dec1: Double, _ ra2: Double, _ dec2: Double) -> Double {
        let r = Double.pi / 180
        let cosine = sin(dec1 * r) * sin(dec2 * r) + cos(dec1 * r) * cos(dec2 * r) * cos((ra1 - ra2) * r)
        return acos(max(-1, min(1, cosine))) / r * 3600
    }

    /// Takes one exposure through /v1 and returns its file's path relative to the data root.
    static func expose(_ address: String, _ body: [String: Any], root: String) async throws -> String {
        let reply = try await http(address, "POST", "/v1/exposures", json: body)
        #expect(reply.status == 202, "\(reply.text)")
        let id = try #require(reply.json["id"] as? String)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let record = try await http(address, "GET", "/v1/exposures/\(id)").json
            if record["status"] as? String == "completed", let files = record["files"] as? [[String: Any]],
               let path = files.first?["path"] as? String {
                return String(path.dropFirst(root.count + 1))
            }
            #expect(record["status"] as? String != "failed", "\(record)")
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("exposure \(id) did not complete")
        throw CancellationError()
    }

    /// solve-field processes started for this service (their scratch folder is in its runtime directory).
    static func solvers(of service: ServiceHarness) -> [Int32] {
        ServiceHarness.processes(mentioning: service.root + "/run/solve-")
    }

    @Test func aSimulatedFrameSolvesThroughEvoraAndV1ToItsPointing() async throws {
        let service = try ServiceHarness("aperture", environment: SkyEndToEndTests.fast)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        let root = service.root + "/data"

        // evora's web client: the bare file name /capture reported, the hints typed as text.
        let orion = try await Self.expose(address, ["type": "object", "time": 1, "ra": 83.82, "dec": -5.39], root: root)
        let name = URL(fileURLWithPath: orion).lastPathComponent
        let evora = try await http(address, "POST", "/api/plate_solve", json: [
            "filename": name, "hint_ra_deg": "83.8", "hint_dec_deg": "-5.4", "hint_radius_deg": "2"], timeout: 120)
        #expect(evora.status == 200, "\(evora.text)")
        #expect(evora.json["status"] as? String == "success", "\(evora.text)")
        #expect(evora.json.keys.contains("failure_reason") && evora.json["failure_reason"] is NSNull)
        let ra = try #require(evora.json["center_ra_deg"] as? Double), dec = try #require(evora.json["center_dec_deg"] as? Double)
        #expect(Self.arcseconds(ra, dec, 83.82, -5.39) < 5, "solved \(ra) \(dec)")
        let link = try #require(evora.json["visualization_url"] as? String)
        let picturePath = try #require(URL(string: link)?.path)
        let picture = try await http(address, "GET", picturePath)
        #expect(picture.status == 200 && picture.header("Content-Type") == "image/png")
        #expect(picture.body.prefix(8) == Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]), "not a PNG")

        // The web client with empty hint boxes: no hint, the scale from the header alone.
        let north = try await Self.expose(address, ["type": "object", "time": 1, "ra": 250.4, "dec": 36.46], root: root)
        let unhinted = try await http(address, "POST", "/api/plate_solve", json: [
            "filename": north, "hint_ra_deg": "", "hint_dec_deg": "", "hint_radius_deg": ""], timeout: 120)
        #expect(unhinted.json["status"] as? String == "success", "\(unhinted.text)")
        if let ra = unhinted.json["center_ra_deg"] as? Double, let dec = unhinted.json["center_dec_deg"] as? Double {
            #expect(Self.arcseconds(ra, dec, 250.4, 36.46) < 5, "solved \(ra) \(dec)")
        }

        // /v1: the latest frame, with the WCS written into a new file beside it.
        let original = try #require(FileManager.default.contents(atPath: root + "/" + north))
        let solved = try await http(address, "POST", "/v1/solutions",
                                    json: ["file": "latest", "hint_ra_deg": 250, "hint_dec_deg": 36, "write_wcs": true], timeout: 120)
        #expect(solved.status == 201, "\(solved.text)")
        let solution = solved.json
        #expect(solution["status"] as? String == "success", "\(solved.text)")
        #expect(solution["file"] as? String == north)
        let scale = try #require(solution["pixel_scale"] as? Double)
        #expect(abs(scale / Self.configuredScale - 1) < 0.01, "pixel scale \(scale), configured \(Self.configuredScale)")
        #expect(Self.arcseconds(solution["center_ra_deg"] as? Double ?? 0, solution["center_dec_deg"] as? Double ?? 0, 250.4, 36.46) < 5)
        let detected = solution["detected_stars"] as? Int ?? 0, matched = solution["matched_stars"] as? Int ?? 0
        #expect(detected >= 20 && matched >= 10 && matched <= detected, "detected \(detected), matched \(matched)")
        #expect((solution["field_width_deg"] as? Double).map { abs($0 - 1024 * Self.configuredScale / 3600) < 0.02 } == true)
        // North is up (towards row 0) at camera.simulator.rotation 0; rows run top-down, so the
        // FITS image (row 1 at the bottom) is the sky mirrored.
        let rotation = try #require(solution["rotation_deg"] as? Double)
        #expect(min(rotation, 360 - rotation) < 0.1, "rotation \(rotation)")
        #expect(solution["parity"] as? String == "flipped")
        #expect((solution["wcs"] as? [String: Any])?["CTYPE1"] as? String != nil)
        let wcsFile = try #require(solution["wcs_file"] as? String)
        #expect(wcsFile == north.replacingOccurrences(of: ".fits", with: ".wcs.fits"))
        let verify = try await SkyEndToEndTests.run("/usr/bin/fitsverify", [root + "/" + wcsFile])
        #expect(verify.output.contains("found 0 warning(s) and 0 error(s)"), "\(verify.output)")
        let header = try FITSFile.read(path: root + "/" + wcsFile).header
        #expect(header["CRVAL1"].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.map { abs($0 - 250.4) < 0.01 } == true,
                "\(header["CRVAL1"] ?? "no CRVAL1")")
        #expect(header["OBJCTRA"] != nil && header["CHECKSUM"] != nil)
        #expect(FileManager.default.contents(atPath: root + "/" + north) == original, "the original was changed")
        // Kept by the processor, readable by id.
        let id = try #require(solution["id"] as? String)
        let again = try await http(address, "GET", "/v1/solutions/\(id)")
        #expect(again.status == 200 && again.json["center_ra_deg"] as? Double == solution["center_ra_deg"] as? Double)
        #expect(try await http(address, "GET", "/v1/solutions/\(id)/visualization.png").status == 200)

        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts,
                "a process was restarted:\n\(service.output.suffix(3000))")
    }

    @Test func solvesThatCannotSucceedFailCleanlyAndNothingRestarts() async throws {
        let service = try ServiceHarness("aperture", environment: SkyEndToEndTests.fast)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        let root = service.root + "/data"

        // Nothing saved yet: latest has no file.
        let empty = try await http(address, "POST", "/v1/solutions", json: ["file": "latest"], timeout: 60)
        #expect(empty.status == 201 && empty.json["status"] as? String == "failure", "\(empty.text)")
        #expect((empty.json["failure_reason"] as? String)?.hasPrefix("no file") == true, "\(empty.text)")

        // A bias has no stars.
        let bias = try await Self.expose(address, ["type": "bias", "time": 0], root: root)
        let noStars = try await http(address, "POST", "/api/plate_solve", json: ["filename": bias], timeout: 60)
        #expect(noStars.status == 200 && noStars.json["status"] as? String == "failure", "\(noStars.text)")
        #expect((noStars.json["failure_reason"] as? String)?.hasPrefix("no stars") == true, "\(noStars.text)")
        #expect(noStars.json["visualization_url"] is NSNull && noStars.json["center_ra_deg"] as? Double == 0)

        // A missing file, as evora answered it: 200, failure, the reason naming the file.
        let missing = try await http(address, "POST", "/api/plate_solve", json: ["filename": "20000101/nothing.fits"], timeout: 60)
        #expect(missing.status == 200 && missing.json["status"] as? String == "failure", "\(missing.text)")
        #expect((missing.json["failure_reason"] as? String)?.contains("no file: 20000101/nothing.fits") == true, "\(missing.text)")

        // Outside the data root, a hint that is not a number, half a hint: 400 naming the field.
        let refused: [(path: String, body: [String: Any], field: String, says: String)] = [
            ("/api/plate_solve", ["filename": "/etc/passwd"], "filename", "filename: '/etc/passwd' is outside the data root"),
            ("/api/plate_solve", ["filename": "../../etc/passwd"], "filename", "outside the data root"),
            ("/api/plate_solve", ["filename": bias, "hint_ra_deg": "abc", "hint_dec_deg": "10"], "hint_ra_deg", "must be a number"),
            ("/api/plate_solve", ["filename": bias, "hint_ra_deg": "10", "hint_dec_deg": ""], "hint_dec_deg", "is required with hint_ra_deg"),
            ("/api/plate_solve", ["filename": bias, "hint_ra_deg": 400, "hint_dec_deg": 0, "hint_radius_deg": 1], "hint_ra_deg", "400.0 is outside"),
            ("/api/plate_solve", ["hint_ra_deg": 10], "filename", "is required"),
            ("/v1/solutions", ["file": "/tmp"], "file", "outside the data root"),
            ("/v1/solutions", ["hint_ra_deg": 10, "hint_dec_deg": 10], "file", "file"),
            ("/v1/solutions", ["file": bias, "time_limit": 0], "time_limit", "outside above 0 up to 600"),
            ("/v1/solutions", ["file": bias, "hint_radius_deg": 3], "hint_radius_deg", "needs hint_ra_deg"),
            ("/v1/solutions", ["file": bias, "hint_ra_deg": 10, "hint_dec_deg": -91], "hint_dec_deg", "-91.0 is outside"),
        ]
        for item in refused {
            let reply = try await http(address, "POST", item.path, json: item.body, timeout: 60)
            #expect(reply.status == 400, "\(item.path) \(item.body): \(reply.status) \(reply.text)")
            #expect(reply.errorField == item.field, "\(item.body): field \(reply.errorField ?? "none"), \(reply.text)")
            #expect(reply.text.contains(item.says), "\(item.body): \(reply.text)")
            if item.path == "/api/plate_solve" {
                #expect(reply.json["status"] as? String == "failure" && reply.json["failure_reason"] is String, "\(reply.text)")
            }
        }

        // A time limit too short for any solve: a clean failure, and no solver left running.
        let stars = try await Self.expose(address, ["type": "object", "time": 1, "ra": 10.68, "dec": 41.27], root: root)
        let hurried = try await http(address, "POST", "/v1/solutions", json: ["file": stars, "time_limit": 0.05], timeout: 60)
        #expect(hurried.status == 201 && hurried.json["status"] as? String == "failure", "\(hurried.text)")
        #expect(hurried.json["failure_reason"] as? String == "no solution within the time limit of 0.05 s", "\(hurried.text)")
        let deadline = Date().addingTimeInterval(10)
        while !Self.solvers(of: service).isEmpty && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(Self.solvers(of: service).isEmpty, "solve-field still runs: \(Self.solvers(of: service))")
        let scratch = (try? FileManager.default.contentsOfDirectory(atPath: service.root + "/run")) ?? []
        #expect(!scratch.contains { $0.hasPrefix("solve-") }, "scratch left behind: \(scratch)")

        // An unknown solution.
        let unknown = try await http(address, "GET", "/v1/solutions/nope")
        #expect(unknown.status == 404 && unknown.errorField == "id", "\(unknown.text)")

        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts,
                "a process was restarted:\n\(service.output.suffix(3000))")
    }

    @Test func aMissingSolverIsAFailureThatNamesItAndTheKey() async throws {
        var environment = SkyEndToEndTests.fast
        environment["APERTURE_PROCESSOR_SOLVE_FIELD"] = "/nonexistent/solve-field"
        let service = try ServiceHarness("aperture", environment: environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        let frame = try await Self.expose(address, ["type": "object", "time": 1, "ra": 83.82, "dec": -5.39], root: service.root + "/data")
        let reply = try await http(address, "POST", "/api/plate_solve", json: ["filename": frame], timeout: 60)
        #expect(reply.status == 200 && reply.json["status"] as? String == "failure", "\(reply.text)")
        let reason = reply.json["failure_reason"] as? String ?? ""
        #expect(reason.hasPrefix("solver missing: /nonexistent/solve-field") && reason.contains("processor.solve_field"), "\(reason)")
        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts)
    }

    /// The processes of a service's solves: solve-field itself, or also its astrometry-engine.
    static func solveProcesses(of service: ServiceHarness, engineToo: Bool) -> [Int32] {
        let ours = Set(ServiceHarness.processes(mentioning: service.root + "/run/solve-"))
        return engineToo ? Array(ours) : ServiceHarness.processes(mentioning: "solve-field").filter(ours.contains)
    }

    @Test func aLongSolveKeepsTheProcessorAnsweringRefusesASecondAndDiesWithTheProcessor() async throws {
        let service = try ServiceHarness("aperture", environment: SkyEndToEndTests.fast)
        defer {
            // Should anything of a solve outlive the test (a failure above), it is stopped here.
            for pid in Self.solveProcesses(of: service, engineToo: true) { kill(pid, SIGKILL) }
            service.cleanup()
        }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        // The synthetic field (no pointing) matches no catalogue: solve-field searches the whole sky.
        let synthetic = try await PlateSolveEndToEndTests.expose(address, ["type": "object", "time": 1], root: service.root + "/data")
        let long = Task { try await http(address, "POST", "/v1/solutions", json: ["file": synthetic, "time_limit": 20], timeout: 90) }
        var deadline = Date().addingTimeInterval(30)
        while Self.solveProcesses(of: service, engineToo: false).isEmpty && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let solver = Self.solveProcesses(of: service, engineToo: false)
        #expect(!solver.isEmpty, "solve-field did not start")

        // Meanwhile: a second solve is refused, the processor answers (/healthz, its statistics).
        let second = try await http(address, "POST", "/v1/solutions", json: ["file": synthetic], timeout: 30)
        #expect(second.status == 409 && second.errorCode == "busy", "\(second.text)")
        let health = try await Health.read(address)
        #expect(health.status == "ok" && health.children.allSatisfy(\.responding), "\(health)")
        #expect(try await http(address, "GET", "/v1/processor").status == 200)

        // The processor dies: its solve-field, and the engine that solve-field started, die with it.
        let processor = try #require(health.children.first { $0.name == "processor" }?.pid)
        kill(processor, SIGKILL)
        deadline = Date().addingTimeInterval(10)
        while !solver.filter(ServiceHarness.isAlive).isEmpty && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(solver.filter(ServiceHarness.isAlive).isEmpty, "solve-field outlived the processor: \(solver)")
        deadline = Date().addingTimeInterval(10)
        while !Self.solveProcesses(of: service, engineToo: true).isEmpty && Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(Self.solveProcesses(of: service, engineToo: true).isEmpty, "a solver's process outlived the processor")
        let reply = try await long.value
        #expect(reply.status != 201, "the solve answered although its processor died: \(reply.text)")

        // The supervisor restarts the processor; the camera and the gateway were not touched.
        deadline = Date().addingTimeInterval(60)
        var after = try await Health.waitUntilHealthy(address)
        while after.children.first(where: { $0.name == "processor" })?.pid == processor && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
            after = try await Health.waitUntilHealthy(address)
        }
        let restarted = after.pidsAndRestarts, earlier = before.pidsAndRestarts
        #expect(restarted["camera"] == earlier["camera"] && restarted["gateway"] == earlier["gateway"])
        #expect(after.children.first { $0.name == "processor" }?.restarts == 1)
    }
}
