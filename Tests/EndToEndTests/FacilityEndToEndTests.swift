import ApertureProtocol
import ArchiveTestSupport
import Bus
import Crypto
import Foundation
import Testing

extension FacilitySuites {
    /// The facility end to end (issue 16): two camera instances (north and south, simulated cameras)
    /// export to a real nats-server, aperture-archive consumes into a real PostgreSQL and its central
    /// root. The scenarios of Benchmarks/scale-out.sh with smaller counts: NATS stopped and killed while
    /// the cameras save, the archive killed mid-ingest, a re-send beyond the stream's duplicate window;
    /// and the facility's queries across cameras.
    @Suite(.serialized, .timeLimit(.minutes(10))) struct FacilityEndToEndTests {
        static let site = "obs"

        /// The running facility.
        struct Facility {
            let nats: NATSServer
            let postgres: PostgresServer
            let database: String
            let archive: ServiceHarness
            let archiveAddress: String
            let root: String
            var cameras: [String: (service: ServiceHarness, address: String)] = [:]

            func cleanup() {
                for (_, camera) in cameras { camera.service.cleanup() }
                archive.cleanup()
                nats.cleanup()
                try? FileManager.default.removeItem(atPath: root)
            }

            func sql(_ text: String) async throws -> String {
                try await postgres.psql(database, text).trimmingCharacters(in: .whitespacesAndNewlines)
            }

            /// The frames' files on the camera hosts: (camera, path) → bytes.
            func hostFiles() throws -> [String: [String: Data]] {
                var files: [String: [String: Data]] = [:]
                for (name, camera) in cameras {
                    let data = camera.service.root + "/data"
                    let enumerator = FileManager.default.enumerator(atPath: data)
                    while let path = enumerator?.nextObject() as? String {
                        guard path.hasSuffix(".fits") else { continue }
                        files[name, default: [:]][path] = try Data(contentsOf: URL(fileURLWithPath: data + "/" + path))
                    }
                }
                return files
            }

            /// Waits until the archive holds `count` rows (with `atLeast`, `count` or more).
            func waitForRows(_ count: Int, atLeast: Bool = false, timeout: Double = 120) async throws {
                let deadline = Date().addingTimeInterval(timeout)
                var last = ""
                while Date() < deadline {
                    last = (try? await sql("SELECT COUNT(*) FROM frames")) ?? ""
                    if last == String(count) || (atLeast && (Int(last) ?? 0) >= count) { return }
                    try await Task.sleep(for: .milliseconds(100))
                }
                Issue.record("the archive has \(last) rows, not \(count), after \(timeout) s; archive output:\n\(archive.output.suffix(3000))")
                throw CancellationError()
            }

            /// Every frame of every camera host is in the archive once: its row (path, SHA-256, the
            /// camera's identity) and its central file, bit-exact. Returns the rows checked.
            @discardableResult
            func checkEveryFrameOnce() async throws -> Int {
                let hosts = try hostFiles()
                let expected = hosts.values.reduce(0) { $0 + $1.count }
                let rows = try await sql("SELECT site || ' ' || camera || ' ' || path || ' ' || central_path || ' ' || sha256 FROM frames")
                    .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
                #expect(rows.count == expected, "\(rows.count) rows for \(expected) frames")
                #expect(Set(rows.map { $0[1] + "/" + $0[2] }).count == rows.count, "a frame has two rows")
                #expect(Set(rows.map { $0[4] }).count == rows.count, "the same bytes under two rows")
                var central = 0
                let enumerator = FileManager.default.enumerator(atPath: root)
                while let path = enumerator?.nextObject() as? String {
                    if path.hasPrefix(".") { enumerator?.skipDescendants() } else if path.hasSuffix(".fits") { central += 1 }
                }
                #expect(central == expected, "\(central) central files for \(expected) frames")
                for row in rows {
                    #expect(row[0] == FacilityEndToEndTests.site)
                    let host = try #require(hosts[row[1]]?[row[2]], "a row for \(row[1])/\(row[2]), which its camera host does not have")
                    let file = try Data(contentsOf: URL(fileURLWithPath: root + "/" + row[3]))
                    #expect(file == host, "\(row[3]) differs from the camera host's file")
                    #expect(SHA256.hash(data: file).map { String(format: "%02x", $0) }.joined() == row[4])
                    #expect(row[3] == "\(FacilityEndToEndTests.site)/\(row[1])/\(row[2])")
                }
                return rows.count
            }
        }

        static func start(cameras names: [String] = ["north", "south"], archive extra: [String: String] = [:],
                          size: Int = 256) async throws -> Facility {
            let postgres = try await PostgresServer.shared()
            let database = try await postgres.database("facility_e2e")
            let nats = try await NATSServer()
            let port = ServiceHarness.freePort()
            let root = "/tmp/aperture-facility-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            var settings = ["APERTURE_ARCHIVE_ROOT": root, "APERTURE_NATS_URL": nats.url,
                            "APERTURE_ARCHIVE_POSTGRES_URL": postgres.url(database), "APERTURE_ARCHIVE_LISTEN": "127.0.0.1:\(port)",
                            "APERTURE_ARCHIVE_INCOMPLETE_TIMEOUT": "5", "APERTURE_ARCHIVE_ACK_WAIT": "8"]
            settings.merge(extra) { $1 }
            // The archive first: it creates the stream with its settings.
            let archive = try ServiceHarness("aperture", arguments: ["run", "--role", "archive"], environment: settings)
            var facility = Facility(nats: nats, postgres: postgres, database: database, archive: archive,
                                    archiveAddress: "127.0.0.1:\(port)", root: root)
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let (status, _) = try? await ServiceHarness.get(facility.archiveAddress, "/healthz"), status == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            for name in names {
                let service = try ServiceHarness("aperture", environment: [
                    "APERTURE_CAMERA_TIME_SCALE": "0.01", "APERTURE_CAMERA_WIDTH": String(size), "APERTURE_CAMERA_HEIGHT": String(size),
                    "APERTURE_EXPORT_ENABLED": "true", "APERTURE_NATS_URL": nats.url, "APERTURE_EXPORT_CHUNK_BYTES": "50000",
                    "APERTURE_EXPORT_BACKOFF_MAX": "0.5", "APERTURE_EXPORT_ACK_TIMEOUT": "2",
                    "APERTURE_SITE_NAME": site, "APERTURE_CAMERA_NAME": name, "APERTURE_ALPACA_DISCOVERY": "off",
                ])
                facility.cameras[name] = (service, "")
                let address = try await service.gatewayAddress()
                _ = try await Health.waitUntilHealthy(address)
                facility.cameras[name] = (service, address)
            }
            return facility
        }

