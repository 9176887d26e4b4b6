import ApertureProtocol
import Bus
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
import ProcessTestSupport
#endif

/// Issue 17: ConformU's checks for Camera 0 and FilterWheel 0, carried over into
/// Python/alpaca_conformance.py (each check names the ConformU line it follows), run with alpyca
/// and raw HTTP against the real service; an imaging program's session with filter changes; bad
/// Position values with the supervisor's restart counters.
@Suite(.serialized, .timeLimit(.minutes(5)), .enabled(if: Alpyca.installed,
                                                      "needs python3 with alpyca, astropy and numpy (pip install alpyca astropy)"))
struct AlpacaConformanceEndToEndTests {
    /// A non-square sensor, real time (time scale 1): exposure durations are honest.
    static let environment = ["APERTURE_CAMERA_WIDTH": "640", "APERTURE_CAMERA_HEIGHT": "480"]

    struct Running {
        var service: ServiceHarness
        var alpaca: String
        var http: String
    }

    /// Starts the whole service; waits for the Alpaca listener and a healthy service.
    func start(_ extra: [String: String] = [:]) async throws -> Running {
        let service = try ServiceHarness("aperture", environment: Self.environment.merging(extra) { $1 })
        do {
            let http = try await service.gatewayAddress()
            let alpaca = try await service.gatewayReports("an Alpaca address") { $0.alpaca }
            _ = try await Health.waitUntilHealthy(http)
            return Running(service: service, alpaca: alpaca, http: http)
        } catch {
            service.cleanup()
            throw error
        }
    }

