import ApertureProtocol
import Bus
import CameraCore
import FITSStorage
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
import ProcessTestSupport
#endif

/// Whether the Python side of the Alpaca tests can run.
enum Alpyca {
    /// Whether python3 can import alpyca, astropy and numpy.
    static let installed: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import alpaca.camera, alpaca.discovery, astropy.io.fits, numpy, requests"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        return process.waitForExit() == 0
    }()
}

/// The ASCOM Alpaca camera of the running service, driven by the real `alpyca` client from
/// PyPI (Python/alpaca_client.py) as an imaging program would drive it.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: Alpyca.installed,
                                                      "needs python3 with alpyca, astropy and numpy (pip install alpyca astropy)"))
struct AlpacaEndToEndTests {
    /// A non-square sensor, so that a transposed or flipped image cannot pass; real time
    /// (time scale 1), so that exposure durations are honest.
    static let environment = [
        "APERTURE_CAMERA_WIDTH": "640",
        "APERTURE_CAMERA_HEIGHT": "480",
        "APERTURE_ALPACA_DISCOVERY": "on",
    ]

    struct Running {
        var service: ServiceHarness
        var alpaca: String
        var http: String
        var discoveryPort: Int
    }

    /// Starts the whole service with discovery on a free port; waits for the Alpaca listener
    /// and a connected camera.
    func start(environment extra: [String: String] = [:]) async throws -> Running {
        let discoveryPort = Self.freeUDPPort()
        var environment = Self.environment
        environment["APERTURE_ALPACA_DISCOVERY_PORT"] = String(discoveryPort)
        for (key, value) in extra { environment[key] = value }
        let service = try ServiceHarness("aperture", environment: environment)
        do {
            let http = try await service.gatewayAddress()
            let alpaca = try await alpacaAddress(service)
            let camera = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
            defer { camera.close() }
            let deadline = Date().addingTimeInterval(30)
            while (try? await camera.call(CameraStatusCommand.self, timeout: .seconds(1)))?.connected != true, Date() < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            return Running(service: service, alpaca: alpaca, http: http, discoveryPort: discoveryPort)
        } catch {
            service.cleanup()
            throw error
        }
    }

    /// The Alpaca address the gateway reports on gateway.ctl.
    func alpacaAddress(_ service: ServiceHarness, timeout: Double = 60) async throws -> String {
        try await service.gatewayReports("an Alpaca address", timeout: timeout) { $0.alpaca }
    }

