import FITSStorage
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import ProcessTestSupport

/// Starts the weather test peer (Python/weather_source.py: an Alpaca ObservingConditions device
/// and a JSON document) on a free loopback port; kill it with SIGKILL when done.
func startWeatherPeer() async throws -> (Process, Int) {
    let port = ServiceHarness.freePort()
    let peer = Process()
    peer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    let script = try #require(Bundle.module.path(forResource: "weather_source", ofType: "py", inDirectory: "Python"))
    peer.arguments = ["python3", script, String(port)]
    try peer.run()
    try await waitForListener(port: port)
    return (peer, port)
}

/// The evora web client (UWMRO/evora-client), its calls made as its `src/apiClient.js` and
/// components make them, against the real service: the fields it reads, CORS as evora-server's
/// `CORS(app)` gave it, the weather panel, and a capture with an unreachable filter wheel.
@Suite(.serialized, .timeLimit(.minutes(5))) struct EvoraClientEndToEndTests {
    static let fast = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "256",
        "APERTURE_CAMERA_HEIGHT": "256",
    ]
    /// The origin of the web client's own server (its dev server, or another host's nginx).
    static let clientOrigin = "http://evora-client.test:3000"
    /// What `buildPostPayload` and the other POSTs of apiClient.js send.
    static let clientHeaders = ["content-type": "application/json"]

    /// The `temperature` the client parses out of `/getTemperature` (GetTemp.jsx:
    /// `parseFloat(JSON.parse(JSON.stringify(await response.json()))["temperature"])`).
    func clientTemperature(_ reply: HTTPReply) -> Double? {
        switch reply.json["temperature"] {
        case let number as NSNumber: return number.doubleValue
        case let text as String: return Double(text)
        default: return nil
        }
    }

    @Test func theWebClientsCallsGetTheFieldsItReads() async throws {
        let (peer, port) = try await startWeatherPeer()
        defer { kill(peer.processIdentifier, SIGKILL); peer.waitForExit() }
        var environment = Self.fast
        environment["APERTURE_GATEWAY_CORS_ORIGINS"] = Self.clientOrigin
        environment["APERTURE_WEATHER_SOURCE"] = "alpaca"
        environment["APERTURE_WEATHER_URL"] = "http://127.0.0.1:\(port)"
        let service = try ServiceHarness("aperture", environment: environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)

        // SetTemp.jsx: `setTemperature(val)` posts {temperature: val.toString()} and compares
        // JSON.stringify(await response.json()) with '-999'; else shows "Cooling to: N °C".
        let cooling = try await http(address, "POST", "/setTemperature", json: ["temperature": "-50"],
                                     headers: Self.clientHeaders)
        #expect(cooling.status == 200)
        let shown = try JSONSerialization.jsonObject(with: cooling.body, options: [.fragmentsAllowed]) as? NSNumber
        #expect(shown?.intValue == -50, "\(cooling.text)")
        let tooCold = try await http(address, "POST", "/setTemperature", json: ["temperature": "-300"],
                                     headers: Self.clientHeaders)
        #expect(tooCold.text == "-999", "the client shows 'Temperature out of range!' only for -999: \(tooCold.text)")
        #expect(tooCold.status == 400)
        #expect(tooCold.header("Aperture-Error")?.contains("range") == true)

        // GetTemp.jsx reads `temperature` whatever the status; after /shutdown the camera is off.
        let warm = try await http(address, "GET", "/getTemperature")
        #expect(clientTemperature(warm).map { $0 > -100 && $0 < 40 } == true, "\(warm.text)")
        let shutdown = try await http(address, "GET", "/shutdown", timeout: 120)
        #expect(shutdown.status == 200, "\(shutdown.text)")
        let off = try await http(address, "GET", "/getTemperature")
        #expect(off.status == 200, "\(off.text)")
        #expect(clientTemperature(off) == -999, "evora's reading of a camera that is not initialised: \(off.text)")
        #expect(off.json["status"] as? Int == 20075)
        let again = try await http(address, "GET", "/initialize", timeout: 120)
        #expect(again.status == 200, "\(again.text)")

        // Weather.jsx reads tempf, humidity and windspeedmph.
        let weather = try await http(address, "GET", "/getWeatherData")
        #expect(weather.status == 200, "\(weather.text)")
        #expect((weather.json["tempf"] as? Double).map { abs($0 - 54.5) < 1e-9 } == true, "12.5 C: \(weather.text)")
        #expect(weather.json["humidity"] as? Double == 40)
        #expect((weather.json["windspeedmph"] as? Double).map { abs($0 - 3 / 0.44704) < 1e-9 } == true)
        #expect(weather.json["winddir"] as? Double == 270)
        #expect(weather.json["temperature_c"] as? Double == 12.5)
        #expect(weather.json["source"] as? String == "alpaca")
        #expect(weather.json["sky_quality"] == nil, "a sky quality of 99 mag/arcsec² is no reading")
        let v1 = try await http(address, "GET", "/v1/weather")
        #expect(v1.status == 200)
        #expect((v1.json["values"] as? [String: Any])?["pressure_hpa"] as? Double == 1013)

        // CORS: the web client served from its own origin. A preflight of its JSON POST, then the POST.
        let preflight = try await http(address, "OPTIONS", "/capture", headers: [
            "Origin": Self.clientOrigin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        ])
        #expect(preflight.status == 204, "\(preflight.text)")
        #expect(preflight.header("Access-Control-Allow-Origin") == Self.clientOrigin)
        #expect(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
        #expect(preflight.header("Access-Control-Allow-Headers") == "content-type")
        let fromClient = try await http(address, "POST", "/setTemperature", json: ["temperature": "-40"],
                                        headers: Self.clientHeaders.merging(["Origin": Self.clientOrigin]) { $1 })
        #expect(fromClient.status == 200, "\(fromClient.text)")
        #expect(fromClient.header("Access-Control-Allow-Origin") == Self.clientOrigin)
        let readFromClient = try await http(address, "GET", "/getTemperature", headers: ["Origin": Self.clientOrigin])
        #expect(readFromClient.header("Access-Control-Allow-Origin") == Self.clientOrigin)
        // Another site's page gets neither the preflight nor the action.
        let stranger = "http://elsewhere.test"
        let strangePreflight = try await http(address, "OPTIONS", "/capture", headers: [
            "Origin": stranger, "Access-Control-Request-Method": "POST",
        ])
        #expect(strangePreflight.status == 403)
        #expect(strangePreflight.errorField == "Origin")
        #expect(strangePreflight.header("Access-Control-Allow-Origin") == nil)
        // An <img> of another site's page sends no Origin, but says it is cross-site.
        let strangeImage = try await http(address, "GET", "/testLongExposure", headers: ["Sec-Fetch-Site": "cross-site"])
        #expect(strangeImage.status == 403, "\(strangeImage.text)")
        #expect(strangeImage.errorField == "Sec-Fetch-Site")
        let strangePost = try await http(address, "POST", "/setTemperature", json: ["temperature": "-30"],
                                         headers: ["Origin": stranger])
        #expect(strangePost.status == 403)
        #expect(strangePost.errorCode == "forbidden_origin")
        #expect(strangePost.header("Access-Control-Allow-Origin") == nil)

        // ExposureControls: a capture in filter r moves the wheel there, and FILTER says r.
        let capture = try await http(address, "POST", "/capture", json: [
            "exptime": "0.5", "exptype": "Single", "imgtype": "Object", "filtype": "r", "comment": "",
        ], headers: Self.clientHeaders)
        #expect(capture.json["message"] as? String == "Capture Successful", "\(capture.text)")
        #expect(capture.json["warning"] == nil)
        let wheel = try await http(address, "GET", "/getFilterWheel")
        #expect(wheel.json["filter"] as? String == "r", "\(wheel.text)")
        let file = try #require(try newestFITS(under: service.root + "/data"))
        #expect(try filter(of: file) == "r")
        let unknown = try await http(address, "POST", "/capture", json: [
            "exptime": "0.5", "exptype": "Single", "imgtype": "Object", "filtype": "Hb", "comment": "",
        ], headers: Self.clientHeaders)
        #expect(unknown.status == 400)
        #expect(unknown.json["status"] as? Int == 2)
        #expect(unknown.errorField == "filtype", "\(unknown.text)")

        // The rest of app.py.
        let long = try await http(address, "GET", "/testLongExposure", timeout: 60)
        #expect(long.status == 200)
        #expect(long.text == "Finished Acquiring after 10s")
        for path in ["/getFocus", "/setFocus"] {
            let focus = try await http(address, "GET", path)
            #expect(focus.status == 501)
            #expect(focus.json["message"] as? String == "Not implemented")
        }

        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }

    @Test func anUnreachableWheelStillTakesTheFrameAndAWeatherURLThatHangsAnswersInTime() async throws {
        let (peer, port) = try await startWeatherPeer()
        defer { kill(peer.processIdentifier, SIGKILL); peer.waitForExit() }
        var environment = Self.fast
        environment["APERTURE_FILTERWHEEL_DRIVER"] = "evora"
        environment["APERTURE_FILTERWHEEL_ADDRESS"] = "127.0.0.1:\(ServiceHarness.freePort())"  // nobody listens
        environment["APERTURE_WEATHER_SOURCE"] = "http"
        environment["APERTURE_WEATHER_URL"] = "http://127.0.0.1:\(port)/station.json"
        environment["APERTURE_WEATHER_FIELDS"] = "temperature_c=main.temp,humidity=main.humidity,"
            + "pressure_hpa=main.pressure,wind_speed_ms=wind.speed,wind_direction=wind.deg,cloud_cover=list.0.sky"
        environment["APERTURE_WEATHER_TIMEOUT"] = "1"
        environment["APERTURE_WEATHER_MAX_AGE"] = "0"
        let service = try ServiceHarness("aperture", environment: environment)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await Health.waitUntilHealthy(address)

        // evora wrote `filtype` into FILTER wherever the wheel was; Aperture moves the wheel, and
        // when it cannot, takes the frame anyway and writes no FILTER it does not know.
        let capture = try await http(address, "POST", "/capture", json: [
            "exptime": "0.5", "exptype": "Single", "imgtype": "Object", "filtype": "V", "comment": "",
        ], headers: Self.clientHeaders, timeout: 120)
        #expect(capture.status == 200, "\(capture.text)")
        #expect(capture.json["message"] as? String == "Capture Successful")
        let warning = try #require(capture.json["warning"] as? String, "\(capture.text)")
        #expect(warning.contains("did not move to V"), "\(warning)")
        let file = try #require(try newestFITS(under: service.root + "/data"))
        #expect(try filter(of: file) == nil, "the wheel's position is unknown")

        // The JSON document through the field mapping; a member that is `true` is not a number.
        let weather = try await http(address, "GET", "/getWeatherData")
        #expect(weather.status == 200, "\(weather.text)")
        #expect((weather.json["tempf"] as? Double).map { abs($0 - 64.4) < 1e-9 } == true, "18 C: \(weather.text)")
        #expect(weather.json["humidity"] as? Double == 55)
        #expect(weather.json["pressure_hpa"] as? Double == 1009.5)
        #expect(weather.json["cloud_cover"] as? Double == 33)
        #expect(weather.json["winddir"] is NSNull, "\(weather.text)")
        #expect(weather.json["source"] as? String == "http")

        // A source that stops answering: the reply comes after weather.timeout, not never.
        _ = try await ServiceHarness.get("127.0.0.1:\(port)", "/control/hang")
        let asked = ContinuousClock.now
        let hung = try await http(address, "GET", "/getWeatherData", timeout: 30)
        #expect(ContinuousClock.now - asked < .seconds(10))
        #expect(hung.status == 504, "\(hung.text)")
        #expect(hung.errorCode == "upstream_failed")
        #expect(hung.errorField == "weather.url")
        #expect(hung.json.keys.contains("tempf") && hung.json["tempf"] is NSNull, "the client reads null, not undefined")

        let after = try await Health.waitUntilHealthy(address)
        #expect(after.pidsAndRestarts == before.pidsAndRestarts, "a process was restarted:\n\(service.output.suffix(3000))")
    }

    @Test func withoutWeatherOrCORSConfiguredTheClientGetsClearAnswers() async throws {
        let service = try ServiceHarness("aperture", environment: Self.fast)
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        _ = try await Health.waitUntilHealthy(address)

        let weather = try await http(address, "GET", "/getWeatherData")
        #expect(weather.status == 404)
        #expect(weather.errorCode == "not_configured")
        #expect(weather.errorField == "weather.source")
        #expect(weather.json["tempf"] is NSNull)
        let v1 = try await http(address, "GET", "/v1/weather")
        #expect(v1.status == 200)
        #expect(v1.json["source"] as? String == "none")
        #expect((v1.json["values"] as? [String: Any])?.isEmpty == true)

        // gateway.cors_origins is empty by default: no page of another origin is let in.
        let preflight = try await http(address, "OPTIONS", "/capture", headers: [
            "Origin": Self.clientOrigin, "Access-Control-Request-Method": "POST",
        ])
        #expect(preflight.status == 403, "\(preflight.text)")
        #expect((preflight.json["error"] as? [String: Any])?["message"] as? String != nil)
        let read = try await http(address, "GET", "/getStatus", headers: ["Origin": Self.clientOrigin])
        #expect(read.status == 200)
        #expect(read.header("Access-Control-Allow-Origin") == nil)
    }

    /// FILTER of a FITS file, without the quotes and padding of the card.
    func filter(of file: String) throws -> String? {
        try FITSFile.read(path: file).header["FILTER"].map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: "' "))
        }
    }

    /// The newest FITS file under the data root (night folders and sequence numbers sort by name).
    func newestFITS(under root: String) throws -> String? {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".fits") && !$0.contains("/.") }
            .max()
            .map { root + "/" + $0 }
    }
}
