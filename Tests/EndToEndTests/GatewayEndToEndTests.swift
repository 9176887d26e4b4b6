import Bus
import Foundation
import FITSStorage
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// One HTTP exchange with the gateway, as a user's script makes it.
struct HTTPReply: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
    /// `error.code` and `error.field` of a JSON error.
    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    var errorField: String? { (json["error"] as? [String: Any])?["field"] as? String }
}

func http(_ address: String, _ method: String, _ path: String, json: Any? = nil, body: Data? = nil,
          headers: [String: String] = [:], timeout: Double = 30) async throws -> HTTPReply {
    var request = URLRequest(url: URL(string: "http://\(address)\(path)")!)
    request.httpMethod = method
    request.timeoutInterval = timeout
    if let json {
        request.httpBody = try JSONSerialization.data(withJSONObject: json, options: [.fragmentsAllowed])
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    } else if let body {
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    }
    for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
    let (data, response) = try await URLSession.shared.data(for: request)
    let http = response as! HTTPURLResponse
    var fields: [String: String] = [:]
    for (key, value) in http.allHeaderFields { fields["\(key)"] = "\(value)" }
    return HTTPReply(status: http.statusCode, headers: fields, body: data)
}

/// A GET whose path is sent exactly as given (no `..` normalisation), by Python's http.client.
func rawGET(_ address: String, _ path: String) throws -> (Int, String) {
    let parts = address.split(separator: ":")
    let (_, output) = try ServiceHarness.run(["python3", "-c", """
        import http.client, sys
        c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=10)
        c.request("GET", sys.argv[3])
        r = c.getresponse()
        sys.stdout.write(str(r.status) + "\\n" + r.read().decode(errors="replace"))
        """, String(parts[0]), String(parts[1]), path])
    let lines = output.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    return (Int(lines.first ?? "") ?? 0, lines.count > 1 ? String(lines[1]) : "")
}

