import ApertureProtocol
import ArchiveTestSupport
import Bus
import Crypto
import FacilityBus
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

extension FacilitySuites {
    /// aperture-archive as it runs: `aperture run --role archive` (the supervisor and its one child)
    /// with a real PostgreSQL and a real nats-server in scratch directories, fed by messages
    /// published through FacilityBus as a camera host's exporter publishes them.
    @Suite(.serialized, .timeLimit(.minutes(8))) struct ArchiveEndToEndTests {
        /// The archive's service, its HTTP address, its database and the NATS server.
        struct Facility {
            let service: ServiceHarness
            let address: String
            let database: String
            let postgres: PostgresServer
            let nats: NATSServer
            let connection: NATSConnection
            let jetStream: JetStream
            /// The central data root.
            let root: String

            func cleanup() {
                connection.close()
                service.cleanup()
                nats.cleanup()
                try? FileManager.default.removeItem(atPath: root)
            }

            func sql(_ text: String) async throws -> String {
                try await postgres.psql(database, text).trimmingCharacters(in: .whitespacesAndNewlines)
            }

            /// Publishes a frame's messages (its chunks in `order`, then, with `row`, its row) as the exporter does.
            func publish(_ frame: ExportedFrame, order: [Int]? = nil, row: Bool = true) async throws {
                let subject = FrameExport.subject(site: frame.site, camera: frame.camera)
                for index in order ?? Array(frame.chunks.indices) {
                    _ = try await jetStream.publish(subject: subject, data: frame.chunks[index].data, headers: frame.chunks[index].headers,
                                                    messageID: FrameExport.chunkID(site: frame.site, camera: frame.camera,
                                                                                   sha256: frame.sha256, index: index),
                                                    timeout: .seconds(10))
                }
                if row { try await publishRow(frame) }
            }

            /// Publishes a frame's row message.
            func publishRow(_ frame: ExportedFrame) async throws {
                let subject = FrameExport.subject(site: frame.site, camera: frame.camera)
                _ = try await jetStream.publish(subject: subject, data: frame.row.data, headers: frame.row.headers,
                                                messageID: FrameExport.rowID(site: frame.site, camera: frame.camera,
                                                                             sha256: frame.sha256, revision: frame.export.revision),
                                                timeout: .seconds(10))
            }

            /// Waits until `condition` holds of the SQL's output.
            @discardableResult
            func waitFor(_ query: String, timeout: Double = 60, _ condition: (String) -> Bool) async throws -> String {
                let deadline = Date().addingTimeInterval(timeout)
                var last = ""
                while Date() < deadline {
                    last = (try? await sql(query)) ?? ""
                    if condition(last) { return last }
                    try await Task.sleep(for: .milliseconds(50))
                }
                Issue.record("'\(query)' gave '\(last)' after \(timeout) s; archive output:\n\(service.output.suffix(4000))")
                throw CancellationError()
            }

            /// The supervisor's view of the archive child.
            func archiveChild() async throws -> ChildStatus? {
                let client = try RequestClient(dialing: service.runtime.endpoint(EndpointName.supervisorControl))
                defer { client.close() }
                return try? await client.call(SupervisorStatusCommand.self, timeout: .seconds(2)).children.first { $0.name == "archive" }
            }
        }

        static func start(environment: [String: String] = [:]) async throws -> Facility {
            let postgres = try await PostgresServer.shared()
            let database = try await postgres.database("archive_e2e")
            let nats = try await NATSServer()
            let port = ServiceHarness.freePort()
            let root = "/tmp/aperture-archive-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            var settings = [
                "APERTURE_ARCHIVE_ROOT": root,
                "APERTURE_NATS_URL": nats.url,
                "APERTURE_ARCHIVE_POSTGRES_URL": postgres.url(database),
                "APERTURE_ARCHIVE_LISTEN": "127.0.0.1:\(port)",
                "APERTURE_ARCHIVE_INCOMPLETE_TIMEOUT": "2",
                "APERTURE_ARCHIVE_ACK_WAIT": "4",
            ]
            for (key, value) in environment { settings[key] = value }
            let archive = try ServiceHarness("aperture", arguments: ["run", "--role", "archive"], environment: settings)
            let connection = try NATSConnection(NATSOptions(url: nats.url, name: "archive-e2e-exporter"))
            let deadline = Date().addingTimeInterval(30)
            while !connection.isConnected, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let jetStream = try connection.jetStream()
            let facility = Facility(service: archive, address: "127.0.0.1:\(port)", database: database, postgres: postgres, nats: nats,
                                    connection: connection, jetStream: jetStream, root: root)
            // Ready: the schema is there and the archive answers HTTP.
            try await facility.waitFor("SELECT COUNT(*) FROM schema_version") { $0 == "1" }
            while Date() < deadline {
                if let (status, _) = try? await ServiceHarness.get(facility.address, "/healthz"), status == 200 { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            return facility
        }

        @Test func framesPublishedToTheStreamAreStoredOnceBitExactWithTheirCamerasLiveStatus() async throws {
            let facility = try await Self.start()
            defer { facility.cleanup() }
            var frames: [ExportedFrame] = []
            for index in 1...6 {
                let camera = index % 2 == 0 ? "cam2" : "cam1"
                frames.append(ExportedFrame(site: "north", camera: camera, path: "20261205/image-\(String(format: "%04d", index)).fits",
                                            bytes: 150_000 + index * 1000, chunkBytes: 32 * 1024, seed: UInt8(index)))
            }
            // Out of order, and one frame published twice (a re-send after a lost ack).
            for frame in frames { try await facility.publish(frame, order: Array(frame.chunks.indices.reversed())) }
            try await facility.publish(frames[0])
            var live = LiveStatus(site: "north", camera: "cam1", time: FrameTime.canonical(Date()))
            live.state = "exposing"
            try facility.connection.publish(FrameExport.statusSubject(site: "north", camera: "cam1", kind: "state"),
                                            Array(try JSONEncoder().encode(live)))

            try await facility.waitFor("SELECT COUNT(*) FROM frames") { $0 == "6" }
            for frame in frames {
                let stored = FileManager.default.contents(atPath: "\(facility.root)/north/\(frame.camera)/\(frame.path)").map(Array.init)
                #expect(stored == frame.file, "\(frame.path)")
            }
            // Through HTTP: the cameras, a filter, the file.
            let (status, body) = try await ServiceHarness.get(facility.address, "/v1/frames?camera=cam2&limit=10")
            #expect(status == 200)
            let page = try JSONDecoder().decode(FramePage.self, from: body)
            #expect(page.frames.map(\.path) == frames.filter { $0.camera == "cam2" }.map(\.path))
            let (fileStatus, file) = try await ServiceHarness.get(facility.address, "/v1/frames/\(page.frames[0].id)/file")
            #expect(fileStatus == 200 && Array(file) == frames[1].file)
            try await facility.waitFor("SELECT status->'state'->>'state' FROM cameras WHERE camera = 'cam1'") { $0 == "exposing" }
            let (_, cameras) = try await ServiceHarness.get(facility.address, "/v1/cameras")
            let list = (try JSONSerialization.jsonObject(with: cameras) as? [String: Any])?["cameras"] as? [[String: Any]] ?? []
            #expect(list.map { $0["camera"] as? String } == ["cam1", "cam2"])
            #expect(list.first?["state"] as? String == "exposing")
            // Every message acknowledged: the work-queue stream is empty.
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline, (try? await facility.jetStream.streamState(FrameExport.defaultStream).messages) != 0 {
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await facility.jetStream.streamState(FrameExport.defaultStream).messages == 0)
            // The supervisor runs the archive like any child, and it answers pings.
            let child = try #require(try await facility.archiveChild())
            #expect(child.responding && child.restarts == 0)
        }

        @Test func aCorruptChunkOnTheStreamIsAProblemAndNeverStored() async throws {
            let facility = try await Self.start()
            defer { facility.cleanup() }
            var frame = ExportedFrame(site: "south", camera: "cam1", bytes: 100_000, chunkBytes: 32 * 1024, seed: 9)
            var bytes = frame.chunks[2].data
            bytes[100] ^= 0x01
            frame.chunks[2] = TestMessage(headers: frame.chunks[2].headers, data: bytes)
            try await facility.publish(frame)
            try await facility.waitFor("SELECT kind FROM problems") { $0 == "hash_mismatch" }
            #expect(try await facility.sql("SELECT COUNT(*) FROM frames") == "0")
            #expect(!FileManager.default.fileExists(atPath: "\(facility.root)/south/cam1/\(frame.path)"))
            let (_, metrics) = try await ServiceHarness.get(facility.address, "/metrics")
            #expect(String(decoding: metrics, as: UTF8.self).contains("aperture_archive_problems{kind=\"hash_mismatch\"} 1"))
        }

        @Test func theArchiveKilledMidIngestIsRestartedByItsSupervisorAndEverythingArrivesOnce() async throws {
            let facility = try await Self.start()
            defer { facility.cleanup() }
            let frames = (1...30).map { index in
                ExportedFrame(site: "north", camera: "cam\(index % 3 + 1)", path: "20261206/image-\(String(format: "%04d", index)).fits",
                              bytes: 600_000 + index * 17, chunkBytes: 64 * 1024, seed: UInt8(index))
            }
            // Mid-ingest, for certain: every frame's chunks, but the rows of the first ten only. The
            // archive stores those ten and holds the others' chunks, written to its spool and not
            // acknowledged, waiting for their rows; then it is killed.
            for (index, frame) in frames.enumerated() { try await facility.publish(frame, row: index < 10) }
            try await facility.waitFor("SELECT COUNT(*) FROM frames", timeout: 60) { $0 == "10" }
            let heldChunks = frames.dropFirst(10).reduce(0) { $0 + $1.chunks.count }
            let heldDeadline = Date().addingTimeInterval(60)
            var held = 0
            while Date() < heldDeadline {
                let (_, metrics) = try await ServiceHarness.get(facility.address, "/metrics")
                held = String(decoding: metrics, as: UTF8.self).split(separator: "\n")
                    .first { $0.hasPrefix("aperture_archive_held ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
                if held >= heldChunks { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(held >= heldChunks, "the archive holds \(held) messages, not the \(heldChunks) chunks of the frames without rows")
            let before = try #require(try await facility.archiveChild())
            let pid = try #require(before.pid)
            kill(pid, SIGKILL)
            #expect(try await facility.sql("SELECT COUNT(*) FROM frames") == "10")
            for frame in frames.dropFirst(10) { try await facility.publishRow(frame) }

            // The supervisor restarts it (the restart counter says so), and it carries on.
            let deadline = Date().addingTimeInterval(30)
            var after: ChildStatus?
            while Date() < deadline {
                if let child = try await facility.archiveChild(), child.pid != pid, child.pid != nil, child.responding {
                    after = child
                    break
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            let restarted = try #require(after, "the archive was not restarted:\n\(facility.service.output.suffix(3000))")
            #expect(restarted.restarts == 1)
            #expect(restarted.lastExit == "killed by signal 9 (SIGKILL)")

            try await facility.waitFor("SELECT COUNT(*) FROM frames", timeout: 120) { $0 == String(frames.count) }
            // Once each: one row per path, one file per frame, every hash right, no spool left.
            #expect(try await facility.sql("SELECT COUNT(DISTINCT (site, camera, path)) FROM frames") == String(frames.count))
            for frame in frames {
                let path = "\(facility.root)/north/\(frame.camera)/\(frame.path)"
                let data = try #require(FileManager.default.contents(atPath: path), "\(path) missing")
                #expect(SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined() == frame.sha256)
            }
            let files = try FileManager.default.subpathsOfDirectory(atPath: facility.root + "/north").filter { $0.hasSuffix(".fits") }
            #expect(files.count == frames.count)
            let spoolDeadline = Date().addingTimeInterval(20)
            var spool: [String] = []
            repeat {
                spool = ((try? FileManager.default.subpathsOfDirectory(atPath: facility.root + "/.spool")) ?? []).filter { $0.hasSuffix(".part") }
                if spool.isEmpty { break }
                try await Task.sleep(for: .milliseconds(100))
            } while Date() < spoolDeadline
            #expect(spool.isEmpty, "spool files left: \(spool)")
            #expect(try await facility.sql("SELECT COUNT(*) FROM problems WHERE kind <> 'incomplete'") == "0")
        }

        @Test func theFacilityDashboardShowsEveryCameraAndFiltersTheFrames() async throws {
            let chromium = try #require(DashboardEndToEndTests.chromium, "Chromium is needed for the browser test (apt install chromium)")
            let facility = try await Self.start()
            defer { facility.cleanup() }
            let frames = [("north", "cam1"), ("north", "cam1"), ("south", "cam2"), ("south", "cam2")].enumerated().map { index, name in
                ExportedFrame(site: name.0, camera: name.1, path: "20261205/image-\(String(format: "%04d", index + 1)).fits",
                              bytes: 40_000, chunkBytes: 16 * 1024, seed: UInt8(index + 1))
            }
            for frame in frames { try await facility.publish(frame) }
            for (site, camera, state) in [("north", "cam1", "exposing"), ("south", "cam2", "idle")] {
                var live = LiveStatus(site: site, camera: camera, time: FrameTime.canonical(Date()))
                live.state = state
                try facility.connection.publish(FrameExport.statusSubject(site: site, camera: camera, kind: "state"),
                                                Array(try JSONEncoder().encode(live)))
            }
            try await facility.waitFor("SELECT COUNT(*) FROM frames") { $0 == "4" }
            try await facility.waitFor("SELECT COUNT(*) FROM cameras") { $0 == "2" }
            let result = try await ServiceHarness.runPython("facility_browser", [
                "http://\(facility.address)/", "--frames", "4", "--camera", "north/cam1=exposing", "--camera", "south/cam2=idle",
                "--filter-site", "south", "--chromium", chromium, "--screenshot", facility.root + "/facility.png",
            ], in: facility.root)
            let summary = result.output.split(separator: "\n").last.flatMap {
                try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            } ?? [:]
            #expect(result.status == 0, "facility_browser.py: \(result.errors)\n\(result.output)")
            #expect((summary["steps"] as? [String]) == ["loaded", "cameras", "frames", "filtered"], "\(summary)")
            #expect((summary["filtered"] as? [String]) == ["south", "south"], "\(summary)")
            #expect((summary["console_errors"] as? [Any])?.isEmpty == true, "\(summary)")
        }
    }
}
