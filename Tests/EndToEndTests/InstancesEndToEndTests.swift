import ApertureProtocol
import Bus
import Foundation
import Testing
import ProcessTestSupport

extension FacilitySuites {
    /// Several cameras on one host (issue 16): two whole services side by side, as
    /// `aperture@north.service` and `aperture@south.service` run them (APERTURE_INSTANCE names each;
    /// distinct runtime, state and data directories and ports), sharing only the Alpaca discovery
    /// port. Each takes its own frames at the same time as the other, and its files, rows and
    /// Alpaca devices carry its own identity.
    @Suite(.serialized, .timeLimit(.minutes(6))) struct InstancesEndToEndTests {
        struct Instance {
            var name: String
            var service: ServiceHarness
            var http: String
            var alpaca: String
        }

        /// Starts one instance: the name as the unit gives it, the site as its file would.
        func start(_ name: String, discoveryPort: Int, environment extra: [String: String] = [:]) async throws -> Instance {
            var environment = CatalogEndToEndTests.fast
            environment["APERTURE_INSTANCE"] = name
            environment["APERTURE_SITE_NAME"] = "mro"
            environment["APERTURE_ALPACA_DISCOVERY"] = "on"
            environment["APERTURE_ALPACA_DISCOVERY_PORT"] = String(discoveryPort)
            environment.merge(extra) { $1 }
            let service = try ServiceHarness("aperture", environment: environment)
            do {
                let http = try await service.gatewayAddress()
                _ = try await Health.waitUntilHealthy(http)
                let alpaca = try await service.gatewayReports("an Alpaca address") { $0.alpaca }
                return Instance(name: name, service: service, http: http, alpaca: alpaca)
            } catch {
                service.cleanup()
                throw error
            }
        }

        /// Starts north, then south, sharing a free discovery port.
        func startPair(north northEnvironment: [String: String] = [:],
                       south southEnvironment: [String: String] = [:]) async throws -> (north: Instance, south: Instance, discoveryPort: Int) {
            let discoveryPort = ServiceHarness.freePort(udp: true)
            let north = try await start("north", discoveryPort: discoveryPort, environment: northEnvironment)
            do {
                return (north, try await start("south", discoveryPort: discoveryPort, environment: southEnvironment), discoveryPort)
            } catch {
                north.service.cleanup()
                throw error
            }
        }

        @Test func twoInstancesTakeFramesAtOnceAndKeepTheirFilesRowsAndDevicesApart() async throws {
            let (north, south, discoveryPort) = try await startPair()
            defer { north.service.cleanup(); south.service.cleanup() }
            #expect(north.http != south.http && north.alpaca != south.alpaca)

            // Both expose at once: 4 biases on north, 3 one-second darks on south.
            let catalog = CatalogEndToEndTests()
            async let northStarted = catalog.expose(north.http, ["type": "bias", "time": 0, "count": 4])
            async let southStarted = catalog.expose(south.http, ["type": "dark", "time": 1, "count": 3])
            let (northID, southID) = try await (northStarted, southStarted)
            async let northEnded: Void = catalog.waitForEnd(north.http, northID)
            async let southEnded: Void = catalog.waitForEnd(south.http, southID)
            _ = try await (northEnded, southEnded)

            for (instance, id, count) in [(north, northID, 4), (south, southID, 3)] {
                let rows = try await catalog.waitForRows(instance.http, count)
                // Its own frames only, each with its identity, as astropy reads it from the file.
                #expect(rows.count == count, "\(instance.name): \(rows.count) rows")
                #expect(rows.allSatisfy { $0["exposure"] as? String == id }, "\(instance.name): another's frame")
                let files = try await ServiceHarness.runPython("catalog_files", [instance.service.root + "/data"], in: instance.service.root)
                #expect(files.status == 0, "\(files.errors)")
                let onDisk = try #require(try JSONSerialization.jsonObject(with: Data(files.output.utf8)) as? [String: [String: Any]])
                #expect(Set(rows.compactMap { $0["path"] as? String }) == Set(onDisk.keys))
                for row in rows {
                    let path = try #require(row["path"] as? String)
                    #expect(onDisk[path]?["camera"] as? String == instance.name, "\(instance.name) \(path)")
                    #expect(onDisk[path]?["site"] as? String == "mro", "\(instance.name) \(path)")
                    #expect(row["camera"] as? String == instance.name && row["site"] as? String == "mro", "\(instance.name) \(path)")
                }
                // The filters: its camera, the site, and the other camera (nothing here).
                let other = instance.name == "north" ? "south" : "north"
                #expect(try await catalog.fetchRows(instance.http, "camera=\(instance.name)&site=mro").count == count)
                #expect(try await catalog.fetchRows(instance.http, "camera=\(other)").isEmpty)
                // The command line, with the same filters.
                let cli = try ServiceHarness.runCLI(["catalog", "query", "--runtime-dir", instance.service.runtime.path,
                                                     "--site", "mro", "--camera", instance.name, "--format", "csv"])
                #expect(cli.code == 0, "\(cli.output)")
                let lines = cli.output.split(separator: "\n")
                #expect(lines.count == count + 1 && lines.dropFirst().allSatisfy { $0.hasSuffix(",mro,\(instance.name)") }, "\(cli.output)")
                let badCLI = try ServiceHarness.runCLI(["catalog", "query", "--runtime-dir", instance.service.runtime.path,
                                                        "--camera", "north.2"])
                #expect(badCLI.code != 0 && badCLI.output.contains("--camera") && badCLI.output.contains(FacilityName.rule),
                        "\(badCLI.output)")
                // The frame ring is its own: the latest frame is of its exposure, with its CAMERA.
                let latest = try await http(instance.http, "GET", "/v1/frames/latest.fits")
                #expect(latest.status == 200)
                #expect(latest.header("Content-Disposition")?.contains("latest-\(id)-") == true, "\(latest.headers)")
                let header = String(decoding: latest.body.prefix(2880 * 2), as: UTF8.self)
                #expect(header.contains("CAMERA  = '\(instance.name)"), "\(instance.name): no CAMERA card in latest.fits")
            }

            // Alpaca: two devices, told apart by their UniqueIDs, and both answer one broadcast
            // discovery query, each with its own port.
            var cameraIDs: [String] = []
            for instance in [north, south] {
                let devices = try await http(instance.alpaca, "GET", "/management/v1/configureddevices")
                let values = devices.json["Value"] as? [[String: Any]] ?? []
                cameraIDs += values.filter { $0["DeviceType"] as? String == "Camera" }.compactMap { $0["UniqueID"] as? String }
            }
            #expect(cameraIDs.count == 2 && Set(cameraIDs).count == 2, "\(cameraIDs)")
            let ports = Set([north.alpaca, south.alpaca].compactMap { $0.split(separator: ":").last.flatMap { Int($0) } })
            let answered = await Self.discoveryReplies(to: "127.255.255.255", port: discoveryPort, expecting: ports.count, timeout: 5)
            #expect(Set(answered) == ports, "replies \(answered), Alpaca ports \(ports.sorted())")

            // Stopping one leaves the other taking frames.
            kill(north.service.pid, SIGTERM)
            #expect(await north.service.waitForExit(timeout: 30) != nil)
            let more = try await catalog.expose(south.http, ["type": "bias", "time": 0, "count": 1])
            try await catalog.waitForEnd(south.http, more)
            #expect(try await catalog.waitForRows(south.http, 4).count == 4)
        }

