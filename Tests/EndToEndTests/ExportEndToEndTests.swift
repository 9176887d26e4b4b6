import ApertureProtocol
import Crypto
import FacilityBus
import Foundation
import Testing

extension FacilitySuites {
    /// The export (issue 16) through the real service and a real nats-server with JetStream: every
    /// catalogued frame reaches the stream whole (chunks, then row), nothing is lost while NATS is
    /// down, a re-send is dropped by the server, and pause/resume hold across a catalog restart.
    @Suite(.serialized, .timeLimit(.minutes(8))) struct ExportEndToEndTests {
        static let site = "testsite"
        static let camera = "cam-e2e"

        /// The service with export to `server`, small frames cut in small chunks (several per file).
        func start(_ server: NATSServer, enabled: Bool = true, _ extra: [String: String] = [:]) async throws -> (ServiceHarness, String) {
            var environment = CatalogEndToEndTests.fast.merging(extra) { $1 }
            environment["APERTURE_EXPORT_ENABLED"] = enabled ? "true" : "false"
            environment["APERTURE_NATS_URL"] = server.url
            environment["APERTURE_EXPORT_CHUNK_BYTES"] = "20000"
            environment["APERTURE_EXPORT_BACKOFF_MAX"] = "0.5"
            environment["APERTURE_EXPORT_ACK_TIMEOUT"] = "2"
            environment["APERTURE_SITE_NAME"] = Self.site
            environment["APERTURE_CAMERA_NAME"] = Self.camera
            let service = try ServiceHarness("aperture", environment: environment)
            let address = try await service.gatewayAddress()
            _ = try await Health.waitUntilHealthy(address)
            return (service, address)
        }

        /// Takes `count` bias frames and waits until the catalog has `total` rows.
        func take(_ count: Int, total: Int, _ address: String) async throws {
            let catalog = CatalogEndToEndTests()
            let id = try await catalog.expose(address, ["type": "bias", "time": 0, "count": count])
            try await catalog.waitForEnd(address, id)
            _ = try await catalog.waitForRows(address, total)
        }

        /// Waits until `/v1/export` satisfies `done`; returns the status.
        @discardableResult
        func waitForExport(_ address: String, timeout: Double = 60, _ what: String,
                           _ done: ([String: Any]) -> Bool) async throws -> [String: Any] {
            let deadline = Date().addingTimeInterval(timeout)
            var last: [String: Any] = [:]
            while Date() < deadline {
                last = try await http(address, "GET", "/v1/export").json
                if done(last) { return last }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("export: not \(what) within \(timeout) s: \(last)")
            return last
        }

        /// Everything the stream holds, read by a consumer of the test's own: frames by SHA-256,
        /// each with its chunks by index and its rows.
        struct Received {
            var chunks: [String: [Int: [UInt8]]] = [:]
            var chunkCounts: [String: Int] = [:]
            var rows: [String: [ExportRow]] = [:]
            var messages = 0
            var messageIDs: [String] = []
        }

        func readStream(_ server: NATSServer, expecting frames: Int, durable: String) async throws -> Received {
            let connection = try NATSConnection(NATSOptions(url: server.url, name: "export-test-reader"))
            defer { connection.close() }
            let deadline = Date().addingTimeInterval(30)
            while !connection.isConnected, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            let consumer = try await connection.jetStream().pullSubscription(stream: FrameExport.defaultStream, subject: FrameExport.streamSubjects,
                                                                       durable: durable, settings: ConsumerSettings())
            var received = Received()
            while Date() < deadline {
                let batch = try await consumer.fetch(batch: 256, timeout: .milliseconds(500))
                if batch.isEmpty, received.rows.count >= frames { break }
                for message in batch {
                    received.messages += 1
                    received.messageIDs.append(message.headers["Nats-Msg-Id"] ?? "")
                    let sha = message.headers[FrameExport.sha256Header] ?? ""
                    #expect(message.subject == FrameExport.subject(site: Self.site, camera: Self.camera))
                    #expect(message.headers[FrameExport.siteHeader] == Self.site)
                    #expect(message.headers[FrameExport.cameraHeader] == Self.camera)
                    if message.headers[FrameExport.kindHeader] == "row" {
                        received.rows[sha, default: []].append(try JSONDecoder().decode(ExportRow.self, from: Data(message.data)))
                    } else {
                        let parts = (message.headers[FrameExport.chunkHeader] ?? "").split(separator: "/").compactMap { Int($0) }
                        try #require(parts.count == 2)
                        #expect(received.chunks[sha]?[parts[0]] == nil, "chunk \(parts[0]) of \(sha) came twice")
                        received.chunks[sha, default: [:]][parts[0]] = message.data
                        received.chunkCounts[sha] = parts[1]
                    }
                    try message.ack()
                }
            }
            return received
        }

        /// Checks that each catalogued frame arrived once, whole, with its row.
        func check(_ received: Received, against address: String, root: String, frames: Int) async throws {
            let rows = try await CatalogEndToEndTests().fetchRows(address)
            #expect(rows.count == frames)
            #expect(received.rows.count == frames, "rows received for \(received.rows.count) frames, not \(frames)")
            #expect(Set(received.messageIDs).count == received.messages, "a message came twice")
            for row in rows {
                let sha = try #require(row["sha256"] as? String)
                let path = try #require(row["path"] as? String)
                let pieces = try #require(received.chunks[sha], "no chunks of \(path)")
                let count = try #require(received.chunkCounts[sha])
                #expect(pieces.count == count, "\(path): \(pieces.count) of \(count) chunks")
                #expect(count > 1, "\(path) should be cut in several chunks of 20000 bytes")
                let bytes = (0..<count).flatMap { pieces[$0] ?? [] }
                let file = try Data(contentsOf: URL(fileURLWithPath: root + "/" + path))
                #expect(bytes == Array(file), "\(path): the chunks are not the file")
                #expect(SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined() == sha)
                let exported = try #require(received.rows[sha]?.last)
                #expect(received.rows[sha]?.count == 1)
                #expect(exported.row.path == path)
                #expect(exported.row.sha256 == sha)
                #expect(exported.site == Self.site && exported.camera == Self.camera)
                #expect(exported.row.site == Self.site && exported.row.camera == Self.camera)
                #expect(exported.chunks == count && exported.chunkBytes == 20000)
                #expect(exported.row.headers?["IMAGETYP"] != nil)
            }
        }

        @Test func everyFrameReachesTheStreamWholeAndNothingIsLostWhileNATSIsDown() async throws {
            let server = try await NATSServer()
            let (service, address) = try await start(server)
            defer {
                service.cleanup()
                server.cleanup()
            }
            try await take(3, total: 3, address)
            try await waitForExport(address, "caught up with 3 frames") {
                $0["backlog_frames"] as? Int == 0 && $0["sent_frames"] as? Int == 3 && $0["connected"] as? Bool == true
            }

            // NATS crashes: the camera and the catalog go on, the backlog grows.
            await server.kill()
            try await take(4, total: 7, address)
            let waiting = try await waitForExport(address, "counting 4 frames waiting") {
                $0["backlog_frames"] as? Int == 4 && $0["connected"] as? Bool == false
            }
            #expect((waiting["lag_seconds"] as? Double ?? 0) > 0)
            // /metrics has it too (from the catalog.export event, every second).
            let deadline = Date().addingTimeInterval(10)
            var backlogMetric: Double?
            while Date() < deadline, backlogMetric != 4 {
                let metrics = String(decoding: try await http(address, "GET", "/metrics").body, as: UTF8.self)
                backlogMetric = metrics.split(separator: "\n").first { $0.hasPrefix("aperture_export_backlog_frames ") }
                    .flatMap { Double($0.split(separator: " ").last ?? "") }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(backlogMetric == 4)

            // NATS returns on its store: everything waiting goes, oldest first, and nothing twice.
            try await server.start()
            let caughtUp = try await waitForExport(address, "caught up after the outage") {
                $0["backlog_frames"] as? Int == 0 && $0["sent_frames"] as? Int == 7
            }
            #expect((caughtUp["failures"] as? Int ?? 0) >= 0)
            let received = try await readStream(server, expecting: 7, durable: "check-outage")
            try await check(received, against: address, root: service.root + "/data", frames: 7)

            let health = try await Health.read(address)
            #expect(health.children.first { $0.name == "catalog" }?.restarts == 0, "\(health.pidsAndRestarts)")
        }

        @Test func aResendIsDroppedByTheServerAndPauseHoldsAcrossACatalogRestart() async throws {
            let server = try await NATSServer()
            let (service, address) = try await start(server)
            defer {
                service.cleanup()
                server.cleanup()
            }
            try await take(2, total: 2, address)
            let first = try await waitForExport(address, "caught up with 2 frames") {
                $0["backlog_frames"] as? Int == 0 && $0["sent_frames"] as? Int == 2
            }
            let connection = try NATSConnection(NATSOptions(url: server.url, name: "export-test-state"))
            defer { connection.close() }
            while !connection.isConnected { try await Task.sleep(for: .milliseconds(20)) }
            let stored = try await connection.jetStream().streamState(FrameExport.defaultStream).messages

            // The catalog loses its record of what was acknowledged (as when it is killed between
            // the server's acknowledgment and its own commit): it sends everything again, and the
            // server drops every message as a duplicate.
            let database = service.root + "/state/catalog.sqlite"
            let reset = try ServiceHarness.run(["python3", "-c", """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1], timeout=10)
                db.execute("UPDATE frame SET export_sha256 = NULL, export_revision = NULL")
                db.commit()
                """, database])
            #expect(reset.code == 0, "\(reset.output)")
            try await take(1, total: 3, address)  // a new frame wakes the exporter
            let again = try await waitForExport(address, "caught up after the reset") {
                $0["backlog_frames"] as? Int == 0 && $0["sent_frames"] as? Int == 5
            }
            #expect((again["duplicates"] as? Int ?? 0) > (first["duplicates"] as? Int ?? 0))
            let after = try await connection.jetStream().streamState(FrameExport.defaultStream).messages
            let perFrame = stored / 2
            #expect(after == stored + perFrame, "the stream holds \(after) messages: \(stored) for two frames, then one more frame")

            // Paused: a new frame waits; the pause survives a restart of the catalog.
            let paused = try await http(address, "POST", "/v1/export/pause")
            #expect(paused.status == 200, "\(paused.text)")
            #expect(paused.json["paused"] as? Bool == true)
            let restart = try await http(address, "POST", "/v1/supervisor/children/catalog/restart")
            #expect(restart.status == 200, "\(restart.text)")
            _ = try await Health.waitUntilHealthy(address)
            try await take(1, total: 4, address)
            let held = try await waitForExport(address, "paused with one frame waiting") {
                $0["paused"] as? Bool == true && $0["backlog_frames"] as? Int == 1
            }
            #expect(held["sent_frames"] as? Int == 0, "sent while paused: \(held)")
            let resumed = try await http(address, "POST", "/v1/export/resume")
            #expect(resumed.status == 200, "\(resumed.text)")
            try await waitForExport(address, "caught up after resume") {
                $0["backlog_frames"] as? Int == 0 && $0["sent_frames"] as? Int == 1 && $0["paused"] as? Bool == false
            }
            let received = try await readStream(server, expecting: 4, durable: "check-resend")
            try await check(received, against: address, root: service.root + "/data", frames: 4)
        }

        @Test func theDashboardsExportPanelShowsTheFrameSentAndItsButtonsPauseAndResume() async throws {
            let server = try await NATSServer()
            // Real time, as the dashboard's own test: the page follows the exposure's progress first.
            let (service, address) = try await start(server, ["APERTURE_CAMERA_TIME_SCALE": "1", "APERTURE_CAMERA_WIDTH": "512",
                                                              "APERTURE_CAMERA_HEIGHT": "512"])
            defer {
                service.cleanup()
                server.cleanup()
            }
            let summary = try await DashboardEndToEndTests().runBrowser("http://\(address)/", service: service, export: true)
            #expect((summary["export_sent"] as? [String: Any])?["waiting"] as? String == "0 frame(s), 0.0 MB", "\(summary)")
            let status = try await http(address, "GET", "/v1/export").json
            #expect(status["paused"] as? Bool == false)
            #expect((status["sent_frames"] as? Int ?? 0) >= 1)
        }

        @Test func withExportOffTheStatusSaysSoAndPauseIsRefusedNamingTheKey() async throws {
            let server = try await NATSServer()
            let (service, address) = try await start(server, enabled: false)
            defer {
                service.cleanup()
                server.cleanup()
            }
            let status = try await http(address, "GET", "/v1/export")
            #expect(status.status == 200)
            #expect(status.json["enabled"] as? Bool == false)
            let pause = try await http(address, "POST", "/v1/export/pause")
            #expect(pause.status == 409, "\(pause.text)")
            #expect(pause.errorCode == "not_configured")
            #expect(pause.errorField == "export.enabled")
        }
    }
}
