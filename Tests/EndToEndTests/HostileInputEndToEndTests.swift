import ApertureProtocol
import Bus
import CameraCore
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import ProcessTestSupport

/// Issue 11, through the real service: each request that used to crash a process (or be
/// accepted and then lose its frame) is refused with a 400 naming the field, and the
/// supervisor's restart counters show that nothing was restarted.
@Suite(.serialized, .timeLimit(.minutes(5))) struct HostileInputEndToEndTests {
    static let fast = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "256",
        "APERTURE_CAMERA_HEIGHT": "256",
    ]

    func json(_ text: String) -> Data { Data(text.utf8) }

    @Test func requestsThatCrashedAProcessAreRefusedNamingTheFieldAndNothingRestarts() async throws {
        // Leftovers of a camera killed mid-write, made before the service starts.
        let scratch = "/tmp/aperture-hostile-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let runtimePath = scratch + "/run", dataRoot = scratch + "/data"
        let night = dataRoot + "/20261120"
        try FileManager.default.createDirectory(atPath: runtimePath, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: night, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let staleRing = runtimePath + "/camera.frames.new-99999999-5eed"
        let staleFITS = night + "/.image-0003.fits.tmp-99999999-5eed"
        let kept = night + "/image-0002.fits"
        for file in [staleRing, staleFITS, kept] { FileManager.default.createFile(atPath: file, contents: Data("x".utf8)) }

        var environment = Self.fast
        environment["APERTURE_DATA_ROOT"] = dataRoot
        let service = try ServiceHarness("aperture", runtimeDirectory: runtimePath, environment: environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)

        // Nothing left behind: the stale temporaries are gone, the final file stays.
        #expect(!FileManager.default.fileExists(atPath: staleRing))
        #expect(!FileManager.default.fileExists(atPath: staleFITS))
        #expect(FileManager.default.fileExists(atPath: kept))

        // Each: the body, the field the 400 must name, and text its message must hold.
        let refused: [(path: String, method: String, body: String, field: String, says: String)] = [
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "subframe": {"x": 9223372036854775807, "y": 0, "width": 1, "height": 1}}"#,
             "subframe", "outside the 256x256 sensor"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "comment": "focus: 1000000000000000000000000"}"#,
             "comment", "1000000000000000000000000 is outside"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "comment": "focus: 1\#(String(repeating: "0", count: 400))"}"#,
             "comment", "is outside"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "keywords": {"AIRMASS": 1.2, "airmass": 1.3}}"#,
             "keywords", "AIRMASS and airmass are the same FITS keyword"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "keywords": {"FILTER": "V"}}"#,
             "keywords", "FILTER is written by Aperture itself"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "count": 1.5}"#, "count", "got 1.5"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "count": 1e308}"#, "count", "expected an integer"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": true}"#, "time", "expected a number"),
            ("/v1/exposures", "POST", #"{"type": "object", "time": 0.01, "subframe": {"x": 0, "y": 0, "width": 1.5, "height": 1}}"#,
             "subframe.width", "got 1.5"),
            ("/v1/camera/cooling", "POST", #"{"setpoint": 18446744073709551616}"#, "setpoint", "18446744073709551616"),
            ("/v1/processor/configuration", "PUT", #"{"net_border_width": 4611686018427387904}"#,
             "net_border_width", "outside 0...65535"),
        ]
        for (path, method, body, field, says) in refused {
            let reply = try await http(address, method, path, body: json(body))
            #expect(reply.status == 400, "\(method) \(path) \(body.prefix(120)): \(reply.status) \(reply.text)")
            #expect(reply.errorField == field, "\(body.prefix(120)): field \(reply.errorField ?? "none"), \(reply.text)")
            #expect(reply.text.contains(says), "\(body.prefix(120)): \(reply.text)")
        }
        // The catalog's queries: numbers that overflow, times out of range, escapes and a huge
        // cursor are 400 naming the parameter; the catalog process stays up (checked below).
        let catalogRefused: [(String, String, String)] = [
            ("/v1/frames?limit=18446744073709551616", "limit", "18446744073709551616"),
            ("/v1/frames?exptime_min=1e400", "exptime_min", "1e400"),
            ("/v1/frames?temp_max=-300", "temp_max", "-300"),
            ("/v1/frames?start=2026-12-05T25:00", "start", "2026-12-05T25:00"),
            ("/v1/frames?end=2026-02-30", "end", "2026-02-30"),
            ("/v1/frames?object=" + String(repeating: "%25", count: 300), "object", "200 characters"),
            ("/v1/frames?cursor=" + String(repeating: "A", count: 4000), "cursor", "not a cursor"),
            ("/v1/frames/summary?night=20261205", "night", "20261205"),
            ("/v1/frames/99999999999999999999999", "id", "99999999999999999999999"),
            ("/v1/frames/-1", "id", "-1"),
        ]
        for (path, field, says) in catalogRefused {
            let reply = try await http(address, "GET", path)
            #expect(reply.status == 400 && reply.errorField == field && reply.text.contains(says), "\(path.prefix(80)): \(reply.text.prefix(300))")
        }
        let sqlish = try await http(address, "GET", "/v1/frames?object=%27%29%20OR%201%3D1%20--&filter=%22")
        #expect(sqlish.status == 200 && (sqlish.json["frames"] as? [Any])?.isEmpty == true, "\(sqlish.text.prefix(300))")

        // evora's capture: JSON true is not an exposure time.
        let capture = try await http(address, "POST", "/capture", json: ["exptime": true, "imgtype": "Object", "exptype": "Single"])
        #expect(capture.status == 400 && capture.errorField == "exptime", "\(capture.text)")

        // The same overflowing subframe while a series runs: refused, the series goes on.
        let series = try await http(address, "POST", "/v1/exposures", json: ["type": "dark", "time": 0.5, "count": 20])
        #expect(series.status == 202, "\(series.text)")
        let during = try await http(address, "POST", "/v1/exposures", body: json(refused[0].body))
        #expect(during.status == 400 || during.status == 409, "\(during.text)")
        _ = try await http(address, "POST", "/v1/exposures/abort")

        // Alpaca: a 1e-30 s exposure, then the members that divided by it.
        let alpaca = try await service.gatewayReports("an Alpaca address") { $0.alpaca }
        let put = { (member: String, form: String) async throws -> HTTPReply in
            var request = URLRequest(url: URL(string: "http://\(alpaca)/api/v1/camera/0/\(member)")!)
            request.httpMethod = "PUT"
            request.httpBody = Data(form.utf8)
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
            let (data, response) = try await URLSession.shared.data(for: request)
            return HTTPReply(status: (response as! HTTPURLResponse).statusCode, headers: [:], body: data)
        }
        #expect(try await put("connected", "Connected=True&ClientID=1").json["ErrorNumber"] as? Int == 0)
        let start = try await put("startexposure", "Duration=1e-30&Light=true&ClientID=1")
        #expect(start.status == 200, "\(start.text)")
        for member in ["percentcompleted", "devicestate", "percentcompleted"] {
            let reply = try await http(alpaca, "GET", "/api/v1/camera/0/\(member)?ClientID=1")
            #expect(reply.status == 200, "\(member): \(reply.status) \(reply.text)")
        }
        let hot = try await put("setccdtemperature", "SetCCDTemperature=1e300&ClientID=1")
        #expect(hot.json["ErrorNumber"] as? Int == 0x401, "\(hot.text)")

        // A frame through the processor with its configuration unchanged, then the counters.
        let frame = try await http(address, "POST", "/v1/exposures", json: ["type": "object", "time": 0.05])
        #expect(frame.status == 202 || frame.status == 409, "\(frame.text)")
        try await Task.sleep(for: .milliseconds(500))
        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }

    /// Eight homings of a slow filter wheel used to take every worker of camera.ctl: pings
    /// went unanswered and the supervisor killed a healthy camera.
    @Test func eightSlowCommandsOnCameraCtlLeavePingsAnsweredAndNoRestart() async throws {
        let port = ServiceHarness.freePort()
        let wheel = Process()
        wheel.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = try #require(Bundle.module.path(forResource: "slow_filter_wheel", ofType: "py", inDirectory: "Python"))
        wheel.arguments = ["python3", script, String(port), "2.0"]
        try wheel.run()
        // SIGKILL: the test process blocks SIGTERM, and its children inherit the mask.
        defer { kill(wheel.processIdentifier, SIGKILL); wheel.waitForExit() }
        try await waitForListener(port: port)

        var environment = Self.fast
        environment["APERTURE_FILTERWHEEL_DRIVER"] = "evora"
        environment["APERTURE_FILTERWHEEL_ADDRESS"] = "127.0.0.1:\(port)"
        let service = try ServiceHarness("aperture", environment: environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)

        let camera = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        defer { camera.close() }
        let homings = (0..<8).map { _ in
            Task { try await camera.call(FilterCommand.self, .init(home: true), timeout: .seconds(60)) }
        }
        // While they queue behind the wheel (8 x 2 s), pings and a temperature reading are answered.
        var answered = 0
        for _ in 0..<20 {
            _ = try await camera.call(Ping.self, timeout: .seconds(2))
            answered += 1
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(answered == 20)
        _ = try await camera.call(TemperatureCommand.self, timeout: .seconds(5))
        for homing in homings { _ = try await homing.value }
        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "the camera was restarted:\n\(service.output.suffix(3000))")
    }
}

/// Waits until something accepts TCP connections on a loopback port (a test peer starting).
func waitForListener(port: Int, timeout: Double = 20) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        close(fd)
        if connected == 0 { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("nothing listens on 127.0.0.1:\(port) after \(timeout) s")
    throw CancellationError()
}