        /// Each camera takes `count` bias frames; waits until their files are saved.
        func take(_ count: Int, on facility: Facility) async throws {
            let catalog = CatalogEndToEndTests()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (_, camera) in facility.cameras {
                    group.addTask {
                        let id = try await catalog.expose(camera.address, ["type": "bias", "time": 0, "count": count])
                        try await catalog.waitForEnd(camera.address, id)
                    }
                }
                try await group.waitForAll()
            }
        }

        @Test func twoCamerasThroughNATSStoppedAndKilledEveryFrameArrivesOnceAndTheFacilityQueriesBoth() async throws {
            let facility = try await Self.start()
            defer { facility.cleanup() }
            try await take(3, on: facility)
            try await facility.waitForRows(6)

            // NATS stopped (SIGTERM) while each camera saves 4 frames: they wait in the outboxes.
            await facility.nats.stop()
            try await take(4, on: facility)
            for (name, camera) in facility.cameras {
                try await ExportEndToEndTests().waitForExport(camera.address, "\(name) counting 4 frames waiting") {
                    $0["backlog_frames"] as? Int == 4 && $0["connected"] as? Bool == false
                }
            }
            try await facility.nats.start()
            try await facility.waitForRows(14)

            // NATS killed (SIGKILL) and restarted on its store.
            await facility.nats.kill()
            try await take(2, on: facility)
            try await facility.nats.start()
            try await facility.waitForRows(18)
            #expect(try await facility.checkEveryFrameOnce() == 18)

            // Nothing crashed on the way: the catalogs and the archive never restarted.
            for (name, camera) in facility.cameras {
                let health = try await Health.read(camera.address)
                #expect(health.children.first { $0.name == "catalog" }?.restarts == 0, "\(name): \(health.pidsAndRestarts)")
            }

            // The facility's queries across cameras, and each camera's live status and export.
            let all = try await http(facility.archiveAddress, "GET", "/v1/frames?limit=1000")
            #expect((all.json["frames"] as? [[String: Any]])?.count == 18)
            for name in ["north", "south"] {
                let rows = try await http(facility.archiveAddress, "GET", "/v1/frames?camera=\(name)&site=\(Self.site)&limit=1000")
                let frames = rows.json["frames"] as? [[String: Any]] ?? []
                #expect(frames.count == 9, "\(name): \(rows.text.prefix(300))")
                #expect(frames.allSatisfy { $0["camera"] as? String == name && $0["site"] as? String == Self.site })
            }
            let bad = try await http(facility.archiveAddress, "GET", "/v1/frames?camera=no/such")
            #expect(bad.status == 400 && bad.errorField == "camera", "\(bad.text)")
            let deadline = Date().addingTimeInterval(30)
            var cameras: [[String: Any]] = []
            while Date() < deadline {
                cameras = try await http(facility.archiveAddress, "GET", "/v1/cameras").json["cameras"] as? [[String: Any]] ?? []
                if cameras.count == 2, cameras.allSatisfy({ $0["state"] as? String == "idle" && $0["export_backlog"] as? Int == 0 }) { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(Set(cameras.compactMap { $0["camera"] as? String }) == ["north", "south"], "\(cameras)")
            #expect(cameras.allSatisfy { $0["state"] as? String == "idle" && $0["export_backlog"] as? Int == 0 }, "\(cameras)")
            #expect(cameras.allSatisfy { $0["frames"] as? Int == 9 }, "\(cameras)")
        }

        @Test func theArchiveKilledMidIngestIsRestartedAndEveryFrameArrivesOnce() async throws {
            // Frames of 1024x1024 in chunks of 50,000 bytes: 43 messages each, so the ingest takes a while.
            let facility = try await Self.start(size: 1024)
            defer { facility.cleanup() }
            for (_, camera) in facility.cameras {
                #expect(try await http(camera.address, "POST", "/v1/export/pause").status == 200)
            }
            try await take(8, on: facility)
            for (_, camera) in facility.cameras {
                try await ExportEndToEndTests().waitForExport(camera.address, "8 frames waiting") { $0["backlog_frames"] as? Int == 8 }
                #expect(try await http(camera.address, "POST", "/v1/export/resume").status == 200)
            }
            // Killed as soon as the first frame is stored centrally.
            try await facility.waitForRows(1, atLeast: true, timeout: 120)
            let archivePID = try #require(ServiceHarness.processes(mentioning: facility.archive.runtime.path)
                .first { pid in (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.contains("aperture-archive") == true })
            kill(archivePID, SIGKILL)
            let rowsAtKill = try await facility.sql("SELECT COUNT(*) FROM frames")
            try await facility.waitForRows(16, timeout: 180)
            #expect(try await facility.checkEveryFrameOnce() == 16, "killed at \(rowsAtKill) rows")
            let client = try RequestClient(dialing: facility.archive.runtime.endpoint(EndpointName.supervisorControl))
            defer { client.close() }
            let child = try await client.call(SupervisorStatusCommand.self, timeout: .seconds(5)).children.first { $0.name == "archive" }
            #expect(child?.restarts == 1, "the archive's supervisor: \(String(describing: child))")
            #expect(child?.pid != archivePID)
        }

        @Test func aResendBeyondTheStreamsDuplicateWindowChangesNothingCentrally() async throws {
            // The archive owns the stream's settings: a duplicate window of one second, so the re-send
            // below reaches the archive instead of being dropped by the server.
            let facility = try await Self.start(cameras: ["north"], archive: ["APERTURE_NATS_DUPLICATE_WINDOW": "1"])
            defer { facility.cleanup() }
            let north = try #require(facility.cameras["north"])
            try await take(3, on: facility)
            try await facility.waitForRows(3)
            let before = try await facility.sql("SELECT path || ' ' || sha256 || ' ' || id FROM frames ORDER BY path")
            let stored = try await facility.sql("SELECT SUM(EXTRACT(EPOCH FROM stored)) FROM frames")
            let files = try FileManager.default.subpathsOfDirectory(atPath: facility.root).filter { $0.hasSuffix(".fits") }
            let modified = try files.map { try FileManager.default.attributesOfItem(atPath: facility.root + "/" + $0)[.modificationDate] as? Date }

            // The camera host forgets what was acknowledged, after the window: it sends all three again.
            try await Task.sleep(for: .seconds(1.5))
            let database = north.service.root + "/state/catalog.sqlite"
            let reset = try ServiceHarness.run(["python3", "-c", """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1], timeout=10)
                db.execute("UPDATE frame SET export_sha256 = NULL, export_revision = NULL")
                db.commit()
                """, database])
            #expect(reset.code == 0, "\(reset.output)")
            try await take(1, on: facility)
            let status = try await ExportEndToEndTests().waitForExport(north.address, "everything sent again") {
                $0["backlog_frames"] as? Int == 0 && $0["sent_frames"] as? Int == 7
            }
            #expect(status["duplicates"] as? Int == 0, "the server dropped the re-send: \(status)")
            try await facility.waitForRows(4)
            // The three frames sent again: the same rows, ids, files, untouched.
            let after = try await facility.sql("SELECT path || ' ' || sha256 || ' ' || id FROM frames ORDER BY path")
            #expect(after.split(separator: "\n").prefix(3) == before.split(separator: "\n").prefix(3))
            #expect(try await facility.sql("SELECT SUM(EXTRACT(EPOCH FROM stored)) FROM frames WHERE path IN (SELECT path FROM frames ORDER BY path LIMIT 3)") == stored)
            let again = try files.map { try FileManager.default.attributesOfItem(atPath: facility.root + "/" + $0)[.modificationDate] as? Date }
            #expect(again == modified)
            #expect(try await facility.checkEveryFrameOnce() == 4)
        }
    }
}