    /// Runs a scenario of alpaca_conformance.py; its issues (ConformU's LogIssue) fail the test.
    @discardableResult
    func conformance(_ name: String, _ running: Running, _ arguments: [String] = []) async throws -> [String: Any] {
        let (status, printed, complaints) = try await ServiceHarness.runPython(
            "alpaca_conformance", [name, running.alpaca] + arguments, in: running.service.root)
        #expect(status == 0, "alpaca_conformance.py \(name):\n\(complaints)\nservice output:\n\(running.service.output.suffix(3000))")
        let summary = (try? JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any]) ?? [:]
        #expect((summary["check_count"] as? Int ?? 0) > 0, "\(name): no check ran:\n\(complaints)")
        return summary
    }

    /// A filter wheel server (evora's line protocol) whose moves take `seconds`; killed by the caller.
    func slowWheel(seconds: Double) async throws -> (process: Process, port: Int) {
        let port = ServiceHarness.freePort()
        let wheel = Process()
        wheel.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let script = try #require(Bundle.module.path(forResource: "slow_filter_wheel", ofType: "py", inDirectory: "Python"))
        wheel.arguments = ["python3", script, String(port), String(seconds)]
        try wheel.run()
        try await waitForListener(port: port)
        return (wheel, port)
    }

    // MARK: Tests

    /// CameraTester.cs carried over: first-use errors, PercentCompleted 0 before an exposure,
    /// SensorName, binning, every bad frame set member by member without error and refused by
    /// StartExposure (binnings up to 4, ConformU's CameraMaxBinX), one asynchronous exposure.
    @Test func theCameraPassesConformUsCameraChecks() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await conformance("camera", running, ["--max-bin", "4"])
        #expect(summary["bad_frames_rejected"] as? Int == 4 * 4 * 4)
    }

    /// FilerWheelTester.cs carried over on a wheel whose moves take 0.4 s: Position -1 while
    /// moving, Position Set returning at once, every slot reached, -1 and Names.count refused;
    /// the configured focus offsets; the move shows on /v1, and each exposure's FILTER is the
    /// slot the wheel was at.
    @Test func theFilterWheelPassesConformUsFilterWheelChecksAndIsTheWheelOfEveryFace() async throws {
        let (wheel, port) = try await slowWheel(seconds: 0.4)
        defer { kill(wheel.processIdentifier, SIGKILL); wheel.waitForExit() }
        let offsets = "0,-15,20,5,5,-3"
        let running = try await start([
            "APERTURE_FILTERWHEEL_DRIVER": "evora", "APERTURE_FILTERWHEEL_ADDRESS": "127.0.0.1:\(port)",
            "APERTURE_FILTERWHEEL_FOCUS_OFFSETS": offsets,
        ])
        defer { running.service.cleanup() }
        let summary = try await conformance("filterwheel", running, [
            "--http", running.http, "--data-root", running.service.root + "/data", "--offsets", offsets, "--move-seconds", "0.4",
        ])
        #expect(summary["fits_filters"] as? [String] == ["B", "Ha"],
                "\(summary["fits_filters"] ?? "none")")
        let moves = summary["moves"] as? [String: Any] ?? [:]
        #expect((moves["set_seconds"] as? [Double] ?? [9]).allSatisfy { $0 < 0.4 }, "Position Set waited for the move: \(moves)")
    }

    /// A move asked through Alpaca shows on the dashboard at once ("moving to r"), then the
    /// new filter, without a reload (headless Chromium; a wheel whose moves take 2 s).
    @Test(.enabled(if: DashboardEndToEndTests.chromium != nil, "needs Chromium"))
    func aMoveAskedThroughAlpacaShowsOnTheDashboard() async throws {
        let (wheel, port) = try await slowWheel(seconds: 2)
        defer { kill(wheel.processIdentifier, SIGKILL); wheel.waitForExit() }
        let running = try await start(["APERTURE_FILTERWHEEL_DRIVER": "evora", "APERTURE_FILTERWHEEL_ADDRESS": "127.0.0.1:\(port)"])
        defer { running.service.cleanup() }
        let (status, printed, complaints) = try await ServiceHarness.runPython(
            "alpaca_dashboard", ["http://\(running.http)/", running.alpaca, "4", "--chromium", DashboardEndToEndTests.chromium ?? ""],
            in: running.service.root)
        #expect(status == 0, "alpaca_dashboard.py: \(complaints)\n\(printed)")
        let summary = (try? JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any]) ?? [:]
        #expect(summary["before"] as? String == "Ha (slot 0)", "\(summary)")
        #expect((summary["moving"] as? String)?.contains("moving to r") == true, "\(summary)")
        #expect(summary["after"] as? String == "r (slot 4)" && summary["alpaca_position"] as? Int == 4, "\(summary)")
    }

    /// The Alpaca protocol checks of AlpacaProtocolTestManager.cs for both devices; both listed
    /// in configureddevices, each with its own UniqueID, the wheel's kept across a gateway restart.
    @Test func bothDevicesPassConformUsProtocolChecksAndKeepTheirUniqueIDs() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await conformance("protocol", running)
        let devices = summary["configureddevices"] as? [[String: Any]] ?? []
        let wheelID = try #require(devices.first { $0["DeviceType"] as? String == "FilterWheel" }?["UniqueID"] as? String)
        let stored = try String(contentsOfFile: running.service.root + "/state/alpaca-filterwheel-0.uniqueid", encoding: .utf8)
        #expect(stored.trimmingCharacters(in: .whitespacesAndNewlines) == wheelID)

        let again = try await AlpacaEndToEndTests.uniqueIDAfterAGatewayRestart(running.service, deviceType: "FilterWheel")
        #expect(again == wheelID)
    }

    /// NINA's way: binning then subframe, subframe then binning, a filter change before each
    /// exposure; every file has the exposure's size, binning and FILTER.
    @Test func anImagingSessionChangesFiltersBetweenExposuresAndEachFileSaysWhichFilter() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let summary = try await conformance("nina", running, ["--data-root", running.service.root + "/data"])
        let filters = (summary["exposures"] as? [[String: Any]] ?? []).compactMap { $0["filter"] as? String }
        #expect(filters == ["V", "B", "r", "Ha"])
    }

    /// Bad Position values (-1, 99, abc, NaN, 2.5, an integer beyond Int64, empty) are 0x401
    /// naming the value and the slots; a missing Position is HTTP 400; not connected is 0x407;
    /// nothing moves and no process restarts.
    @Test func badPositionsAreInvalidValueAndNothingRestarts() async throws {
        let running = try await start()
        defer { running.service.cleanup() }
        let before = try await Health.waitUntilHealthy(running.http)
        try await conformance("hostile", running)
        let wheel = try await http(running.http, "GET", "/v1/filterwheel")
        #expect(wheel.json["slot"] as? Int == 0 && wheel.json["target"] == nil, "\(wheel.text)")
        let after = try await Health.waitUntilHealthy(running.http)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(running.service.output.suffix(3000))")
    }

    /// `filterwheel.focus_offsets` with a count other than the filters': the gateway refuses to
    /// start, naming the key, the value and the rule.
    @Test func focusOffsetsOfTheWrongCountStopTheGatewayNamingKeyValueAndRule() async throws {
        let gateway = try ServiceHarness("aperture-gateway", environment: ["APERTURE_FILTERWHEEL_FOCUS_OFFSETS": "1,2,3"])
        defer { gateway.cleanup() }
        let status = await gateway.waitForExit(timeout: 30)
        #expect(status != nil && status != 0)
        let output = gateway.output
        #expect(output.contains("filterwheel.focus_offsets = '1,2,3'") && output.contains("3 offset(s) for 6 filters")
                && output.contains("one integer per filter"), "\(output)")
    }
}
