import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import ProcessTestSupport

/// Whether python3 can import requests (psen_processing's client needs nothing else).
enum PsenPeer {
    /// Whether `python3 -c "import requests"` succeeds.
    static let installed: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import requests"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        return process.waitForExit() == 0
    }()
}

/// psen_processing's own client (`PsenProcessingClient`, replayed request for request by
/// Python/psen_client.py) and its own test sequence (`tests/test_client.py`), against the real
/// service's `/psen/` face: reply shapes, `[]` for an unset ROI, its statistics keys and types,
/// its `ValueError` with Aperture's message on every error path (middleware errors included),
/// the proper HTTP status beside it, and ROIs checked against the sensor before any frame.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: PsenPeer.installed, "needs python3 with requests"))
struct PsenClientEndToEndTests {
    /// A non-square sensor (so that width and height cannot be swapped unnoticed), fast frames,
    /// processing off at start as psen's own test starts it (`auto_start=False`), and a small
    /// body limit for the 413 case.
    static let width = 640, height = 480
    static let environment = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": String(width),
        "APERTURE_CAMERA_HEIGHT": String(height),
        "APERTURE_PROCESSOR_AUTOSTART": "false",
        "APERTURE_GATEWAY_MAX_BODY": "1024",
    ]

    /// Starts the service; waits until every child runs and, unless `connected` is false, the
    /// camera is connected.
    func start(_ extra: [String: String] = [:], connected: Bool = true) async throws -> (ServiceHarness, String) {
        var environment = Self.environment
        for (key, value) in extra { environment[key] = value }
        let service = try ServiceHarness("aperture", environment: environment)
        do {
            let address = try await service.gatewayAddress()
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let health = try? await health(address), health.status == "ok",
                   let camera = try? await http(address, "GET", "/v1/camera"), camera.status == 200,
                   camera.json["connected"] as? Bool == connected {
                    return (service, address)
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("the service did not become ready within 60 s:\n\(service.output.suffix(4000))")
            throw CancellationError()
        } catch {
            service.cleanup()
            throw error
        }
    }

    /// The supervisor's view of the children, as `/healthz` gives it.
    func health(_ address: String) async throws -> Health {
        let (_, body) = try await ServiceHarness.get(address, "/healthz")
        return try JSONDecoder().decode(Health.self, from: body)
    }

    /// Each child's pid and restart count.
    func pidsAndRestarts(_ address: String) async throws -> [String: String] {
        let health = try await health(address)
        return Dictionary(uniqueKeysWithValues: health.children.map { ($0.name, "pid \($0.pid ?? 0), restarts \($0.restarts)") })
    }

    /// Runs a scenario of psen_client.py; records its failed checks; returns its summary.
    @discardableResult
    func scenario(_ name: String, _ service: ServiceHarness, _ address: String, _ arguments: [String] = []) async throws
        -> [String: Any] {
        let (status, printed, complaints) = try await ServiceHarness.runPython("psen_client", [name, address] + arguments,
                                                                               in: service.root)
        #expect(status == 0, "psen_client.py \(name):\n\(complaints)\nservice output:\n\(service.output.suffix(3000))")
        return (try? JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any]) ?? [:]
    }

    /// Kills a child twice in a row, so that its second restart waits out the back-off
    /// (`supervisor.backoff_initial`) and it stays down meanwhile; returns once the supervisor
    /// reports it down.
    func keepDown(_ child: String, _ address: String) async throws {
        func pid() async throws -> Int32? {
            let children = try await http(address, "GET", "/v1/supervisor").json["children"] as? [[String: Any]]
            guard let found = children?.first(where: { $0["name"] as? String == child }),
                  found["state"] as? String == "running" else { return nil }
            return (found["pid"] as? Int).map(Int32.init)
        }
        let deadline = Date().addingTimeInterval(30)
        var first: Int32?
        while first == nil, Date() < deadline {
            first = try await pid()
            if first == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        kill(try #require(first), SIGKILL)
        var second: Int32?
        while second == nil, Date() < deadline {
            if let found = try await pid(), found != first { second = found } else { try await Task.sleep(for: .milliseconds(50)) }
        }
        kill(try #require(second), SIGKILL)
        while Date() < deadline {
            let children = try await http(address, "GET", "/v1/supervisor").json["children"] as? [[String: Any]]
            if let found = children?.first(where: { $0["name"] as? String == child }), found["state"] as? String != "running" {
                return
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("\(child) was not reported down")
    }

    // MARK: Tests

    @Test("test_client.py's sequence, a binned frame, each client error path and the middleware's errors; nothing restarts")
    func upstreamTestSequenceAndErrors() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let before = try await pidsAndRestarts(address)

        let classic = try await scenario("classic", service, address, [String(Self.width), String(Self.height)])
        #expect((classic["outside"] as? String)?.contains("exceeds the sensor width \(Self.width)") == true, "\(classic)")
        #expect((classic["negative"] as? String)?.contains("roi_signal") == true, "\(classic)")
        // Aperture's own statistics stay beside psen's four keys (so test_client.py's
        // len(statistics) == 4 is the one step that does not hold; docs/http-api.md).
        let extra = classic["extra_statistics"] as? [String] ?? []
        #expect(extra.contains("frames_processed") && extra.contains("frames_dropped"), "\(extra)")
        try await scenario("change_roi", service, address)
        try await scenario("no_roi", service, address)
        try await scenario("stop_while_running", service, address)
        try await scenario("consecutive", service, address)
        let binned = try await scenario("binned", service, address, [String(Self.width), String(Self.height)])
        #expect((binned["roi_errors"] as? [String])?.isEmpty == false, "\(binned)")
        let errors = try await scenario("errors", service, address, ["1024"])
        let texts = errors["errors"] as? [String: String] ?? [:]
        #expect(texts["404"]?.contains("no route GET /psen/no_such_route") == true, "\(texts)")
        #expect(texts["413"]?.contains("gateway.max_body") == true, "\(texts)")
        #expect(texts["403"]?.contains("Origin") == true, "\(texts)")

        // /v1's configuration is held to the same sensor rule (and keeps /v1's error shape).
        let configure = try await http(address, "PUT", "/v1/processor/configuration",
                                       json: ["roi_background": [0, 10, Self.height, 1]])
        #expect(configure.status == 400 && configure.errorField == "roi_background", "\(configure.text)")
        #expect(configure.text.contains("offset_y + size_y = \(Self.height + 1) exceeds the sensor height \(Self.height)"))
        #expect(configure.json["state"] == nil)

        let after = try await pidsAndRestarts(address)
        #expect(after == before, "a process restarted:\n\(service.output.suffix(3000))")
        #expect(try await health(address).status == "ok")
    }

    @Test("with gateway.token set, the client's state changes get its ValueError with the 401's text")
    func tokenRequired() async throws {
        let token = "psen-test-token-0123456789abcdef"
        let (service, address) = try await start(["APERTURE_GATEWAY_TOKEN": token])
        defer { service.cleanup() }
        let summary = try await scenario("token", service, address, [token])
        #expect((summary["401"] as? String)?.contains("Authorization: Bearer") == true, "\(summary)")
    }

    @Test("processor down: the client gets its ValueError naming the processor, with 503 and Retry-After")
    func processorDown() async throws {
        let (service, address) = try await start(["APERTURE_SUPERVISOR_BACKOFF_INITIAL": "30",
                                                  "APERTURE_SUPERVISOR_BACKOFF_MAX": "30"])
        defer { service.cleanup() }
        try await keepDown("processor", address)
        let summary = try await scenario("unavailable", service, address,
                                         ["get_status", "503", "processor_unavailable", "processor"])
        #expect((summary["text"] as? String)?.isEmpty == false, "\(summary)")
    }

    @Test("camera down before any ROI: the sensor size is unknown, 503 naming the camera; disabling still works")
    func cameraDownBeforeAnyROI() async throws {
        // Each refusal waits out the processor's 4 s for the camera: a back-off that outlasts two
        // and a slow start of python (the longest back-off caps the first, 10 s by default).
        let (service, address) = try await start(["APERTURE_SUPERVISOR_BACKOFF_INITIAL": "40",
                                                  "APERTURE_SUPERVISOR_BACKOFF_MAX": "40"])
        defer { service.cleanup() }
        try await keepDown("camera", address)
        let summary = try await scenario("unavailable", service, address,
                                         ["set_roi_signal", "503", "camera_unavailable", "the camera process does not answer"])
        #expect((summary["text"] as? String)?.contains("roi_signal") == true, "\(summary)")
    }

    @Test("camera never connected (no Andor SDK): an ROI is refused with 409, its text saying why")
    func cameraNotConnected() async throws {
        let (service, address) = try await start(["APERTURE_CAMERA_DRIVER": "andor",
                                                  "APERTURE_ANDOR_LIBRARY": "/nonexistent/libandor.so",
                                                  "APERTURE_ANDOR_CONFIG_DIR": "/tmp"], connected: false)
        defer { service.cleanup() }
        let before = try await pidsAndRestarts(address)
        let summary = try await scenario("unavailable", service, address,
                                         ["set_roi_signal", "409", "not_connected", "the camera has not connected yet"])
        #expect((summary["text"] as? String)?.contains("roi_signal") == true, "\(summary)")
        #expect(try await pidsAndRestarts(address) == before)
    }

    @Test("behind the shipped nginx site: the client at /psen/ and /api/psen/, psen's envelope on nginx's own 413 and 502")
    func behindNginx() async throws {
        let gatewayPort = ServiceHarness.freePort()
        let token = "psen-nginx-\(UInt32.random(in: 0...UInt32.max))-token"
        let (service, _) = try await start(["APERTURE_GATEWAY_LISTEN": "127.0.0.1:\(gatewayPort)",
                                            "APERTURE_GATEWAY_TOKEN": token])
        defer { service.cleanup() }
        let site = NginxEndToEndTests()
        let dataRoot = service.root + "/data"
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        let port = ServiceHarness.freePort()
        let nginx = try site.startNginx(prefix: service.root + "/nginx", port: port, gatewayPort: gatewayPort, dataRoot: dataRoot)
        defer { nginx.terminate(); nginx.waitForExit() }
        let front = "127.0.0.1:\(port)"
        var ready = false
        let deadline = Date().addingTimeInterval(30)
        while !ready, Date() < deadline {
            ready = (try? await http(front, "GET", "/psen/status"))?.status == 200
            if !ready { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(ready, "no /psen/status through nginx")

        for prefix in ["/psen", "/api/psen"] {
            // Reads through the proxy; a state change without the token is psen's error, 401.
            let status = try await http(front, "GET", prefix + "/roi_signal")
            #expect(status.json["state"] as? String == "ok" && status.json["roi_signal"] as? [Int] == [], "\(status.text)")
            let refused = try await http(front, "POST", prefix + "/start")
            #expect(refused.status == 401 && refused.json["state"] as? String == "error", "\(refused.text)")
            #expect((refused.json["status"] as? String)?.contains("Authorization") == true)
            let started = try await http(front, "POST", prefix + "/start", headers: ["Authorization": "Bearer \(token)"])
            #expect(started.json["status"] as? String == "processing", "\(started.text)")
            let missing = try await http(front, "GET", prefix + "/nothing")
            #expect(missing.status == 404 && missing.json["state"] as? String == "error", "\(missing.text)")
            // nginx refuses a body over its 1 MB itself: psen's envelope, not its HTML page.
            let large = try await http(front, "POST", prefix + "/roi_signal", body: Data(repeating: 0x20, count: 1_100_000),
                                       headers: ["Authorization": "Bearer \(token)"])
            #expect(large.status == 413, "\(large.text.prefix(300))")
            #expect(large.json["state"] as? String == "error" && large.errorCode == "body_too_large", "\(large.text.prefix(300))")
        }

        // A proxy whose gateway does not answer: 502 in psen's envelope.
        let deadPort = ServiceHarness.freePort(), orphanPort = ServiceHarness.freePort()
        let orphan = try site.startNginx(prefix: service.root + "/nginx-orphan", port: orphanPort, gatewayPort: deadPort,
                                         dataRoot: dataRoot)
        defer { orphan.terminate(); orphan.waitForExit() }
        var down: HTTPReply?
        let orphanDeadline = Date().addingTimeInterval(30)
        while down == nil, Date() < orphanDeadline {
            down = try? await http("127.0.0.1:\(orphanPort)", "GET", "/psen/status")
            if down == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let reply = try #require(down)
        #expect(reply.status == 502 && reply.json["state"] as? String == "error", "\(reply.text.prefix(300))")
        #expect((reply.json["status"] as? String)?.contains("gateway does not answer") == true)
    }
}
