import ApertureProtocol
import Bus
import FITSStorage
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Issue 14, must-have 6, through the real service with `data.compression = rice`: a series is
/// saved as `.fits.fz`, read bit-exact by astropy against the frame ring's copy and by Debian's
/// funpack, fitsverify clean; every route that serves or reads a file takes the compressed
/// form (`/v1/files` listing and download, evora's `/capture` url, Alpaca's ImageArray from the
/// disk, focus points, plate solving with its WCS version), and nothing restarts.
@Suite(.serialized, .timeLimit(.minutes(6))) struct CompressionEndToEndTests {
    /// The full 1024x1024 sensor on the real sky (plate solving needs its 76 arcminutes), a
    /// hundredth of real time, a ring of two frames (so that a few previews push a frame out).
    static let environment = [
        "APERTURE_DATA_COMPRESSION": "rice",
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_RING_SLOTS": "2",
    ]

    /// Starts an exposure through /v1 and waits until it completes; returns its files' paths.
    func expose(_ address: String, _ body: [String: Any]) async throws -> [String] {
        let reply = try await http(address, "POST", "/v1/exposures", json: body)
        #expect(reply.status == 202, "\(reply.text)")
        let id = try #require(reply.json["id"] as? String)
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            let record = try await http(address, "GET", "/v1/exposures/\(id)").json
            if record["status"] as? String == "completed" {
                return (record["files"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
            }
            #expect(record["status"] as? String != "failed", "\(record)")
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("exposure \(id) did not complete")
        throw CancellationError()
    }

    @Test func aRiceSeriesIsSavedReadBitExactAndServedByEveryRoute() async throws {
        let service = try ServiceHarness("aperture", environment: Self.environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        let root = service.root + "/data"

        // A series of three pointed object frames: .fits.fz, numbered as plain files are.
        let files = try await expose(address, ["type": "object", "time": 1, "count": 3, "ra": 250.4, "dec": 36.46])
        #expect(files.map { URL(fileURLWithPath: $0).lastPathComponent } == ["image-0001.fits.fz", "image-0002.fits.fz", "image-0003.fits.fz"])
        let night = URL(fileURLWithPath: try #require(files.first)).deletingLastPathComponent().lastPathComponent
        #expect(files.allSatisfy { $0.hasPrefix(root + "/" + night + "/") })

        // astropy against the ring's uncompressed copy of the last frame, funpack, fitsverify.
        let latest = try await http(address, "GET", "/v1/frames/latest.fits")
        #expect(latest.status == 200)
        let reference = service.root + "/latest.fits"
        try latest.body.write(to: URL(fileURLWithPath: reference))
        let (status, printed, complaints) = try await ServiceHarness.runPython(
            "compressed_files", [reference, service.root] + files, in: service.root)
        #expect(status == 0, "compressed_files.py:\n\(complaints)\n\(printed)")
        #expect(printed.contains("\"equals_reference\": true"), "\(printed)")
        let plain = try FITSFile.read(path: reference)
        let last = try FITSFile.read(path: try #require(files.last))
        #expect(last.pixels == plain.pixels && last.width == 1024 && last.height == 1024)
        #expect(last.header["IMAGETYP"] == "'Light Frame'" && last.header["OBJCTRA"] != nil, "\(last.header)")

        // The catalog: a row for each compressed file, with the image's own header values and the
        // file's SHA-256; its file route serves the .fits.fz.
        var rows: [[String: Any]] = []
        let deadline = Date().addingTimeInterval(30)
        while rows.count < 3, Date() < deadline {
            rows = try await http(address, "GET", "/v1/frames?imagetyp=object").json["frames"] as? [[String: Any]] ?? []
            if rows.count < 3 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(rows.compactMap { $0["path"] as? String } == files.map { night + "/" + URL(fileURLWithPath: $0).lastPathComponent })
        #expect(rows.allSatisfy { $0["width"] as? Int == 1024 && $0["height"] as? Int == 1024 && $0["ra"] as? Double == 250.4 })
        let lastRow = try #require(rows.last)
        let fileBytes = try Data(contentsOf: URL(fileURLWithPath: try #require(files.last)))
        #expect(lastRow["bytes"] as? Int == fileBytes.count)
        let catalogued = try await http(address, "GET", "/v1/frames/\(lastRow["id"] as? Int ?? 0)/file")
        #expect(catalogued.status == 200 && catalogued.body == fileBytes)

        // /v1/files: the night lists the compressed files; a download is the file, as FITS.
        let listing = try await http(address, "GET", "/v1/files/\(night)")
        let listed = (listing.json["files"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(listed == ["image-0001.fits.fz", "image-0002.fits.fz", "image-0003.fits.fz"], "\(listing.text)")
        let nights = try await http(address, "GET", "/v1/files")
        #expect((nights.json["nights"] as? [[String: Any]])?.first?["files"] as? Int == 3, "\(nights.text)")
        let download = try await http(address, "GET", "/v1/files/\(night)/image-0002.fits.fz")
        #expect(download.status == 200)
        #expect(download.header("Content-Type") == "application/fits")
        #expect(download.header("Content-Disposition") == "attachment; filename=\"image-0002.fits.fz\"")
        #expect(download.body == FileManager.default.contents(atPath: files[1]))
        let head = try await http(address, "GET", "/v1/files/\(night)/image-0002.fits.fz", headers: ["Range": "bytes=0-79"])
        #expect(head.status == 206 && head.text.hasPrefix("SIMPLE  =                    T"))

        // evora's /capture: the url of a compressed file, which serves it.
        let capture = try await http(address, "POST", "/capture", json: [
            "exptime": "0", "exptype": "Single", "imgtype": "Bias", "filtype": "", "comment": "", "expnum": "1",
        ])
        #expect(capture.status == 200, "\(capture.text)")
        #expect(capture.json["filename"] as? String == "image-0004.fits.fz", "\(capture.text)")
        let url = try #require((capture.json["url"] as? String).flatMap(URL.init(string:)))
        let served = try await http(address, "GET", url.path)
        #expect(served.status == 200 && served.body == FileManager.default.contents(atPath: root + "/" + night + "/image-0004.fits.fz"))

        // Focus: a compressed file measured by name, as evora's focus tab adds it.
        let point = try await http(address, "POST", "/api/add_focus_datapoint",
                                   json: ["sid": "1", "focuserPosition": "5000", "filename": night + "/image-0001.fits.fz"])
        #expect(point.status == 200, "\(point.text)")
        #expect((point.json["fwhm_metrics"] as? [Double])?.first.map { $0 > 1 && $0 < 30 } == true, "\(point.text)")
        #expect(point.json["files"] as? [String] == [night + "/image-0001.fits.fz"])

        // Plate solving: the newest frame is the compressed object frame 3 (the bias has no
        // stars, so by name); its WCS version is compressed too and the original untouched.
        let original = try #require(FileManager.default.contents(atPath: files[2]))
        let relative = night + "/image-0003.fits.fz"
        let solved = try await http(address, "POST", "/v1/solutions",
                                    json: ["file": relative, "hint_ra_deg": 250, "hint_dec_deg": 36, "write_wcs": true], timeout: 120)
        #expect(solved.status == 201, "\(solved.text)")
        #expect(solved.json["status"] as? String == "success", "\(solved.text)")
        #expect(solved.json["file"] as? String == relative)
        let wcsFile = try #require(solved.json["wcs_file"] as? String, "\(solved.text)")
        #expect(wcsFile == night + "/image-0003.wcs.fits.fz")
        let wcs = try FITSFile.read(path: root + "/" + wcsFile)
        #expect(wcs.pixels == last.pixels)
        #expect(wcs.header["CRVAL1"].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }.map { abs($0 - 250.4) < 0.01 } == true)
        let verify = try await SkyEndToEndTests.run("/usr/bin/fitsverify", [root + "/" + wcsFile])
        #expect(verify.output.contains("found 0 warning(s) and 0 error(s)"), "\(verify.output)")
        #expect(FileManager.default.contents(atPath: files[2]) == original, "the original was changed")
        // The WCS version is not a frame: the next save continues the numbering.
        let next = try await expose(address, ["type": "bias", "time": 0])
        #expect(next.map { URL(fileURLWithPath: $0).lastPathComponent } == ["image-0005.fits.fz"])

        // Damaged compressed files: cut short, and one whose header claims 60000 x 60416 pixels
        // (a consistent tiling, so cfitsio opens it). Refused naming the field, nothing allocated.
        let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: files[0])))
        try Data(good.prefix(2880 * 4)).write(to: URL(fileURLWithPath: root + "/" + night + "/cut.fits.fz"))
        try Data(Self.claimingHugeImage(good)).write(to: URL(fileURLWithPath: root + "/" + night + "/bomb.fits.fz"))
        for (name, words) in [("cut.fits.fz", "is not a readable FITS image"), ("bomb.fits.fz", "states 60000 x 60416 pixels")] {
            let measured = try await http(address, "POST", "/v1/focus/measure", json: ["filename": night + "/" + name])
            #expect(measured.status == 400 && measured.errorField == "filename", "\(name): \(measured.text)")
            #expect(measured.text.contains(words), "\(name): \(measured.text)")
            let solve = try await http(address, "POST", "/v1/solutions", json: ["file": night + "/" + name], timeout: 60)
            #expect(solve.json["status"] as? String == "failure", "\(name): \(solve.text)")
            #expect((solve.json["failure_reason"] as? String)?.contains("no image") == true, "\(name): \(solve.text)")
        }
        let bombSolve = try await http(address, "POST", "/v1/solutions", json: ["file": night + "/bomb.fits.fz"], timeout: 60)
        #expect((bombSolve.json["failure_reason"] as? String)?.contains("compressed at most 4096 to 1") == true, "\(bombSolve.text)")

        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }

    /// A compressed file whose image header (ZNAXISn, ZTILEn) claims 60000 x (at least 60000)
    /// pixels in tiles of 60000 x (60000 / rows, rounded up), so that the tile count still
    /// matches the table's rows.
    static func claimingHugeImage(_ file: [UInt8]) throws -> [UInt8] {
        var bytes = file
        func card(_ keyword: String) throws -> Int {
            let name = Array(keyword.padding(toLength: 8, withPad: " ", startingAt: 0).utf8)
            return try #require(stride(from: 2880, to: bytes.count - 80, by: 80).first { Array(bytes[$0..<($0 + 8)]) == name },
                                "no \(keyword)")
        }
        let rowsCard = try card("NAXIS2")
        let rows = try #require(Int(String(decoding: bytes[(rowsCard + 10)..<(rowsCard + 30)], as: UTF8.self)
            .trimmingCharacters(in: .whitespaces)))
        let tileRows = (60000 + rows - 1) / rows
        for (keyword, value) in [("ZNAXIS1", 60000), ("ZNAXIS2", rows * tileRows), ("ZTILE1", 60000), ("ZTILE2", tileRows)] {
            let start = try card(keyword)
            let text = Array(("= " + String(repeating: " ", count: 20 - String(value).count) + String(value)).utf8)
            bytes.replaceSubrange((start + 8)..<(start + 8 + text.count), with: text)
        }
        return bytes
    }

    @Test func alpacaImageArrayReadsACompressedFileOnceTheRingHasMovedOn() async throws {
        var environment = Self.environment
        environment["APERTURE_CAMERA_WIDTH"] = "640"
        environment["APERTURE_CAMERA_HEIGHT"] = "480"
        let service = try ServiceHarness("aperture", environment: environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)
        let alpaca = try await service.gatewayReports("an Alpaca address") { $0.alpaca }
        let device = "/api/v1/camera/0/"
        let form = ["Content-Type": "application/x-www-form-urlencoded"]
        let connected = try await http(alpaca, "PUT", device + "connected", body: Data("Connected=True".utf8), headers: form)
        #expect(connected.json["ErrorNumber"] as? Int == 0, "\(connected.text)")
        let started = try await http(alpaca, "PUT", device + "startexposure", body: Data("Duration=0.5&Light=True".utf8), headers: form)
        #expect(started.json["ErrorNumber"] as? Int == 0, "\(started.text)")
        let deadline = Date().addingTimeInterval(30)
        while try await http(alpaca, "GET", device + "imageready").json["Value"] as? Bool != true, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let exposures = try await http(address, "GET", "/v1/exposures").json["exposures"] as? [[String: Any]] ?? []
        let path = try #require((exposures.first?["files"] as? [[String: Any]])?.first?["path"] as? String)
        #expect(path.hasSuffix("/image-0001.fits.fz"))
        // Four previews replace both slots of the ring: the image must come from the file.
        _ = try await expose(address, ["type": "object", "time": 0.01, "mode": "preview", "count": 4])

        let image = try await http(alpaca, "GET", device + "imagearray?ClientTransactionID=7", headers: ["Accept": "application/imagebytes"])
        #expect(image.header("Content-Type") == "application/imagebytes", "\(image.text.prefix(300))")
        let header = image.body.prefix(44).withUnsafeBytes { raw in (0..<11).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
        #expect(header[1] == 0 && header[2] == 7 && header[8] == 640 && header[9] == 480)
        let fits = try FITSFile.read(path: path)
        #expect(image.body.count == 44 + 640 * 480 * 2)
        let topDown = fits.header["ROWORDER"]?.contains("TOP-DOWN") ?? false
        var mismatches = 0
        image.body.dropFirst(44).withUnsafeBytes { raw in
            for x in 0..<640 {
                for y in 0..<480 {
                    let row = topDown ? y : 479 - y
                    if raw.loadUnaligned(fromByteOffset: (x * 480 + y) * 2, as: UInt16.self) != fits.pixels[row * 640 + x] {
                        mismatches += 1
                    }
                }
            }
        }
        #expect(mismatches == 0)
        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }
}