    /// Runs a scenario of alpaca_client.py; records its failed checks; returns its summary.
    @discardableResult
    func scenario(_ name: String, _ running: Running, arguments: [String] = []) async throws -> [String: Any] {
        let (status, printed, complaints) = try await ServiceHarness.runPython(
            "alpaca_client", [name, running.alpaca] + arguments, in: running.service.root)
        #expect(status == 0, "alpaca_client.py \(name):\n\(complaints)\nservice output:\n\(running.service.output.suffix(4000))")
        return (try? JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any]) ?? [:]
    }

    // MARK: Tests

    @Test func alpycaDiscoversTheCameraAndItsUniqueIDSurvivesAGatewayRestart() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await scenario("discovery", running, arguments: ["--discovery-port", String(running.discoveryPort)])
        let port = running.alpaca.split(separator: ":").last.map(String.init) ?? ""
        #expect((summary["alpyca_found"] as? [String])?.contains("127.0.0.1:\(port)") == true)

        // The UniqueID is kept in the state directory and is the same after a restart.
        let uniqueID = try #require(summary["unique_id"] as? String)
        let stored = try String(contentsOfFile: running.service.root + "/state/alpaca-camera-0.uniqueid", encoding: .utf8)
        #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == uniqueID)
        let again = try await Self.uniqueIDAfterAGatewayRestart(running.service, deviceType: "Camera")
        #expect(again == uniqueID)
    }

    @Test func aOneSecondLightFrameThroughAlpacaEqualsItsFITSFile() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await scenario("exposure", running, arguments: ["--data-root", running.service.root + "/data"])
        // exposing first, idle at the end; never ready before 1 s.
        let states = summary["states"] as? [Int] ?? []
        #expect(states.first == 2 && states.last == 0, "camera states \(states)")
        #expect((summary["ready_after"] as? Double ?? 0) >= 1.0)
        #expect((summary["startexposure_seconds"] as? Double ?? 9) < 1.0)
    }

    @Test func abortDuringAnExposureLeavesNoImageAndTheCameraIdle() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await scenario("abort", running)
        #expect((summary["abort_seconds"] as? Double ?? 9) < 2.0)
    }

    @Test func everyInvalidValueIsRefusedWithInvalidValue() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        try await scenario("invalid", running)
    }

    @Test func malformedRequestsAreHTTP400AndTheEnvelopeFollowsTheRules() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        try await scenario("protocol", running)
    }

    /// An exposure started through Alpaca makes `POST /v1/exposures` answer 409 busy, and one
    /// started through /v1 makes Alpaca's StartExposure an invalid operation.
    @Test func alpacaAndTheV1APIDriveTheSameCamera() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await scenario("busy", running, arguments: ["--http", running.http])
        #expect(summary["v1_while_alpaca"] as? Int == 409)
    }

    /// ICameraV4's Connect is asynchronous: it returns at once, Connecting is true while it
    /// runs, then Connected is true; Disconnect makes it false again.
    @Test func connectIsAsynchronousAndConnectingReportsIt() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let form = ["Content-Type": "application/x-www-form-urlencoded"]
        func value(_ member: String) async throws -> Bool? {
            try await http(running.alpaca, "GET", "/api/v1/camera/0/\(member)?ClientTransactionID=1").json["Value"] as? Bool
        }
        #expect(try await value("connected") == false)
        let asked = ContinuousClock.now
        let connect = try await http(running.alpaca, "PUT", "/api/v1/camera/0/connect",
                                     body: Data("ClientID=7&ClientTransactionID=2".utf8), headers: form)
        #expect(connect.status == 200)
        #expect(connect.json["ErrorNumber"] as? Int == 0, "\(connect.text)")
        #expect(ContinuousClock.now - asked < .seconds(1))
        var connected = false
        for _ in 0..<100 where !connected {
            connected = try await value("connected") == true
            if !connected { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(connected)
        #expect(try await value("connecting") == false)
        _ = try await http(running.alpaca, "PUT", "/api/v1/camera/0/disconnect", body: Data("ClientID=7".utf8), headers: form)
        #expect(try await value("connected") == false)
    }

    /// An image downloaded after other frames replaced it in the shared-memory ring comes from
    /// its FITS file, pixel for pixel.
    @Test func anImageOverwrittenInTheRingIsReadFromItsFITSFile() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let form = ["Content-Type": "application/x-www-form-urlencoded"]
        let device = "/api/v1/camera/0/"
        _ = try await http(running.alpaca, "PUT", device + "connected", body: Data("Connected=True".utf8), headers: form)
        let started = try await http(running.alpaca, "PUT", device + "startexposure",
                                     body: Data("Duration=0.5&Light=True".utf8), headers: form)
        #expect(started.json["ErrorNumber"] as? Int == 0, "\(started.text)")
        var ready = false
        for _ in 0..<200 where !ready {
            try await Task.sleep(for: .milliseconds(50))
            ready = try await http(running.alpaca, "GET", device + "imageready").json["Value"] as? Bool == true
        }
        #expect(ready)

        // Twelve frames through /v1 replace everything in the 8-slot ring.
        let preview = try await http(running.http, "POST", "/v1/exposures",
                                     json: ["type": "object", "time": 0.01, "mode": "preview", "count": 12])
        let previewID = try #require(preview.json["id"] as? String, "\(preview.text)")
        for _ in 0..<200 {
            if try await http(running.http, "GET", "/v1/exposures/\(previewID)").json["status"] as? String == "completed" { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let exposures = try await http(running.http, "GET", "/v1/exposures").json["exposures"] as? [[String: Any]] ?? []
        let path = try #require((exposures.first?["files"] as? [[String: Any]])?.first?["path"] as? String)

        let image = try await http(running.alpaca, "GET", device + "imagearray?ClientTransactionID=5",
                                   headers: ["Accept": "application/imagebytes"])
        #expect(image.header("Content-Type") == "application/imagebytes", "\(image.text.prefix(300))")
        let header = image.body.prefix(44).withUnsafeBytes { raw in (0..<11).map { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Int32.self) } }
        #expect(header[0] == 1 && header[1] == 0 && header[2] == 5 && header[7] == 2)
        let width = Int(header[8]), height = Int(header[9])
        let fits = try FITSFile.read(path: path)
        #expect(width == fits.width && height == fits.height)
        #expect(image.body.count == 44 + width * height * 2)
        let topDown = fits.header["ROWORDER"]?.contains("TOP-DOWN") ?? false
        var mismatches = 0
        image.body.dropFirst(44).withUnsafeBytes { raw in
            for x in 0..<width {
                for y in 0..<height {
                    let row = topDown ? y : height - 1 - y
                    if raw.loadUnaligned(fromByteOffset: (x * height + y) * 2, as: UInt16.self) != fits.pixels[row * width + x] {
                        mismatches += 1
                    }
                }
            }
        }
        #expect(mismatches == 0)
    }

    /// `alpaca.port = -1` turns the device off; `alpaca.discovery = auto` on a loopback
    /// gateway answers no discovery datagram.
    @Test func alpacaCanBeTurnedOffAndDiscoveryIsOffOnLoopbackByDefault() async throws {
        // Discovery auto, the gateway on 127.0.0.1: the listener runs, discovery does not answer.
        let auto = try await start(environment: ["APERTURE_ALPACA_DISCOVERY": "auto"])
        let (code, _) = try await ServiceHarness.get(auto.alpaca, "/management/apiversions")
        #expect(code == 200)
        #expect(Self.discover(port: auto.discoveryPort, timeout: 1.5) == nil)
        auto.service.cleanup()

        // alpaca.port = -1: no listener, nothing reported on gateway.ctl.
        let service = try ServiceHarness("aperture", environment: Self.environment.merging(
            ["APERTURE_ALPACA_PORT": "-1", "APERTURE_ALPACA_DISCOVERY_PORT": String(Self.freeUDPPort())]) { $1 })
        defer { service.cleanup() }
        _ = try await service.gatewayAddress()
        try await Task.sleep(for: .seconds(1))
        let client = try RequestClient(dialing: service.runtime.endpoint(EndpointName.gatewayControl))
        defer { client.close() }
        let status = try await client.call(GatewayStatusCommand.self, timeout: .seconds(2))
        #expect(status.http != nil)
        #expect(status.alpaca == nil)
    }
}