/// The gateway's HTTP faces, through the real service: evora's routes, psen's, `/v1`, events,
/// metrics, auth, and what a client gets while the camera process is down.
@Suite(.serialized, .timeLimit(.minutes(5))) struct GatewayEndToEndTests {
    static let fast = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "256",
        "APERTURE_CAMERA_HEIGHT": "256",
    ]

    /// Starts the service; waits until the camera answers through the gateway.
    func start(_ environment: [String: String] = fast) async throws -> (ServiceHarness, String) {
        let service = try ServiceHarness("aperture", environment: environment)
        let address = try await service.gatewayAddress()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let reply = try? await http(address, "GET", "/v1/camera"), reply.status == 200,
               reply.json["connected"] as? Bool == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return (service, address)
    }

    @Test("evora's routes answer at their paths with evora's reply shapes")
    func evoraRoutes() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }

        let status = try await http(address, "GET", "/getStatus")
        #expect(status.status == 200)
        #expect(status.json["status"] as? Int == 20073)
        #expect(status.json["funcstatus"] as? Int == 20002)

        let initialized = try await http(address, "GET", "/initialize")
        #expect(initialized.json["dimensions"] as? [Int] == [256, 256])
        #expect(initialized.json["status"] as? Int == 20002)

        let temperature = try await http(address, "GET", "/getTemperature")
        #expect(temperature.json["temperature"] is Double || temperature.json["temperature"] is Int)
        #expect((20034...20040).contains(temperature.json["status"] as? Int ?? 0))

        // evora answers the set-point as a bare number, and -999 when it is out of range (the web
        // client compares the reply with '-999'); Aperture says why in a header.
        let set = try await http(address, "POST", "/setTemperature", json: ["temperature": "-20"])
        #expect(set.status == 200)
        #expect(set.text == "-20", "\(set.text)")
        let outOfRange = try await http(address, "POST", "/setTemperature", json: ["temperature": -200])
        #expect(outOfRange.status == 400)
        #expect(outOfRange.text == "-999", "\(outOfRange.text)")
        let why = try #require(outOfRange.header("Aperture-Error"))
        #expect(why.hasPrefix("temperature: -200"), "\(why)")
        #expect(why.contains("range"), "\(why)")
        let badSet = try await http(address, "POST", "/setTemperature", json: ["temperature": "cold"])
        #expect(badSet.status == 400)
        #expect(badSet.json["status"] as? Int == 2)
        #expect(badSet.errorField == "temperature")

        // capture, with the body as JSON and encoded twice as evora's web client sends it.
        let capture: [String: Any] = ["exptime": "1", "exptype": "Single", "imgtype": "Object", "filtype": "V",
                                      "comment": "focus: 1200"]
        let single = try await http(address, "POST", "/capture", json: capture)
        #expect(single.status == 200, "\(single.text)")
        #expect(single.json["message"] as? String == "Capture Successful")
        #expect(single.json["status"] as? Int == 0)
        let filename = try #require(single.json["filename"] as? String)
        #expect(filename.hasSuffix(".fits"))
        let url = try #require(single.json["url"] as? String)
        let file = try await http(String(url.dropFirst("http://".count).prefix { $0 != "/" }), "GET",
                                  "/" + url.dropFirst("http://".count).drop { $0 != "/" }.dropFirst())
        #expect(file.status == 200)
        #expect(file.body.starts(with: Data("SIMPLE  =".utf8)))

        let twiceEncoded = String(decoding: try JSONSerialization.data(withJSONObject: capture), as: UTF8.self)
        let twice = try await http(address, "POST", "/capture", json: twiceEncoded)
        #expect(twice.json["message"] as? String == "Capture Successful", "\(twice.text)")
        #expect(twice.json["filename"] as? String != filename)

        // Real Time: one unsaved frame for live viewing, served as the latest frame.
        let realTime = try await http(address, "POST", "/capture", json: ["exptime": 1, "exptype": "Real Time", "imgtype": "Object"])
        #expect(realTime.json["message"] as? String == "Capture Successful", "\(realTime.text)")
        #expect((realTime.json["url"] as? String)?.hasSuffix("/v1/frames/latest.fits") == true)
        let live = try await http(address, "GET", "/v1/frames/latest.fits")
        #expect(live.body.starts(with: Data("SIMPLE  =".utf8)))

        let series = try await http(address, "POST", "/capture",
                                    json: ["exptime": 0.5, "exptype": "Series", "expnum": "3", "imgtype": "Dark"])
        #expect(series.json["status"] as? Int == 0, "\(series.text)")
        let night = try #require((try await http(address, "GET", "/v1/files")).json["nights"] as? [[String: Any]]).first
        let listing = try await http(address, "GET", "/v1/files/\(night?["night"] as? String ?? "")")
        #expect((listing.json["files"] as? [Any])?.count == 5)

        // Bad input: named, 400, evora's failure shape; nothing is taken.
        for (fields, field) in [
            (["exptime": "abc", "exptype": "Single", "imgtype": "Object"], "exptime"),
            (["exptime": "1", "exptype": "Single", "imgtype": "Science"], "imgtype"),
            (["exptime": "1", "exptype": "Forever", "imgtype": "Object"], "exptype"),
            (["exptime": "1", "exptype": "Series", "expnum": "0", "imgtype": "Object"], "expnum"),
        ] as [([String: Any], String)] {
            let reply = try await http(address, "POST", "/capture", json: fields)
            #expect(reply.status == 400, "\(fields): \(reply.text)")
            #expect(reply.json["status"] as? Int == 2)
            #expect(reply.errorField == field, "\(reply.text)")
            #expect((reply.json["message"] as? String)?.contains(field) == true)
        }
        let after = try await http(address, "GET", "/v1/files/\(night?["night"] as? String ?? "")")
        #expect((after.json["files"] as? [Any])?.count == 5)

        let wheel = try await http(address, "GET", "/getFilterWheel")
        #expect(wheel.json["success"] as? Bool == true)
        #expect(wheel.json["filter"] as? String == "V")
        #expect(wheel.json.keys.contains("error"))
        let moved = try await http(address, "POST", "/setFilterWheel", json: ["filter": "r"])
        #expect(moved.json["success"] as? Bool == true)
        #expect(moved.json["filter"] as? String == "r")
        let unknown = try await http(address, "POST", "/setFilterWheel", json: ["filter": "Q"])
        #expect(unknown.status == 400)
        #expect(unknown.json["success"] as? Bool == false)
        #expect((unknown.json["error"] as? String)?.contains("Q") == true)
        let homed = try await http(address, "GET", "/homeFilterWheel")
        #expect(homed.json["success"] as? Bool == true)

        let abort = try await http(address, "GET", "/abort")
        #expect(abort.json["message"] as? String == "Aborting exposure")

        let shutdown = try await http(address, "GET", "/shutdown")
        #expect(shutdown.status == 200, "\(shutdown.text)")
        #expect(shutdown.json["status"] as? Int == 20002)
        let down = try await http(address, "GET", "/getStatus")
        #expect(down.json["status"] as? Int == 20075)
    }

    @Test("a capture does not hold up other requests: getTemperature and abort answer at once during a 60 s exposure")
    func captureDoesNotBlock() async throws {
        let (service, address) = try await start(["APERTURE_CAMERA_WIDTH": "256", "APERTURE_CAMERA_HEIGHT": "256"])
        defer { service.cleanup() }
        let capture = Task {
            try await http(address, "POST", "/capture", json: ["exptime": 60, "exptype": "Single", "imgtype": "Object"],
                           timeout: 90)
        }
        var acquiring = false
        for _ in 0..<100 where !acquiring {
            try await Task.sleep(for: .milliseconds(100))
            acquiring = try await http(address, "GET", "/getStatus").json["status"] as? Int == 20072
        }
        #expect(acquiring)
        let started = ContinuousClock.now
        let temperature = try await http(address, "GET", "/getTemperature")
        #expect(temperature.status == 200)
        // evora froze for the whole exposure; here the reply comes while it runs.
        #expect(ContinuousClock.now - started < .seconds(5))
        let aborting = ContinuousClock.now
        let abort = try await http(address, "GET", "/abort")
        #expect(abort.json["message"] as? String == "Aborting exposure")
        #expect(ContinuousClock.now - aborting < .seconds(2), "evora polled a flag and waited 0.5 s; this answers once the camera is idle")
        let reply = try await capture.value
        #expect(reply.json["message"] as? String == "Capture aborted", "\(reply.text)")
        #expect(reply.json["status"] as? Int == 1)
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("psen_processing's API under /psen/: envelope, ROIs checked against the sensor, statistics")
    func psenRoutes() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        _ = try await http(address, "POST", "/v1/exposures", json: ["type": "object", "time": 0.2])
        try await Task.sleep(for: .seconds(1))

        let status = try await http(address, "GET", "/psen/status")
        #expect(status.json["state"] as? String == "ok")
        #expect(status.json["status"] as? String == "processing")
        let stopped = try await http(address, "POST", "/psen/stop")
        #expect(stopped.json["status"] as? String == "stopped")
        let started = try await http(address, "POST", "/psen/start")
        #expect(started.json["status"] as? String == "processing")

        let none = try await http(address, "GET", "/psen/roi_signal")
        #expect(none.json["roi_signal"] as? [Int] == [], "psen's client reads [] for no ROI: \(none.text)")
        let set = try await http(address, "POST", "/psen/roi_signal", json: [10, 100, 20, 50])
        #expect(set.status == 200, "\(set.text)")
        #expect(set.json["roi_signal"] as? [Int] == [10, 100, 20, 50])
        #expect(try await http(address, "GET", "/psen/roi_signal").json["roi_signal"] as? [Int] == [10, 100, 20, 50])
        let background = try await http(address, "POST", "/psen/roi_background", json: [0, 256, 0, 10])
        #expect(background.json["roi_background"] as? [Int] == [0, 256, 0, 10])

        for bad in [[0, 10, 0, 5000], [-1, 10, 0, 10], [0, 0, 0, 10], [1, 2, 3]] {
            let reply = try await http(address, "POST", "/psen/roi_signal", json: bad)
            #expect(reply.status == 400, "\(bad): \(reply.text)")
            #expect(reply.json["state"] as? String == "error")
            // psen's client raises ValueError(status): the message naming the field.
            #expect((reply.json["status"] as? String)?.contains("roi_signal") == true, "\(reply.text)")
            #expect(reply.errorField == "roi_signal")
        }
        let text = try await http(address, "POST", "/psen/roi_signal", json: ["a": 1])
        #expect(text.status == 400)
        #expect(try await http(address, "GET", "/psen/roi_signal").json["roi_signal"] as? [Int] == [10, 100, 20, 50])
        let disabled = try await http(address, "POST", "/psen/roi_signal", body: Data("null".utf8))
        #expect(disabled.json["roi_signal"] as? [Int] == [], "\(disabled.text)")

        _ = try await http(address, "POST", "/v1/exposures", json: ["type": "object", "time": 0.2])
        try await Task.sleep(for: .seconds(1))
        let statistics = try await http(address, "GET", "/psen/statistics")
        #expect(statistics.json["state"] as? String == "ok")
        let figures = try #require(statistics.json["statistics"] as? [String: Any])
        #expect((figures["frames_processed"] as? Int ?? 0) >= 1)
        #expect(figures["last_frame_id"] is String)
    }

    @Test("/v1: exposures with files and statistics, busy, cooling, files with Range, frames, errors by name")
    func v1Routes() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }

        // 2 x 200 simulated seconds, 2 s each at this time scale: still running when the next
        // request comes, however loaded the machine (2 x 2 s took 40 ms and once ended first).
        let started = try await http(address, "POST", "/v1/exposures",
                                     json: ["type": "object", "time": 200, "count": 2, "comment": "test"])
        #expect(started.status == 202, "\(started.text)")
        let id = try #require(started.json["id"] as? String)
        #expect(started.header("Location") == "exposures/\(id)")
        let busy = try await http(address, "POST", "/v1/exposures", json: ["type": "dark", "time": 1])
        #expect(busy.status == 409)
        #expect(busy.errorCode == "busy")

        var record: [String: Any] = [:]
        for _ in 0..<200 {
            record = try await http(address, "GET", "/v1/exposures/\(id)").json
            if record["status"] as? String == "completed", (record["statistics"] as? [Any])?.count == 2 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(record["status"] as? String == "completed")
        let files = try #require(record["files"] as? [[String: Any]])
        #expect(files.count == 2)
        let statistics = try #require(record["statistics"] as? [[String: Any]])
        #expect(statistics.count == 2)
        #expect((statistics.first?["analysis"] as? [String: Any])?["mean"] != nil)
        let list = try await http(address, "GET", "/v1/exposures")
        #expect((list.json["exposures"] as? [[String: Any]])?.contains { $0["id"] as? String == id } == true)
        let missing = try await http(address, "GET", "/v1/exposures/nope")
        #expect(missing.status == 404)

        for (body, field) in [
            (["type": "science", "time": 1], "type"),
            (["type": "object", "time": "x"], "time"),
            (["type": "object", "time": -1], "time"),
            (["type": "object", "time": 1, "bin_x": 99], "bin_x"),
            (["time": 1], "type"),
        ] as [([String: Any], String)] {
            let reply = try await http(address, "POST", "/v1/exposures", json: body)
            #expect(reply.status == 400, "\(body): \(reply.text)")
            #expect(reply.errorCode == "invalid_argument")
            #expect(reply.errorField == field, "\(body): \(reply.text)")
        }
        let notJSON = try await http(address, "POST", "/v1/exposures", body: Data("{type".utf8))
        #expect(notJSON.status == 400)
        let huge = try await http(address, "POST", "/v1/exposures", body: Data(repeating: 0x20, count: 2 << 20))
        #expect(huge.status == 413)
        #expect(huge.errorCode == "body_too_large")

        let cooling = try await http(address, "POST", "/v1/camera/cooling", json: ["setpoint": -15])
        #expect(cooling.json["setpoint"] as? Int == -15)
        let tooCold = try await http(address, "POST", "/v1/camera/cooling", json: ["setpoint": -999])
        #expect(tooCold.status == 400)
        #expect(tooCold.errorField == "setpoint")

        // The last hour of temperatures, kept by the gateway for the dashboard's chart.
        var samples: [[String: Any]] = []
        for _ in 0..<50 where !samples.contains(where: { $0["setpoint"] as? Int == -15 }) {
            try await Task.sleep(for: .milliseconds(200))
            samples = try await http(address, "GET", "/v1/camera/temperature/history").json["samples"] as? [[String: Any]] ?? []
        }
        #expect(samples.contains { $0["setpoint"] as? Int == -15 }, "\(samples.suffix(3))")
        let times = samples.compactMap { $0["time"] as? Double }
        #expect(times.count == samples.count && times == times.sorted())
        #expect(samples.allSatisfy { $0["celsius"] is Double || $0["celsius"] is Int })
        #expect(try await http(address, "GET", "/v1/camera/temperature/history?seconds=x").status == 400)

        // Files: listing by night, download with Range, nothing outside the data root.
        let night = try #require(URL(fileURLWithPath: files[0]["path"] as? String ?? "").deletingLastPathComponent().lastPathComponent as String?)
        let name = URL(fileURLWithPath: files[0]["path"] as? String ?? "").lastPathComponent
        let listing = try await http(address, "GET", "/v1/files/\(night)")
        let entry = try #require((listing.json["files"] as? [[String: Any]])?.first { $0["name"] as? String == name })
        let size = try #require(entry["size"] as? Int)
        let whole = try await http(address, "GET", "/v1/files/\(night)/\(name)")
        #expect(whole.status == 200)
        #expect(whole.body.count == size)
        #expect(whole.body == (try Data(contentsOf: URL(fileURLWithPath: files[0]["path"] as! String))))
        let part = try await http(address, "GET", "/v1/files/\(night)/\(name)", headers: ["Range": "bytes=2880-2959"])
        #expect(part.status == 206)
        #expect(part.body == whole.body[2880..<2960])
        #expect(part.header("Content-Range") == "bytes 2880-2959/\(size)")
        let tail = try await http(address, "GET", "/v1/files/\(night)/\(name)", headers: ["Range": "bytes=-100"])
        #expect(tail.body == whole.body.suffix(100))
        let beyond = try await http(address, "GET", "/v1/files/\(night)/\(name)", headers: ["Range": "bytes=\(size + 10)-"])
        #expect(beyond.status == 416)
        for path in ["/v1/files/..%2F..%2F..%2Fetc/passwd", "/v1/files/\(night)/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
                     "/v1/files/\(night)/.hidden.fits", "/v1/files/../../etc/passwd", "/v1/files/19990101/x.fits"] {
            let reply = try await http(address, "GET", path)
            #expect([400, 404].contains(reply.status), "\(path): \(reply.status)")
            #expect(!reply.text.contains("root:"))
        }

        // Symbolic links out of the data root, and `..` sent as is (URLSession would normalise it).
        let dataRoot = service.root + "/data"
        try FileManager.default.createSymbolicLink(atPath: dataRoot + "/\(night)/escape.fits", withDestinationPath: "/etc/passwd")
        try FileManager.default.createSymbolicLink(atPath: dataRoot + "/20000101", withDestinationPath: "/etc")
        for path in ["/v1/files/\(night)/escape.fits", "/v1/files/20000101/passwd", "/v1/files/20000101"] {
            let reply = try await http(address, "GET", path)
            #expect([400, 404].contains(reply.status), "\(path): \(reply.status)")
            #expect(!reply.text.contains("root:"))
        }
        for path in ["/v1/files/../../../../etc/passwd", "/v1/files/\(night)/../../../../etc/passwd"] {
            let (status, body) = try rawGET(address, path)
            #expect([400, 404].contains(status), "\(path): \(status)")
            #expect(!body.contains("root:"))
        }

        let fits = try await http(address, "GET", "/v1/frames/latest.fits")
        #expect(fits.status == 200)
        #expect(fits.body.starts(with: Data("SIMPLE  =".utf8)))
        let dataBlocks: Int = (256 * 256 * 2 + 2879) / 2880
        #expect(fits.body.count == 2880 + dataBlocks * 2880)
        // The same encoder as the saved files: it reads back with its keywords and checksums.
        let copy = NSTemporaryDirectory() + "latest-\(getpid()).fits"
        try fits.body.write(to: URL(fileURLWithPath: copy))
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let read = try FITSFile.read(path: copy)
        #expect(read.width == 256 && read.height == 256 && read.pixels.count == 256 * 256)
        #expect(read.header["ROWORDER"]?.contains("TOP-DOWN") == true)
        #expect(read.header["CHECKSUM"] != nil && read.header["DATASUM"] != nil, "\(read.header.keys.sorted())")

        let supervisor = try await http(address, "GET", "/v1/supervisor")
        #expect((supervisor.json["children"] as? [[String: Any]])?.map { $0["name"] as? String } == ["camera", "processor", "catalog", "gateway"])

        let metrics = try await http(address, "GET", "/metrics")
        #expect(metrics.header("Content-Type")?.hasPrefix("text/plain") == true)
        #expect(metrics.text.contains("aperture_exposures_total{status=\"completed\"}"))
        // 30 s at this time scale: still running when the abort comes, however loaded the machine
        // (0.3 s once ended first and there was nothing to abort).
        let long = try await http(address, "POST", "/v1/exposures", json: ["type": "object", "time": 3000])
        #expect(long.status == 202, "\(long.text)")
        _ = try await http(address, "POST", "/v1/exposures/abort")
        var aborted = ""
        for _ in 0..<50 where !aborted.contains("aperture_aborts_total 1") {
            try await Task.sleep(for: .milliseconds(100))
            aborted = try await http(address, "GET", "/metrics").text
        }
        #expect(aborted.contains("aperture_aborts_total 1"))
        #expect(aborted.contains("aperture_exposures_total{status=\"aborted\"} 1"))
        #expect(metrics.text.contains("aperture_frames_total"))
        #expect(metrics.text.contains("aperture_ccd_temperature_celsius"))
        #expect(metrics.text.contains("hb_requests{http_route=\"/v1/exposures\",http_request_method=\"POST\",http_response_status_code=\"409\"}"))
    }

    @Test("with a token configured, reads stay open and anything that changes state needs it")
    func bearerToken() async throws {
        let token = "observatory-secret-token-1234"
        var environment = Self.fast
        environment["APERTURE_GATEWAY_TOKEN"] = token
        let (service, address) = try await start(environment)
        defer { service.cleanup() }

        #expect(try await http(address, "GET", "/v1/camera").status == 200)
        #expect(try await http(address, "GET", "/getTemperature").status == 200)
        let missing = try await http(address, "POST", "/v1/exposures", json: ["type": "bias", "time": 0])
        #expect(missing.status == 401)
        #expect(missing.errorCode == "unauthorized")
        #expect(missing.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
        let wrong = try await http(address, "POST", "/v1/exposures", json: ["type": "bias", "time": 0],
                                   headers: ["Authorization": "Bearer not-the-token-at-all"])
        #expect(wrong.status == 401)
        // evora's GET routes that act on the camera, however their path is spelled.
        for path in ["/abort", "/abort/", "//abort", "/abort?now=1", "/initialize", "/shutdown", "/shutdown/",
                     "/homeFilterWheel"] {
            let reply = try await http(address, "GET", path)
            #expect(reply.status == 401, "\(path): \(reply.status) \(reply.text)")
        }
        #expect(try await http(address, "GET", "/getStatus").json["status"] as? Int == 20073, "the camera was not shut down")
        #expect(try await http(address, "POST", "/psen/stop").status == 401)
        #expect(try await http(address, "GET", "/abort", headers: ["Authorization": "Bearer \(token)"]).status == 200)
        let none = try await http(address, "GET", "/v1/exposures")
        #expect((none.json["exposures"] as? [Any])?.isEmpty == true, "nothing was started without the token")
        let allowed = try await http(address, "POST", "/v1/exposures", json: ["type": "bias", "time": 0],
                                     headers: ["Authorization": "Bearer \(token)"])
        #expect(allowed.status == 202, "\(allowed.text)")
    }

    @Test("a frame that cannot be stored is 507 with the reason, and the files already written stay")
    func storageFailure() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let saved = try await http(address, "POST", "/capture", json: ["exptime": 0.5, "exptype": "Single", "imgtype": "Object"])
        #expect(saved.json["status"] as? Int == 0, "\(saved.text)")
        let night = try #require((try await http(address, "GET", "/v1/files")).json["nights"] as? [[String: Any]]).first?["night"] as? String
        let folder = service.root + "/data/" + (night ?? "")
        let before = try FileManager.default.contentsOfDirectory(atPath: folder)

        // The night's folder is replaced by a file (as a full or broken disk would refuse it).
        try FileManager.default.moveItem(atPath: folder, toPath: folder + ".kept")
        FileManager.default.createFile(atPath: folder, contents: Data())
        let failed = try await http(address, "POST", "/capture", json: ["exptime": 0.5, "exptype": "Single", "imgtype": "Object"])
        #expect(failed.status == 507, "\(failed.text)")
        #expect(failed.json["status"] as? Int == 2)
        #expect(failed.errorCode == "storage_error")
        #expect((failed.json["message"] as? String)?.contains(night ?? "?") == true)
        #expect(try await http(address, "GET", "/v1/camera").json["state"] as? String == "idle")

        try FileManager.default.removeItem(atPath: folder)
        try FileManager.default.moveItem(atPath: folder + ".kept", toPath: folder)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder) == before)
        let again = try await http(address, "POST", "/capture", json: ["exptime": 0.5, "exptype": "Single", "imgtype": "Object"])
        #expect(again.json["status"] as? Int == 0, "\(again.text)")
    }

    @Test("an Alpaca port that is already taken leaves the HTTP API up and the gateway running")
    func alpacaPortTaken() async throws {
        // Hold a port the way another program would.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && getsockname(holder, $0, &length) == 0 }
        }
        #expect(bound && listen(holder, 1) == 0)
        let port = Int(UInt16(bigEndian: address.sin_port))

        var environment = Self.fast
        environment["APERTURE_ALPACA_PORT"] = String(port)
        let (service, address_) = try await start(environment)
        defer { service.cleanup() }
        try await Task.sleep(for: .seconds(2))
        #expect(try await http(address_, "GET", "/v1/camera").status == 200)
        let children = try await http(address_, "GET", "/v1/supervisor").json["children"] as? [[String: Any]] ?? []
        let gateway = children.first { $0["name"] as? String == "gateway" }
        #expect(gateway?["restarts"] as? Int == 0, "\(children)")
        #expect(gateway?["state"] as? String == "running")
        #expect(service.output.contains("alpaca listener on port \(port) failed"), "\(service.output.suffix(2000))")
    }

    @Test("the gateway refuses to listen beyond loopback without a token")
    func refusesOpenListener() async throws {
        let gateway = try ServiceHarness("aperture-gateway", environment: ["APERTURE_GATEWAY_LISTEN": "0.0.0.0:0"])
        defer { gateway.cleanup() }
        let status = await gateway.waitForExit(timeout: 30)
        #expect(status != nil && status != 0)
        #expect(gateway.output.contains("gateway.token"), "\(gateway.output)")
    }

    @Test("503 with Retry-After while the camera process is down, and answers again once it is back")
    func cameraDown() async throws {
        var environment = Self.fast
        environment["APERTURE_SUPERVISOR_BACKOFF_INITIAL"] = "4"
        let (service, address) = try await start(environment)
        defer { service.cleanup() }

        func cameraPID() async throws -> Int32? {
            let children = try await http(address, "GET", "/v1/supervisor").json["children"] as? [[String: Any]]
            guard let camera = children?.first(where: { $0["name"] as? String == "camera" }),
                  camera["state"] as? String == "running" else { return nil }
            return (camera["pid"] as? Int).map(Int32.init)
        }
        // Two kills in a row: the second restart waits out the back-off, so the camera stays down.
        // (The camera answers before the supervisor has marked it running: wait for that.)
        var running: Int32?
        for _ in 0..<200 where running == nil {
            running = try await cameraPID()
            if running == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let first = try #require(running)
        kill(first, SIGKILL)
        var second: Int32?
        for _ in 0..<100 {
            if let pid = try await cameraPID(), pid != first { second = pid; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        kill(try #require(second), SIGKILL)
        try await Task.sleep(for: .milliseconds(300))

        let asked = ContinuousClock.now
        let down = try await http(address, "GET", "/v1/camera")
        #expect(down.status == 503, "\(down.text)")
        #expect(down.errorCode == "camera_unavailable")
        #expect(down.header("Retry-After") != nil)
        #expect(ContinuousClock.now - asked < .seconds(2))
        let evora = try await http(address, "GET", "/getTemperature")
        #expect(evora.status == 503)
        // evora's "not initialised" reading, so that its web client shows a number, not NaN.
        #expect(evora.json["status"] as? Int == 20075)
        #expect(evora.json["temperature"] as? Double == -999)
        #expect(evora.errorCode == "camera_unavailable")
        // Reads that do not need the camera still work.
        #expect(try await http(address, "GET", "/v1/files").status == 200)

        var recovered = false
        for _ in 0..<300 where !recovered {
            try await Task.sleep(for: .milliseconds(100))
            recovered = try await http(address, "GET", "/v1/camera").status == 200
        }
        #expect(recovered)
        #expect(try await http(address, "GET", "/getTemperature").status == 200)
        // The restarts show in the metrics.
        var restarts = ""
        for _ in 0..<50 where !restarts.contains("aperture_child_restarts{child=\"camera\"} 2") {
            try await Task.sleep(for: .milliseconds(200))
            restarts = try await http(address, "GET", "/metrics").text
        }
        #expect(restarts.contains("aperture_child_restarts{child=\"camera\"} 2"), "\(restarts.split(separator: "\n").filter { $0.contains("child") })")
    }

    @Test("events: many clients get every frame notice; a client that does not read loses the oldest and is told")
    func eventStreams() async throws {
        var environment = Self.fast
        environment["APERTURE_GATEWAY_SSE_BUFFER"] = "16"
        let (service, address) = try await start(environment)
        defer { service.cleanup() }
        // Run without holding a thread of the cooperative pool (it takes some ten seconds).
        let (code, text, errors) = try await ServiceHarness.runPython("sse_clients", [address, "20", "6"], in: service.root)
        #expect(code == 0, "\(text)\n\(errors)")
        let line = try #require(text.split(separator: "\n").last)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(text)")
        let clients = try #require(report["clients"] as? [[String: Int]])
        #expect(clients.count == 20)
        #expect(clients.allSatisfy { ($0["frames"] ?? 0) > 5 }, "\(clients)")
        let slow = try #require(report["slow"] as? [String: Int])
        #expect((slow["dropped_events"] ?? 0) > 0, "\(report)")
        // The slow client held up neither the others nor the API.
        #expect((report["camera_requests"] as? Int ?? 0) > 10)
        let metrics = try await http(address, "GET", "/metrics")
        #expect(metrics.text.contains("aperture_events_dropped_total{reason=\"slow_client\"}"))
    }
}
