import Bus
import Foundation
import Testing

/// Master frames and the dark library through the real service: simulator frames saved by the
/// camera, catalogued by aperture-catalog, combined by its `calibration.combine` behind
/// `POST /v1/calibration/masters`, read back by astropy.
@Suite(.serialized, .timeLimit(.minutes(6))) struct MastersEndToEndTests {
    let catalog = CatalogEndToEndTests()

    /// The catalog ids of an exposure's frames, oldest first.
    func ids(_ address: String, exposure: String, count: Int) async throws -> [Int] {
        let rows = try await catalog.waitForRows(address, count, "exposure=\(exposure)")
        return rows.compactMap { $0["id"] as? Int }
    }

    /// Takes `count` frames of one type and returns their catalog rows.
    func take(_ address: String, _ type: String, time: Double, count: Int) async throws -> [[String: Any]] {
        let exposure = try await catalog.expose(address, ["type": type, "time": time, "count": count])
        try await catalog.waitForEnd(address, exposure)
        return try await catalog.waitForRows(address, count, "exposure=\(exposure)")
    }

    /// Takes one frame and returns the processor's result for it.
    func calibrated(_ address: String, _ request: [String: Any]) async throws -> [String: Any] {
        let exposure = try await catalog.expose(address, request)
        try await catalog.waitForEnd(address, exposure)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            let reply = try await http(address, "GET", "/v1/processor/results?exposure_id=\(exposure)")
            if let result = (reply.json["results"] as? [[String: Any]])?.first { return result }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("no processor result for \(exposure) within 30 s")
        return [:]
    }

    @Test func aMasterBiasOfTenHasTheReadNoiseOverRootTenAndTheDarkLibraryMatches() async throws {
        let (service, address) = try await catalog.start()
        defer { service.cleanup() }
        let before = try await Health.waitUntilHealthy(address)

        let biases = try await take(address, "bias", time: 0, count: 10)
        let biasIds = biases.compactMap { $0["id"] as? Int }
        #expect(biasIds.count == 10)
        let made = try await http(address, "POST", "/v1/calibration/masters",
                                  json: ["kind": "bias", "method": "sigma_clip", "frames": biasIds], timeout: 120)
        #expect(made.status == 201, "\(made.text)")
        let master = try #require(made.json["master"] as? [String: Any])
        let masterPath = try #require(master["path"] as? String)
        #expect(masterPath.hasPrefix("masters/MASTERBIAS-"), "\(masterPath)")
        #expect(master["imagetyp"] as? String == "MASTERBIAS")
        #expect(Set(made.json["inputs"] as? [Int] ?? []) == Set(biasIds))

        // The master as astropy reads it: float, its header, one HISTORY card per input, its noise.
        let paths = biases.compactMap { $0["path"] as? String }.map { service.root + "/data/" + $0 }
        let check = try await ServiceHarness.runPython("master_check", [service.root + "/data/" + masterPath, paths[0], paths[1]],
                                                       in: service.root)
        #expect(check.status == 0, "\(check.errors)")
        let read = try #require(try JSONSerialization.jsonObject(with: Data(check.output.utf8)) as? [String: Any])
        #expect(read["bitpix"] as? Int == -32)
        #expect(read["imagetyp"] as? String == "MASTERBIAS")
        #expect(read["ncombine"] as? Int == 10)
        #expect(read["combmeth"] as? String == "sigma_clip")
        #expect((read["checksum_warnings"] as? [String])?.isEmpty == true, "\(read)")
        let history = read["history"] as? [String] ?? []
        #expect(history.count == 10)
        for (id, path) in zip(biasIds, biases.compactMap { $0["path"] as? String }) {
            #expect(history.contains { $0.hasPrefix("\(id) ") && $0.hasSuffix(path) }, "no HISTORY card for \(id) \(path): \(history)")
        }
        let readNoise = try #require(read["read_noise"] as? Double)
        let noise = try #require(read["std"] as? Double)
        let expected = readNoise / 10.0.squareRoot()
        print("master bias noise \(noise) ADU, read noise \(readNoise) ADU, read noise / sqrt(10) = \(expected) ADU")
        #expect(readNoise > 1, "the simulator's biases have a read noise of \(readNoise) ADU")
        #expect(abs(noise - expected) / expected < 0.10,
                "master noise \(noise) ADU against read noise \(readNoise) / sqrt(10) = \(expected)")

        // The catalog has the master, found by its type, and serves its file.
        let masters = try await catalog.fetchRows(address, "imagetyp=masterbias")
        #expect(masters.compactMap { $0["path"] as? String } == [masterPath])
        let masterId = try #require(master["id"] as? Int)
        let download = try await http(address, "GET", "/v1/frames/\(masterId)/file")
        let onDisk = try Data(contentsOf: URL(fileURLWithPath: service.root + "/data/" + masterPath))
        #expect(download.status == 200 && download.body == onDisk, "\(download.status)")

        // The dark library: a master dark of 1 s darks; a new 1 s dark matches it, the biases do not.
        let darks = try await take(address, "dark", time: 1, count: 3)
        let darkIds = darks.compactMap { $0["id"] as? Int }
        let dark = try await http(address, "POST", "/v1/calibration/masters", json: ["kind": "dark", "frames": darkIds], timeout: 120)
        #expect(dark.status == 201, "\(dark.text)")
        let darkMaster = try #require((dark.json["master"] as? [String: Any])?["id"] as? Int)
        let frame = try #require(try await take(address, "dark", time: 1, count: 1).first?["id"] as? Int)
        let found = try await http(address, "GET", "/v1/calibration/match?frame=\(frame)&kind=all&tolerance=5")
        #expect(found.status == 200, "\(found.text)")
        let answers = found.json["matches"] as? [[String: Any]] ?? []
        #expect(answers.map { $0["kind"] as? String } == ["bias", "dark", "flat"])
        #expect((answers[1]["master"] as? [String: Any])?["id"] as? Int == darkMaster, "\(found.text)")
        #expect((answers[0]["master"] as? [String: Any])?["path"] as? String == masterPath)
        #expect(answers[2]["reason"] as? String == "no MASTERFLAT in the catalog")
        let none = try await http(address, "GET", "/v1/calibration/match?frame=\(biasIds[0])")
        #expect(none.status == 200)
        let reason = (none.json["matches"] as? [[String: Any]])?.first?["reason"] as? String
        #expect(reason == "no MASTERDARK with exptime 0 s; nearest have 1", "\(none.text)")
        #expect(try await http(address, "GET", "/v1/calibration/match?frame=999999").status == 404)

        // The calibrated quick look: a 1 s dark is calibrated with the master dark (its mean
        // becomes the pedestal), a 2 s object frame with the master bias only, and says why.
        let darkPath = try #require((dark.json["master"] as? [String: Any])?["path"] as? String)
        let configure = try await http(address, "PUT", "/v1/processor/configuration", json: ["calibrate": true])
        #expect(configure.status == 200 && configure.json["calibrate"] as? Bool == true, "\(configure.text)")
        let quick = try await calibrated(address, ["type": "dark", "time": 1])
        let applied = try #require(quick["calibration"] as? [String: Any], "\(quick)")
        #expect(applied["applied"] as? Bool == true && applied["dark"] as? String == darkPath && applied["bias"] == nil, "\(applied)")
        #expect(applied["pedestal"] as? Double == 1000)
        let mean = try #require((quick["analysis"] as? [String: Any])?["mean"] as? Double)
        #expect(abs(mean - 1000) < 2, "calibrated dark mean \(mean) ADU, expected the pedestal 1000")
        let light = try await calibrated(address, ["type": "object", "time": 2])
        let biasOnly = try #require(light["calibration"] as? [String: Any], "\(light)")
        #expect(biasOnly["bias"] as? String == masterPath && biasOnly["dark"] == nil && biasOnly["flat"] == nil, "\(biasOnly)")
        let reasons = biasOnly["reasons"] as? [String] ?? []
        #expect(reasons.contains("no MASTERDARK with exptime 2 s; nearest have 1") && reasons.contains("no MASTERFLAT in the catalog"),
                "\(reasons)")
        _ = try await http(address, "PUT", "/v1/processor/configuration", json: ["calibrate": false])
        #expect(try await calibrated(address, ["type": "dark", "time": 1])["calibration"] == nil)

        // A master flat of simulator flats: median 1, the vignetting kept (a corner about 5 %
        // below the centre), and the quick look of a flat divides by it.
        let flats = try await take(address, "flat", time: 1, count: 5)
        let flatIds = flats.compactMap { $0["id"] as? Int }
        let flat = try await http(address, "POST", "/v1/calibration/masters", json: ["kind": "flat", "frames": flatIds], timeout: 120)
        #expect(flat.status == 201, "\(flat.text)")
        let flatPath = try #require((flat.json["master"] as? [String: Any])?["path"] as? String)
        let flatPaths = flats.compactMap { $0["path"] as? String }.map { service.root + "/data/" + $0 }
        let flatCheck = try await ServiceHarness.runPython("master_check", [service.root + "/data/" + flatPath, flatPaths[0], flatPaths[1]],
                                                           in: service.root)
        let flatRead = try #require(try JSONSerialization.jsonObject(with: Data(flatCheck.output.utf8)) as? [String: Any], "\(flatCheck.errors)")
        #expect(flatRead["imagetyp"] as? String == "MASTERFLAT")
        #expect(abs((flatRead["median"] as? Double ?? 0) - 1) < 1e-6, "\(flatRead)")
        let ratio = (flatRead["corner"] as? Double ?? 0) / (flatRead["center"] as? Double ?? 1)
        #expect(ratio > 0.93 && ratio < 0.97, "corner/centre of the master flat \(ratio), the simulator's vignetting 0.05")
        _ = try await http(address, "PUT", "/v1/processor/configuration", json: ["calibrate": true])
        // The processor asks the catalog again after at most 5 s (it remembered "no MASTERFLAT"
        // for frames like these): flats until one is divided by the new master, within 30 s.
        var flatApplied: [String: Any] = [:]
        let flatDeadline = Date().addingTimeInterval(30)
        while flatApplied["flat"] == nil && Date() < flatDeadline {
            flatApplied = try await calibrated(address, ["type": "flat", "time": 1])["calibration"] as? [String: Any] ?? [:]
        }
        #expect(flatApplied["flat"] as? String == flatPath && flatApplied["dark"] as? String == darkPath, "\(flatApplied)")
        _ = try await http(address, "PUT", "/v1/processor/configuration", json: ["calibrate": false])

        // The command line: the same answers.
        let runtime = service.runtime.path
        let cliMatch = try ServiceHarness.runCLI(["calibration", "match", "--runtime-dir", runtime, "--frame", "\(frame)",
                                                  "--tolerance", "5"])
        #expect(cliMatch.code == 0 && cliMatch.output.contains("dark: \(darkPath)"), "\(cliMatch.output)")
        let cliNone = try ServiceHarness.runCLI(["calibration", "match", "--runtime-dir", runtime, "--frame", "\(biasIds[0])"])
        #expect(cliNone.code == 1 && cliNone.output.contains("dark: none: no MASTERDARK with exptime 0 s; nearest have 1"),
                "\(cliNone.output)")
        let cliCombine = try ServiceHarness.runCLI(["calibration", "combine", "--runtime-dir", runtime, "--kind", "bias",
                                                    "--imagetyp", "bias"])
        #expect(cliCombine.code == 0 && cliCombine.output.contains("MASTERBIAS of 10 frames by median"), "\(cliCombine.output)")
        let cliBad = try ServiceHarness.runCLI(["calibration", "combine", "--runtime-dir", runtime, "--kind", "bias",
                                                "--method", "sigma_clip", "--kappa-low", "0", "1", "2"])
        #expect(cliBad.code != 0 && cliBad.output.contains("--kappa-low"), "\(cliBad.output)")

        // Bad requests: each refused naming its field, and nothing restarts.
        let lights = try await take(address, "object", time: 0.1, count: 2).compactMap { $0["id"] as? Int }
        let bad: [([String: Any], Int, String)] = [
            (["method": "median", "frames": biasIds], 400, "kind"),
            (["kind": "bias", "method": "mean", "frames": biasIds], 400, "method"),
            (["kind": "bias", "method": "sigma_clip", "kappa_low": -1, "frames": biasIds], 400, "kappa_low"),
            (["kind": "bias", "method": "sigma_clip", "kappa_high": 1e300, "frames": biasIds], 400, "kappa_high"),
            (["kind": "bias", "method": "sigma_clip", "iterations": 0, "frames": biasIds], 400, "iterations"),
            (["kind": "bias", "kappa_low": 2, "frames": biasIds], 400, "kappa_low"),
            (["kind": "bias", "frames": [biasIds[0]]], 400, "frames"),
            (["kind": "bias", "frames": [biasIds[0], biasIds[0]]], 400, "frames"),
            (["kind": "bias"], 400, "frames"),
            (["kind": "bias", "frames": biasIds, "query": ["imagetyp": "bias"]], 400, "frames"),
            (["kind": "bias", "query": ["imagetyp": "sky"]], 400, "imagetyp"),
            (["kind": "bias", "frames": [biasIds[0], 999_999]], 404, "frames"),
            (["kind": "bias", "frames": lights], 400, "frames"),
            (["kind": "dark", "frames": [darkIds[0], frame, biasIds[0]]], 400, "frames"),
            (["kind": "flat", "query": ["imagetyp": "flat", "filter": "none such"]], 409, "frames"),
        ]
        for (body, status, field) in bad {
            let reply = try await http(address, "POST", "/v1/calibration/masters", json: body)
            #expect(reply.status == status && reply.errorField == field, "\(body): \(reply.status) \(reply.text)")
        }
        for (query, field) in [("frame=abc", "frame"), ("frame=1&kind=sky", "kind"), ("frame=1&tolerance=-1", "tolerance"),
                               ("kind=dark", "frame"), ("frame=1&path=x", "frame"), ("frame=1&colour=red", "colour")] {
            let reply = try await http(address, "GET", "/v1/calibration/match?" + query)
            #expect(reply.status == 400 && reply.errorField == field, "\(query): \(reply.status) \(reply.text)")
        }
        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }
}
