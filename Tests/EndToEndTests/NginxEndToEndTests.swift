import ApertureProtocol
import Bus
import CameraCore
import Foundation
import Testing

/// The shipped nginx site (units/nginx/aperture.conf), run by the real nginx on loopback in
/// front of the real gateway: only the listen address, the upstream port and the data root
/// are substituted.
@Suite(.serialized, .timeLimit(.minutes(5))) struct NginxEndToEndTests {
    static let site = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("units/nginx/aperture.conf").path

    /// Writes a main configuration including the adapted site and starts nginx in the foreground.
    /// - Parameter edit: a change an operator makes to the site (none by default).
    func startNginx(prefix: String, port: Int, gatewayPort: Int, dataRoot: String,
                    edit: (String) -> String = { $0 }) throws -> Process {
        var site = edit(try String(contentsOfFile: Self.site, encoding: .utf8))
        site = site.replacingOccurrences(of: "server 127.0.0.1:8000;", with: "server 127.0.0.1:\(gatewayPort);")
        site = site.replacingOccurrences(of: "    listen [::]:80;\n", with: "")
        site = site.replacingOccurrences(of: "listen 80;", with: "listen 127.0.0.1:\(port);")
        site = site.replacingOccurrences(of: "alias /srv/aperture/data/;", with: "alias \(dataRoot)/;")
        #expect(site.contains("127.0.0.1:\(gatewayPort)") && site.contains(dataRoot), "the site's substitution points moved")
        return try Self.run(site: site, prefix: prefix)
    }

    /// Writes a main configuration including `site` under `prefix`, checks it with `nginx -t`
    /// and starts nginx in the foreground.
    static func run(site: String, prefix: String) throws -> Process {
        try FileManager.default.createDirectory(atPath: prefix + "/logs", withIntermediateDirectories: true)
        try site.write(toFile: prefix + "/aperture.conf", atomically: true, encoding: .utf8)
        let main = """
            user root root;
            daemon off;
            worker_processes 1;
            pid \(prefix)/nginx.pid;
            error_log \(prefix)/logs/error.log warn;
            events { worker_connections 64; }
            http {
                access_log \(prefix)/logs/access.log;
                include /etc/nginx/mime.types;
                client_body_temp_path \(prefix)/body;
                proxy_temp_path \(prefix)/proxy;
                fastcgi_temp_path \(prefix)/fastcgi;
                uwsgi_temp_path \(prefix)/uwsgi;
                scgi_temp_path \(prefix)/scgi;
                include \(prefix)/aperture.conf;
            }
            """
        try main.write(toFile: prefix + "/nginx.conf", atomically: true, encoding: .utf8)
        let check = try runToExit("/usr/sbin/nginx", ["-t", "-p", prefix, "-c", prefix + "/nginx.conf"])
        #expect(check.status == 0, "nginx -t: \(check.stderr)")
        let nginx = Process()
        nginx.executableURL = URL(fileURLWithPath: "/usr/sbin/nginx")
        nginx.arguments = ["-p", prefix, "-c", prefix + "/nginx.conf"]
        nginx.standardError = FileHandle.nullDevice
        try nginx.run()
        return nginx
    }

    @Test func theShippedSiteServesTheAPIUnderApiAndTheFramesUnderData() async throws {
        let gatewayPort = ServiceHarness.freePort()
        // Acting requests through the site need the token (docs/operations.md).
        let token = "nginx-test-\(UInt32.random(in: 0...UInt32.max))-token"
        let service = try ServiceHarness("aperture", environment: [
            "APERTURE_GATEWAY_LISTEN": "127.0.0.1:\(gatewayPort)", "APERTURE_GATEWAY_TOKEN": token,
            "APERTURE_CAMERA_WIDTH": "128", "APERTURE_CAMERA_HEIGHT": "128", "APERTURE_CAMERA_TIME_SCALE": "0.01",
        ])
        defer { service.cleanup() }
        _ = try await service.gatewayAddress()
        let dataRoot = service.root + "/data"
        try FileManager.default.createDirectory(atPath: dataRoot, withIntermediateDirectories: true)
        let nginxPort = ServiceHarness.freePort()
        let nginx = try startNginx(prefix: service.root + "/nginx", port: nginxPort, gatewayPort: gatewayPort, dataRoot: dataRoot)
        defer { nginx.terminate(); nginx.waitForExit() }
        let front = "127.0.0.1:\(nginxPort)"

        // /api/healthz reaches the gateway's /healthz.
        var healthy = false
        let deadline = Date().addingTimeInterval(60)
        while !healthy, Date() < deadline {
            if let (code, body) = try? await ServiceHarness.get(front, "/api/healthz"), code == 200,
               let health = try? JSONDecoder().decode(Health.self, from: body) {
                healthy = health.children.count == 4 && health.status == "ok"
            }
            if !healthy { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(healthy, "no healthy /api/healthz through nginx")

        // A frame taken through the bus is listed and downloadable under /data/, byte for byte.
        let client = try RequestClient(dialing: service.runtime.endpoint(EndpointName.cameraControl))
        defer { client.close() }
        var record = try await client.call(ExposeCommand.self, ExposureRequest(type: .bias, time: 0))
        while record.status == .running {
            try await Task.sleep(for: .milliseconds(50))
            record = try await client.call(ExposureQueryCommand.self, .init(id: record.id))
        }
        let path = try #require(record.files.first?.path)
        let relative = String(path.dropFirst(dataRoot.count))
        let folder = URL(fileURLWithPath: relative).deletingLastPathComponent().path
        let (listingCode, listing) = try await ServiceHarness.get(front, "/data\(folder)/")
        #expect(listingCode == 200)
        #expect(String(decoding: listing, as: UTF8.self).contains("image-0001.fits"))
        let (fileCode, file) = try await ServiceHarness.get(front, "/data\(relative)")
        #expect(fileCode == 200)
        #expect(file == FileManager.default.contents(atPath: path))

        // Files being written are never served, and nothing can be written.
        _ = FileManager.default.createFile(atPath: dataRoot + folder + "/.image-0002.fits.tmp-1-2", contents: Data("partial".utf8))
        let (hiddenCode, _) = try await ServiceHarness.get(front, "/data\(folder)/.image-0002.fits.tmp-1-2")
        #expect(hiddenCode == 404)
        var put = URLRequest(url: URL(string: "http://\(front)/data\(relative)")!)
        put.httpMethod = "DELETE"
        let (_, response) = try await URLSession.shared.data(for: put)
        #expect((response as? HTTPURLResponse)?.statusCode == 403)
        #expect(FileManager.default.fileExists(atPath: path))

        // evora's routes and the v1 API under /api/, as evora was deployed; capture's url
        // carries the /api prefix so that it works through nginx.
        let (temperatureCode, temperature) = try await ServiceHarness.get(front, "/api/getTemperature")
        #expect(temperatureCode == 200)
        #expect(String(decoding: temperature, as: UTF8.self).contains("\"temperature\""))
        let capture = try await http(front, "POST", "/api/capture",
                                     json: ["exptime": 0, "exptype": "Single", "imgtype": "Bias"],
                                     headers: ["Authorization": "Bearer \(token)"])
        let url = try #require(capture.json["url"] as? String, "\(capture.text)")
        #expect(url.hasPrefix("http://\(front)/api/v1/files/"), "\(url)")
        let download = try await http(front, "GET", String(url.dropFirst("http://\(front)".count)))
        #expect(download.status == 200)
        #expect(download.body.starts(with: Data("SIMPLE  =".utf8)))

        // The event stream is not buffered by nginx: the first event arrives while it is open.
        let host = front.split(separator: ":")[0], port = front.split(separator: ":")[1]
        let (_, first) = try ServiceHarness.run(["python3", "-c", """
            import http.client, sys
            c = http.client.HTTPConnection("\(host)", \(port), timeout=10)
            c.request("GET", "/api/v1/events")
            r = c.getresponse()
            seen = b""
            while b"event: camera." not in seen:  # a real event (telemetry comes every second)
                chunk = r.read1(4096)
                if not chunk: break
                seen += chunk
            print(r.status, r.getheader("Content-Type"), "event" if b"event: camera." in seen else "no event")
            """])
        #expect(first.hasPrefix("200 text/event-stream event"), "\(first)")
    }
}

#if canImport(FoundationNetworking)
import FoundationNetworking
import ProcessTestSupport
#endif
