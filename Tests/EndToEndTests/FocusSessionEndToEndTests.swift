import ApertureProtocol
import Bus
import CameraCore
import FITSStorage
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// evora's focus tab through the real service (issue 13, must-have 3): a focus series taken with
/// evora's `/capture` on the simulator, each file added as the web client's Focus.jsx adds it,
/// the fit against the simulator's true best focus, the plot, reset; the same sessions in `/v1`;
/// bad inputs refused naming the field with nothing restarted.
@Suite(.serialized, .timeLimit(.minutes(5))) struct FocusSessionEndToEndTests {
    static let environment = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "512",
        "APERTURE_CAMERA_HEIGHT": "512",
    ]

    /// Starts the service and waits until every child runs and the camera is connected.
    func start() async throws -> (ServiceHarness, String) {
        let service = try ServiceHarness("aperture", environment: Self.environment)
        let address = try await service.gatewayAddress()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let health = try? await health(address), health.status == "ok",
               let camera = try? await http(address, "GET", "/v1/camera"), camera.json["connected"] as? Bool == true {
                return (service, address)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        service.cleanup()
        Issue.record("the service did not become healthy within 60 s")
        throw CancellationError()
    }

    func health(_ address: String) async throws -> Health {
        let (_, body) = try await ServiceHarness.get(address, "/healthz")
        return try JSONDecoder().decode(Health.self, from: body)
    }

    func restarts(_ health: Health) -> [String: String] {
        Dictionary(uniqueKeysWithValues: health.children.map { ($0.name, "pid \($0.pid ?? 0), restarts \($0.restarts)") })
    }

    /// evora's `/capture` as the web client sends it; returns the reply's `filename`.
    func capture(_ address: String, comment: String, type: String = "Object") async throws -> String {
        let reply = try await http(address, "POST", "/capture", json: [
            "exptime": "20", "exptype": "Single", "imgtype": type, "filtype": "", "comment": comment, "expnum": "1",
        ])
        #expect(reply.status == 200, "\(reply.text)")
        return try #require(reply.json["filename"] as? String)
    }

    /// The night folder (`YYYYMMDD`) a saved file is in, found under the data root.
    func night(of name: String, in service: ServiceHarness) throws -> String {
        let root = service.root + "/data"
        let nights = try FileManager.default.contentsOfDirectory(atPath: root)
        return try #require(nights.first { FileManager.default.fileExists(atPath: root + "/" + $0 + "/" + name) })
    }

    /// `POST /api/add_focus_datapoint` exactly as Focus.jsx sends it.
    func addPoint(_ address: String, sid: String, position: String, filename: String) async throws -> HTTPReply {
        try await http(address, "POST", "/api/add_focus_datapoint",
                       json: ["sid": sid, "focuserPosition": position, "filename": filename])
    }

    @Test func theEvoraClientsFocusSessionFindsTheSimulatorsBestFocus() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let before = try await health(address)
        let sid = String(Int64(Date().timeIntervalSince1970 * 1000))
        let positions = Array(stride(from: 4400, through: 5600, by: 200))
        var files: [String] = []
        for (index, position) in positions.enumerated() {
            let name = try await capture(address, comment: "focus: \(position)")
            // The user types the name /capture gave, or the path the dashboard lists (night/name).
            let filename = index % 2 == 0 ? name : try night(of: name, in: service) + "/" + name
            files.append(filename)
            let reply = try await addPoint(address, sid: sid, position: String(position), filename: filename)
            #expect(reply.status == 200, "\(reply.text)")
            let session = reply.json
            #expect(session["id"] as? String == sid)
            #expect(session["focuser_positons"] as? [Double] == positions.prefix(index + 1).map(Double.init))
            #expect(session["files"] as? [String] == files)
            let fwhm = try #require(session["fwhm_metrics"] as? [Double])
            let hfd = try #require(session["hfd_metrics"] as? [[String: Double]])
            #expect(fwhm.count == index + 1 && hfd.count == index + 1)
            #expect(fwhm.allSatisfy { $0 > 2 && $0 < 30 }, "\(fwhm)")
            #expect(hfd.allSatisfy { ($0["aperture"] ?? 0) > 2 }, "\(hfd)")
            if index < 2 {
                // As evora before its third point: no fit, 0 and empty dicts.
                #expect(session["fwhm_fit"] is NSNull)
                #expect(session["predicted_min_fwhm"] as? Double == 0)
                #expect((session["hfd_fits"] as? [String: Any])?.isEmpty == true)
                #expect((session["predicted_min_hfd"] as? [String: Any])?.isEmpty == true)
            } else {
                #expect((session["fwhm_fit"] as? [Double])?.count == 3, "\(reply.text)")
                #expect((session["hfd_fits"] as? [String: [Double]])?["aperture"]?.count == 3)
            }
        }
        // The simulator's best focus (SimulatedCamera.Configuration.bestFocus).
        let truth = SimulatedCamera.Configuration().bestFocus
        let last = try await addPoint(address, sid: sid, position: "5000", filename: files[3])
        let fwhmBest = try #require(last.json["predicted_min_fwhm"] as? Double)
        let hfdBest = try #require((last.json["predicted_min_hfd"] as? [String: Double])?["aperture"])
        #expect(abs(fwhmBest - truth) < 50, "FWHM best focus \(fwhmBest), truth \(truth)")
        #expect(abs(hfdBest - truth) < 50, "HFD best focus \(hfdBest), truth \(truth)")

        // The plot: a PNG of 640 x 480, as the client makes a blob of it.
        let plot = try await http(address, "GET", "/plot/\(sid)")
        #expect(plot.status == 200)
        #expect(plot.header("Content-Type") == "image/png")
        #expect(plot.body.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let size = [UInt8](plot.body[16..<24])
        #expect(size == [0, 0, 2, 128, 0, 0, 1, 224], "IHDR width and height: \(size)")

        // The same session in /v1, with its fits.
        let v1 = try await http(address, "GET", "/v1/focus/sessions/\(sid)")
        #expect(v1.status == 200)
        #expect((v1.json["points"] as? [Any])?.count == 8)
        let fit = try #require(v1.json["fwhm_fit"] as? [String: Any])
        #expect((fit["best_focus"] as? Double).map { abs($0 - fwhmBest) < 1e-6 } == true)
        let v1Plot = try await http(address, "GET", "/v1/focus/sessions/\(sid)/plot.png")
        #expect(v1Plot.status == 200 && v1Plot.body == plot.body)

        // A restarted processor keeps the session (state directory).
        let restart = try await http(address, "POST", "/v1/supervisor/children/processor/restart", timeout: 60)
        #expect(restart.status == 200, "\(restart.text)")
        var kept: HTTPReply?
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            kept = try? await http(address, "GET", "/v1/focus/sessions/\(sid)")
            if kept?.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(kept?.status == 200)
        #expect((kept?.json["points"] as? [Any])?.count == 8, "\(kept?.text ?? "")")
        #expect(restarts(try await health(address))["processor"] != restarts(before)["processor"])

        // Reset answers {} and forgets the session: its plot is 404.
        let reset = try await http(address, "POST", "/api/reset", json: ["sid": sid])
        #expect(reset.status == 200)
        #expect(reset.json.isEmpty && reset.text.trimmingCharacters(in: .whitespacesAndNewlines) == "{}", "\(reset.text)")
        let gone = try await http(address, "GET", "/plot/\(sid)")
        #expect(gone.status == 404)
        let again = try await http(address, "POST", "/api/reset", json: ["sid": sid])
        #expect(again.status == 200, "resetting an unknown session is not an error, as in evora")
    }

    @Test func badFocusInputsAreRefusedNamingTheFieldAndNothingRestarts() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let before = try await health(address)
        let good = try await capture(address, comment: "focus: 5000")
        let bias = try await capture(address, comment: "", type: "Bias")
        _ = FileManager.default.createFile(atPath: service.root + "/data/notes.fits", contents: Data("not a FITS file".utf8))
        // A real FITS file of 16 x 16 pixels whose header is then made to claim 60000 x 60000:
        // reading it as stated would allocate 7 GB.
        let lying = service.root + "/data/huge.fits"
        try [UInt16](repeating: 100, count: 256).withUnsafeBufferPointer {
            try FITSFile.write(pixels: $0, width: 16, height: 16, cards: [], comments: [], to: lying)
        }
        var bytes = try #require(FileManager.default.contents(atPath: lying))
        for axis in ["NAXIS1", "NAXIS2"] {
            let card = try #require(bytes.range(of: Data(axis.utf8)))
            bytes.replaceSubrange(card.lowerBound + 10..<card.lowerBound + 30, with: Data("               60000".utf8))
        }
        try bytes.write(to: URL(fileURLWithPath: lying))
        let outside = service.root + "/outside.fits"
        try FileManager.default.copyItem(atPath: service.root + "/data/" + (try night(of: good, in: service)) + "/" + good,
                                         toPath: outside)
        let sid = "1765000000000"
        let first = try await addPoint(address, sid: sid, position: "4800", filename: good)
        #expect(first.status == 200, "\(first.text)")

        let cases: [(String, Any, String, String)] = [
            ("focuserPosition", "twelve thousand", good, "must be a number"),
            ("focuserPosition", "NaN", good, "must be a number"),
            ("focuserPosition", "1e400", good, "must be a number"),
            ("focuserPosition", "2e9", good, "outside"),
            ("filename", "5000", "20991231/image-9999.fits", "does not exist"),
            ("filename", "5000", "/etc/passwd", "outside the data root"),
            ("filename", "5000", "../outside.fits", "outside the data root"),
            ("filename", "5000", outside, "outside the data root"),
            ("filename", "5000", "notes.fits", "not a readable FITS image"),
            ("filename", "5000", bias, "no stars"),
            ("filename", "5000", "huge.fits", "more than its 5760 bytes hold"),
            ("filename", "5000", "", "required"),
        ]
        for (field, position, filename, words) in cases {
            let reply = try await http(address, "POST", "/api/add_focus_datapoint",
                                       json: ["sid": sid, "focuserPosition": position, "filename": filename])
            #expect(reply.status == 400, "\(field) \(position) \(filename): \(reply.text)")
            #expect(reply.errorField == field, "\(reply.text)")
            #expect((reply.json["message"] as? String)?.contains(words) == true, "\(reply.text)")
            #expect(reply.json["status"] as? Int == 2, "evora's failure shape")
        }
        // A number too large for a double, as raw JSON.
        let huge = try await http(address, "POST", "/api/add_focus_datapoint",
                                  body: Data(#"{"sid": "1765000000000", "focuserPosition": 1e400, "filename": "x"}"#.utf8))
        #expect(huge.status == 400 && huge.errorField == "focuserPosition", "\(huge.text)")
        for body in [["focuserPosition": "5000", "filename": good], ["sid": "../../x", "focuserPosition": "5000", "filename": good],
                     ["sid": String(repeating: "9", count: 65), "focuserPosition": "5000", "filename": good]] {
            let reply = try await http(address, "POST", "/api/add_focus_datapoint", json: body)
            #expect(reply.status == 400 && reply.errorField == "sid", "\(body): \(reply.text)")
        }
        let noSid = try await http(address, "POST", "/api/reset", json: [String: String]())
        #expect(noSid.status == 400 && noSid.errorField == "sid", "\(noSid.text)")

        // /v1: the same rules, the position as a JSON number.
        let v1Huge = try await http(address, "POST", "/v1/focus/sessions/\(sid)/points", json: ["position": 1e12, "filename": good])
        #expect(v1Huge.status == 400 && v1Huge.errorField == "position", "\(v1Huge.text)")
        let v1Outside = try await http(address, "POST", "/v1/focus/sessions/\(sid)/points",
                                       json: ["position": 5000, "filename": "/etc/passwd"])
        #expect(v1Outside.status == 400 && v1Outside.errorField == "filename", "\(v1Outside.text)")
        let v1BadId = try await http(address, "GET", "/v1/focus/sessions/a%20b")
        #expect(v1BadId.status == 400 && v1BadId.errorField == "id", "\(v1BadId.text)")
        #expect(try await http(address, "GET", "/v1/focus/sessions/404404").status == 404)
        #expect(try await http(address, "DELETE", "/v1/focus/sessions/404404").status == 404)

        // The session kept its one good point through all of that.
        let session = try await http(address, "GET", "/v1/focus/sessions/\(sid)")
        #expect((session.json["points"] as? [Any])?.count == 1, "\(session.text)")
        #expect(restarts(try await health(address)) == restarts(before), "a process was restarted:\n\(service.output.suffix(3000))")
    }
}
