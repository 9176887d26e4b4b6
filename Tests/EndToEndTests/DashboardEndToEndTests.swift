import ApertureProtocol
import Bus
import CameraCore
import Foundation
import ProcessorService
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import ProcessTestSupport

/// The web dashboard and the PNG preview, through the real service: the page and its assets
/// as the gateway serves them, the preview against the FITS file stretched by astropy, and the
/// page driven in headless Chromium (directly, and behind the shipped nginx site under `/api/`).
@Suite(.serialized, .timeLimit(.minutes(8))) struct DashboardEndToEndTests {
    /// One exchange: status, headers (lower-case names) and body.
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
        var text: String { String(decoding: body, as: UTF8.self) }
        var error: [String: Any] {
            ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["error"] as? [String: Any] ?? [:]
        }
    }

    static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalAndRemoteCacheData
        return URLSession(configuration: configuration)
    }()

    static func get(_ address: String, _ path: String, headers: [String: String] = [:]) async throws -> Reply {
        var request = URLRequest(url: URL(string: "http://\(address)\(path)")!)
        request.timeoutInterval = 60
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await session.data(for: request)
        let http = response as! HTTPURLResponse
        var fields: [String: String] = [:]
        for (key, value) in http.allHeaderFields { fields["\(key)".lowercased()] = "\(value)" }
        return Reply(status: http.statusCode, headers: fields, body: data)
    }

    /// Starts the whole service; waits until the gateway answers for a connected camera and
    /// the processor (a page opened earlier would rightly get 503s while children start).
    func start(_ environment: [String: String]) async throws -> (ServiceHarness, String) {
        let service = try ServiceHarness("aperture", environment: environment)
        let address = try await service.gatewayAddress()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let camera = try? await Self.get(address, "/v1/camera"), camera.status == 200,
               (try? JSONSerialization.jsonObject(with: camera.body) as? [String: Any])?["connected"] as? Bool == true,
               let processor = try? await Self.get(address, "/v1/processor/configuration"), processor.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return (service, address)
    }


    // MARK: - the page

    @Test func thePageAndItsAssetsAreServedFromTheGatewayWithCachingHeaders() async throws {
        let (service, address) = try await start(["APERTURE_CAMERA_WIDTH": "64", "APERTURE_CAMERA_HEIGHT": "64"])
        defer { service.cleanup() }

        let page = try await Self.get(address, "/")
        #expect(page.status == 200)
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        #expect(page.headers["cache-control"] == "no-cache")
        #expect(page.headers["content-security-policy"]?.contains("default-src 'self'") == true)
        let etag = try #require(page.headers["etag"])
        #expect(try await Self.get(address, "/", headers: ["If-None-Match": etag]).status == 304)
        #expect(try await Self.get(address, "/index.html").text == page.text)

        // Every link is relative (so that the page works under nginx's /api/), and versioned.
        var assets: [String] = []
        for match in page.text.matches(of: /(?:src|href)="(assets\/[^"]+)"/) { assets.append(String(match.output.1)) }
        #expect(assets.count == 3, "\(assets)")
        #expect(!page.text.contains("=\"/"), "an absolute link in the page")
        for asset in assets {
            let reply = try await Self.get(address, "/" + asset)
            #expect(reply.status == 200, "\(asset)")
            #expect(reply.headers["cache-control"] == "public, max-age=31536000, immutable", "\(asset)")
            let expectedType = asset.contains(".js") ? "text/javascript; charset=utf-8"
                : asset.contains(".css") ? "text/css; charset=utf-8" : "image/svg+xml"
            #expect(reply.headers["content-type"] == expectedType, "\(asset)")
            // Nothing from the internet: no CDN, no web fonts (the SVG namespace is a name, not a fetch).
            let text = reply.text.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "")
            #expect(!text.contains("http://") && !text.contains("https://"), "\(asset) refers to another site")
            #expect(!text.contains("@import") && !text.contains("@font-face"), "\(asset)")
            // Unversioned, the same file is revalidated instead.
            let plain = try await Self.get(address, "/" + asset.split(separator: "?")[0])
            #expect(plain.headers["cache-control"] == "no-cache")
            #expect(plain.body == reply.body)
            let tag = try #require(plain.headers["etag"])
            #expect(try await Self.get(address, "/" + asset, headers: ["If-None-Match": tag]).status == 304)
        }
        let script = try await Self.get(address, "/assets/dashboard.js")
        // The API is reached relative to the page, never from the root.
        #expect(script.text.contains("'v1/events'") && script.text.contains("'v1/exposures'"))
        #expect(!script.text.contains("'/v1/"))

        let missing = try await Self.get(address, "/assets/nothing.js")
        #expect(missing.status == 404)
        #expect(missing.error["code"] as? String == "not_found")
    }

    // MARK: - the PNG preview

    @Test func thePreviewIsTheFITSFileStretchedAsAstropyDoes() async throws {
        let (service, address) = try await start([
            "APERTURE_CAMERA_TIME_SCALE": "0.01", "APERTURE_CAMERA_WIDTH": "600", "APERTURE_CAMERA_HEIGHT": "400",
        ])
        defer { service.cleanup() }

        // Before the first frame: 404; bad parameters: 400 naming them.
        let none = try await Self.get(address, "/v1/frames/latest.png")
        #expect(none.status == 404)
        #expect(none.error["code"] as? String == "not_found")
        for (query, field) in [("width=abc", "width"), ("width=0", "width"), ("width=4097", "width"), ("width=2.5", "width"),
                               ("stretch=log", "stretch"), ("stretch=", "stretch")] {
            let reply = try await Self.get(address, "/v1/frames/latest.png?\(query)")
            #expect(reply.status == 400, "\(query)")
            #expect(reply.error["code"] as? String == "invalid_argument", "\(query)")
            #expect(reply.error["field"] as? String == field, "\(query)")
        }

        let camera = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        defer { camera.close() }
        var record = try await camera.call(ExposeCommand.self, ExposureRequest(type: .object, time: 5))
        while record.status == .running {
            try await Task.sleep(for: .milliseconds(50))
            record = try await camera.call(ExposureQueryCommand.self, .init(id: record.id))
        }
        #expect(record.status == .completed)
        let path = try #require(record.files.first?.path)

        let png = try await Self.get(address, "/v1/frames/latest.png?width=300")
        #expect(png.status == 200)
        #expect(png.headers["content-type"] == "image/png")
        #expect(png.headers["x-exposure-id"] == record.id)
        #expect(png.headers["x-frame-number"] == "1")
        #expect(png.headers["x-stretch"] == "zscale")
        #expect(png.headers["x-stretch-low"] != nil && png.headers["x-stretch-high"] != nil)
        #expect(png.body.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
        let etag = try #require(png.headers["etag"])
        #expect(try await Self.get(address, "/v1/frames/latest.png?width=300", headers: ["If-None-Match": etag]).status == 304)

        // Pixels and limits against astropy, for several widths and every stretch.
        let check = try await ServiceHarness.runPython("dashboard_preview_check", ["http://\(address)/", path], in: service.root)
        #expect(check.status == 0, "dashboard_preview_check.py:\n\(check.errors)\n\(check.output)")
        #expect(check.output.contains("\"exposure_id\": \"\(record.id)\""))
    }

    /// Every stretch of a full 2048x2048 frame, at the widths asked. How long a render takes is
    /// a figure of Benchmarks/preview.sh (docs/performance.md), not a bound here: these machines
    /// are shared.
    @Test func aFullFramePreviewRendersEveryStretchAtTheWidthAsked() async throws {
        let (service, address) = try await start([
            "APERTURE_CAMERA_TIME_SCALE": "0.01", "APERTURE_CAMERA_WIDTH": "2048", "APERTURE_CAMERA_HEIGHT": "2048",
        ])
        defer { service.cleanup() }
        let camera = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        defer { camera.close() }
        var record = try await camera.call(ExposeCommand.self, ExposureRequest(type: .object, time: 1))
        while record.status == .running {
            try await Task.sleep(for: .milliseconds(50))
            record = try await camera.call(ExposureQueryCommand.self, .init(id: record.id))
        }
        for (stretch, width) in [("zscale", 510), ("asinh", 511), ("linear", 512)] {
            let reply = try await Self.get(address, "/v1/frames/latest.png?width=\(width)&stretch=\(stretch)")
            #expect(reply.status == 200, "\(stretch): \(reply.text.prefix(300))")
            #expect(reply.headers.first { $0.key.lowercased() == "content-type" }?.value == "image/png", "\(stretch)")
            // IHDR: the width and height, big-endian, at bytes 16..<24; a square frame stays square.
            let size = [UInt8](reply.body.prefix(24).dropFirst(16))
            let side = [UInt8(width >> 24), UInt8((width >> 16) & 0xff), UInt8((width >> 8) & 0xff), UInt8(width & 0xff)]
            #expect(size == side + side, "\(stretch): IHDR \(size)")
        }
    }

    // MARK: - the page in a browser

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs dashboard_browser.py against `url`; checks it passed with no console error and
    /// returns its summary.
    /// - Parameter tokenKey: where the page keeps the token (`aperture.token:NAME` at `/cam/NAME/`).
    @discardableResult
    func runBrowser(_ url: String, service: ServiceHarness, token: String? = nil, tokenKey: String? = nil, focus: Bool = false,
                    history: Bool = false, plans: Bool = false, export: Bool = false) async throws -> [String: Any] {
        let chromium = try #require(Self.chromium, "Chromium is needed for the browser test (apt install chromium)")
        var arguments = [url, "--chromium", chromium, "--time", "2", "--timeout", "120",
                         "--screenshot", service.root + "/dashboard.png"]
        if let token { arguments += ["--token", token] }
        if let tokenKey { arguments += ["--token-key", tokenKey] }
        if focus { arguments.append("--focus") }
        if history { arguments.append("--history") }
        if plans { arguments.append("--plans") }
        if export { arguments.append("--export") }
        let result = try await ServiceHarness.runPython("dashboard_browser", arguments, in: service.root)
        let summary = result.output.split(separator: "\n").last.flatMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        } ?? [:]
        #expect(result.status == 0, "dashboard_browser.py: \(result.errors)\n\(result.output)\nservice:\n\(service.output.suffix(3000))")
        #expect((summary["console_errors"] as? [Any])?.isEmpty == true, "console errors: \(summary["console_errors"] ?? "none reported")")
        let steps = (token == nil ? ["loaded", "ready", "submitted", "progress", "preview"]
            : ["loaded", "ready", "submitted", "token", "progress", "preview"]) + (focus ? ["focus"] : [])
            + (history ? ["history"] : []) + (plans ? ["plans"] : []) + (export ? ["export"] : [])
        #expect((summary["steps"] as? [String]) == steps, "\(summary)")
        #expect(((summary["preview"] as? [String: Any])?["width"] as? Int ?? 0) > 0, "\(summary)")
        return summary
    }

    @Test func anExposureStartedFromThePageShowsProgressThenItsPreview() async throws {
        // Real time: a 2 s exposure gives the progress bar several steps. The weather from the test peer's
        // JSON document shows in its panel.
        let (peer, port) = try await startWeatherPeer()
        defer { kill(peer.processIdentifier, SIGKILL); peer.waitForExit() }
        let (service, address) = try await start([
            "APERTURE_CAMERA_TIME_SCALE": "1", "APERTURE_CAMERA_WIDTH": "1024", "APERTURE_CAMERA_HEIGHT": "768",
            "APERTURE_WEATHER_SOURCE": "http", "APERTURE_WEATHER_URL": "http://127.0.0.1:\(port)/station.json",
            "APERTURE_WEATHER_FIELDS": "temperature_c=main.temp,humidity=main.humidity",
        ])
        defer { service.cleanup() }
        let processor = try RequestClient(dialing: service.runtime.endpoint(EndpointName.processorControl))
        defer { processor.close() }
        // Focus metrics on (a configuration replaces the whole one: before the ROIs): the history
        // panel charts each frame's FWHM and sky level.
        let configure = try await http(address, "PUT", "/v1/processor/configuration", json: ["focus": true])
        #expect(configure.status == 200, "\(configure.text)")
        _ = try await processor.call(SetROICommand.self, .init(which: .signal, roi: [100, 300, 200, 150]))
        _ = try await processor.call(SetROICommand.self, .init(which: .background, roi: [100, 300, 500, 150]))
        let summary = try await runBrowser("http://\(address)/", service: service, focus: true, history: true, plans: true)
        let debug = summary["debug"] as? [String: Any] ?? [:]
        // The history panel: tonight's frame from the catalog, in the table and on the chart; a
        // filter that matches nothing empties it.
        let history = summary["history"] as? [String: Any] ?? [:]
        #expect((history["rows"] as? Int ?? 0) >= 1 && (history["fwhm_points"] as? Int ?? 0) >= 1, "\(history)")
        #expect((history["sky_points"] as? Int ?? 0) >= 1 && (history["nights"] as? Int ?? 0) >= 1, "\(history)")
        #expect((history["link"] as? String)?.contains("/v1/frames/") == true, "\(history)")
        let filtered = summary["history_filtered"] as? [String: Any] ?? [:]
        #expect(filtered["rows"] as? Int == 0, "\(filtered)")
        // The plans panel: the plan queued from the page ran, was paused and cancelled with its buttons.
        let planId = try #require((summary["plan_running"] as? [String: Any])?["id"] as? String, "\(summary)")
        let plan = try await http(address, "GET", "/v1/plans/\(planId)").json
        #expect(plan["state"] as? String == "cancelled" && plan["name"] as? String == "browser plan", "\(plan)")
        let taken = plan["frames_done"] as? Int ?? 0
        #expect(taken >= 1 && taken < 30, "\(plan)")
        #expect((plan["reason"] as? String)?.contains("cancelled") == true, "\(plan)")
        // The focus panel: the point added from the page, its measured widths and the plot.
        let focus = summary["focus"] as? [String: Any] ?? [:]
        #expect(focus["width"] as? Int == 640 && focus["height"] as? Int == 480, "the focus plot: \(focus)")
        #expect((focus["row"] as? String)?.hasPrefix("5000") == true, "the focus point's row: \(focus)")
        #expect((focus["session"] as? String)?.contains("1 point(s)") == true, "\(focus)")
        let weather = summary["weather"] as? [String: Any] ?? [:]
        #expect(weather["hidden"] as? Bool == false, "the weather panel: \(weather)")
        #expect(weather["temperature"] as? String == "18.0 °C" && weather["humidity"] as? String == "55 %", "\(weather)")
        #expect((weather["caption"] as? String)?.hasPrefix("from http") == true, "\(weather)")
        #expect(debug["roisDrawn"] as? Int == 2, "the ROI boxes over the preview: \(debug)")
        #expect(debug["progressEvents"] as? Int ?? 0 >= 2, "\(debug)")
        #expect(summary["stats_rows"] as? Int ?? 0 > 0, "the frame's statistics: \(summary)")
        #expect(summary["files_rows"] as? Int ?? 0 > 0, "the night's files: \(summary)")
        #expect(summary["children_running"] as? Int == 4, "child health: \(summary)")
        #expect((debug["chartPoints"] as? Int ?? 0) > 0, "the temperature chart has readings: \(summary)")
    }

    @Test func aCommandRefusedFor401AsksForTheTokenThenSucceedsWithIt() async throws {
        let token = "dashboard-test-\(UInt32.random(in: 0...UInt32.max))"
        let (service, address) = try await start([
            "APERTURE_GATEWAY_TOKEN": token,
            "APERTURE_CAMERA_TIME_SCALE": "1", "APERTURE_CAMERA_WIDTH": "256", "APERTURE_CAMERA_HEIGHT": "256",
        ])
        defer { service.cleanup() }
        let summary = try await runBrowser("http://\(address)/", service: service, token: token)
        // No weather source: the panel stays hidden, and asking for it logged no error.
        #expect((summary["weather"] as? [String: Any])?["hidden"] as? Bool == true, "\(summary["weather"] ?? "none")")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx")))
    func thePageWorksBehindTheShippedNginxSiteUnderApi() async throws {
        let gatewayPort = ServiceHarness.freePort()
        // Acting requests through the shipped site need the token: the page asks for it.
        let token = "dashboard-test-\(UInt32.random(in: 0...UInt32.max))"
        let (service, _) = try await start([
            "APERTURE_GATEWAY_LISTEN": "127.0.0.1:\(gatewayPort)", "APERTURE_GATEWAY_TOKEN": token,
            "APERTURE_CAMERA_TIME_SCALE": "1", "APERTURE_CAMERA_WIDTH": "512", "APERTURE_CAMERA_HEIGHT": "512",
        ])
        defer { service.cleanup() }
        let dataRoot = service.root + "/data"
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        let nginxPort = ServiceHarness.freePort()
        let nginx = try NginxEndToEndTests().startNginx(prefix: service.root + "/nginx", port: nginxPort,
                                                        gatewayPort: gatewayPort, dataRoot: dataRoot)
        defer { nginx.terminate(); nginx.waitForExit() }
        let front = "127.0.0.1:\(nginxPort)"
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let reply = try? await Self.get(front, "/api/"), reply.status == 200 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await runBrowser("http://\(front)/api/", service: service, token: token)
    }
}