extension AlpacaEndToEndTests {
    /// Restarts the gateway through the supervisor and reads the UniqueID of the device of
    /// `deviceType` (`Camera`, `FilterWheel`) from the new gateway's configureddevices.
    static func uniqueIDAfterAGatewayRestart(_ service: ServiceHarness, deviceType: String) async throws -> String? {
        let supervisor = try RequestClient(dialing: service.runtime.endpoint(EndpointName.supervisorControl))
        defer { supervisor.close() }
        _ = try await supervisor.call(SupervisorRestartCommand.self, .init(child: "gateway"), timeout: .seconds(60))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            // The whole 30 s for the new gateway to report its address (a shorter wait records an
            // issue on a loaded machine); then its configureddevices, until it answers.
            let address = try await service.gatewayReports("an Alpaca address", timeout: 30) { $0.alpaca }
            if let (code, data) = try? await ServiceHarness.get(address, "/management/v1/configureddevices"), code == 200,
               let body = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
               let devices = body["Value"] as? [[String: Any]],
               let id = devices.first(where: { $0["DeviceType"] as? String == deviceType })?["UniqueID"] as? String {
                return id
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// A loopback UDP port that is free now.
    static func freeUDPPort() -> Int { ServiceHarness.freePort(udp: true) }

    /// Sends `alpacadiscovery1` to 127.0.0.1:`port`; returns the reply, nil after `timeout`.
    static func discover(port: Int, timeout: Double) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var wait = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let query = Array("alpacadiscovery1".utf8)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count > 0 ? String(decoding: buffer[0..<count], as: UTF8.self) : nil
    }
}