        /// An instance whose name breaks the rule does not start: exit 78 (no restart by systemd),
        /// naming camera.name, the value and the rule.
        @Test func anInstanceNameOutsideTheRuleStopsStartUpNamingCameraName() async throws {
            let service = try ServiceHarness("aperture", environment: ["APERTURE_INSTANCE": "north.2"])
            defer { service.cleanup() }
            #expect(await service.waitForExit(timeout: 15) == 78)
            #expect(service.output.contains("camera.name = 'north.2': \(FacilityName.rule)"), "\(service.output)")
            #expect(service.output.contains("APERTURE_INSTANCE"), "\(service.output)")
        }

        /// The shipped site for several instances (units/nginx/aperture-instances.conf), run by the
        /// real nginx in front of both: only the listen address, the upstream ports and the data
        /// roots are substituted. Each camera's API, frames and dashboard are under /cam/NAME/.
        @Test func theInstancesNginxSitePutsEachCameraUnderItsOwnPrefix() async throws {
            // Each camera its own token; north in real time, for its page in the browser below.
            let tokens = ["north": "north-token-\(UInt32.random(in: 0...UInt32.max))",
                          "south": "south-token-\(UInt32.random(in: 0...UInt32.max))"]
            let (north, south, _) = try await startPair(
                north: ["APERTURE_GATEWAY_TOKEN": tokens["north"]!, "APERTURE_CAMERA_TIME_SCALE": "1",
                        "APERTURE_CAMERA_WIDTH": "512", "APERTURE_CAMERA_HEIGHT": "512"],
                south: ["APERTURE_GATEWAY_TOKEN": tokens["south"]!])
            defer { north.service.cleanup(); south.service.cleanup() }
            let catalog = CatalogEndToEndTests()
            for instance in [north, south] {
                let started = try await http(instance.http, "POST", "/v1/exposures", json: ["type": "bias", "time": 0, "count": 1],
                                             headers: ["Authorization": "Bearer \(tokens[instance.name]!)"])
                #expect(started.status == 202, "\(started.text)")
                try await catalog.waitForEnd(instance.http, try #require(started.json["id"] as? String))
                _ = try await catalog.waitForRows(instance.http, 1)
            }

            let sitePath = URL(fileURLWithPath: NginxEndToEndTests.site).deletingLastPathComponent()
                .appendingPathComponent("aperture-instances.conf").path
            var site = try String(contentsOfFile: sitePath, encoding: .utf8)
            let nginxPort = ServiceHarness.freePort()
            let substitutions = [
                ("server 127.0.0.1:8001;", "server \(north.http);"), ("server 127.0.0.1:8002;", "server \(south.http);"),
                ("    listen [::]:80;\n", ""), ("listen 80;", "listen 127.0.0.1:\(nginxPort);"),
                ("alias /srv/aperture/north/data/;", "alias \(north.service.root)/data/;"),
                ("alias /srv/aperture/south/data/;", "alias \(south.service.root)/data/;"),
            ]
            for (from, to) in substitutions {
                #expect(site.contains(from), "the site's substitution point '\(from)' moved")
                site = site.replacingOccurrences(of: from, with: to)
            }
            let nginx = try NginxEndToEndTests.run(site: site, prefix: north.service.root + "/nginx")
            defer { nginx.terminate(); nginx.waitForExit() }
            let front = "127.0.0.1:\(nginxPort)"
            let deadline = Date().addingTimeInterval(20)
            while (try? await http(front, "GET", "/cam/north/api/healthz"))?.status != 200, Date() < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }

            for instance in [north, south] {
                let prefix = "/cam/\(instance.name)"
                let page = try await http(front, "GET", prefix + "/api/v1/frames")
                let rows = page.json["frames"] as? [[String: Any]] ?? []
                #expect(page.status == 200 && rows.count == 1, "\(prefix)/api/v1/frames: \(page.status) \(page.text.prefix(300))")
                #expect(rows.first?["camera"] as? String == instance.name)
                // The frame through the prefix's data location is the file on the instance's disk.
                let path = try #require(rows.first?["path"] as? String)
                let file = try await http(front, "GET", prefix + "/data/" + path)
                #expect(file.status == 200)
                #expect(file.body == (try Data(contentsOf: URL(fileURLWithPath: instance.service.root + "/data/" + path))))
                // The dashboard under the prefix, and what it asks for relative to its page.
                let dashboard = try await http(front, "GET", prefix + "/")
                #expect(dashboard.status == 200 && dashboard.text.contains("<html"), "\(prefix)/: \(dashboard.status)")
                let camera = try await http(front, "GET", prefix + "/v1/camera")
                #expect(camera.status == 200, "\(prefix)/v1/camera: \(camera.status) \(camera.text.prefix(200))")
                // The other camera's frames are not under this prefix.
                let other = instance.name == "north" ? "south" : "north"
                let others = try await http(front, "GET", prefix + "/api/v1/frames?camera=\(other)")
                #expect(others.status == 200 && (others.json["frames"] as? [Any])?.isEmpty == true, "\(others.text.prefix(200))")
            }
            let index = try await http(front, "GET", "/")
            #expect(index.status == 200 && index.text.contains("/cam/north/") && index.text.contains("/cam/south/"))

            // North's page in headless Chromium under its prefix: its events stream through
            // /cam/north/v1/events, an exposure with progress and preview, and its token kept under
            // its own key (south's page, on the same origin, would not send it).
            try await DashboardEndToEndTests().runBrowser("http://\(front)/cam/north/", service: north.service, token: tokens["north"],
                                                          tokenKey: "aperture.token:north")
        }

        /// Sends `alpacadiscovery1` to `address`:`port` (a broadcast address is allowed) and
        /// collects the `AlpacaPort` of every reply until `expecting` distinct ones came or `timeout`
        /// passed. The socket waits on a thread of its own, never on the cooperative pool.
        static func discoveryReplies(to address: String, port: Int, expecting: Int, timeout: Double) async -> [Int] {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: discoveryRepliesBlocking(to: address, port: port, expecting: expecting, timeout: timeout))
                }
                thread.name = "discovery-client"
                thread.start()
            }
        }

        private static func discoveryRepliesBlocking(to address: String, port: Int, expecting: Int, timeout: Double) -> [Int] {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return [] }
            defer { close(fd) }
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, socklen_t(MemoryLayout<Int32>.size))
            var wait = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_port = in_port_t(UInt16(port).bigEndian)
            target.sin_addr.s_addr = inet_addr(address)
            let query = Array("alpacadiscovery1".utf8)
            var ports: [Int] = []
            let deadline = Date().addingTimeInterval(timeout)
            var lastQuery = Date.distantPast
            var buffer = [UInt8](repeating: 0, count: 512)
            while Date() < deadline, Set(ports).count < expecting {
                // UDP may drop a datagram: ask again every second until every instance answered.
                if Date().timeIntervalSince(lastQuery) >= 1 {
                    _ = withUnsafePointer(to: &target) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(fd, query, query.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                        }
                    }
                    lastQuery = Date()
                }
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0,
                      let reply = try? JSONSerialization.jsonObject(with: Data(buffer[0..<count])) as? [String: Any],
                      let alpacaPort = reply["AlpacaPort"] as? Int else { continue }
                if !ports.contains(alpacaPort) { ports.append(alpacaPort) }
            }
            return ports
        }
    }
}
