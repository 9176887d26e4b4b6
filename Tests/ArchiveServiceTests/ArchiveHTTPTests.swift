import ApertureProtocol
import ArchiveService
import ArchiveTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The archive's HTTP API (the router, in process) over frames ingested into a real PostgreSQL:
/// the filters across sites and cameras, refusals naming the parameter, CSV, the file bit-exact.
@Suite(.timeLimit(.minutes(5))) struct ArchiveHTTPTests {
    /// Three frames from two sites: north/cam1 (two nights), south/cam1.
    static func ingestSample(_ archive: TestArchive) async -> [ExportedFrame] {
        let frames = [
            ExportedFrame(site: "north", camera: "cam1", path: "20261205/image-0001.fits", seed: 1) { $0.fwhm = 2.0 },
            ExportedFrame(site: "north", camera: "cam1", path: "20261206/image-0002.fits", bytes: 3100, seed: 2) {
                $0.night = "2026-12-06"
                $0.filter = "R"
            },
            ExportedFrame(site: "south", camera: "cam1", path: "20261205/image-0001.fits", bytes: 1800, seed: 3) { $0.fwhm = 1.5 },
        ]
        for frame in frames { await archive.feed(frame.messages) }
        return frames
    }

    static func json(_ buffer: ByteBuffer) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer.readableBytesView))) as? [String: Any] ?? [:]
    }

    @Test func framesAreQueriedAcrossSitesAndCamerasWithTheCameraHostsRules() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let frames = await Self.ingestSample(archive)
        #expect(frames.allSatisfy { $0.row.outcome == .ack })
        let app = Application(router: archive.parts.router())
        try await app.test(.router) { client in
            func paths(_ query: String) async throws -> [String] {
                try await client.execute(uri: "/v1/frames" + query, method: .get) { response in
                    #expect(response.status == .ok, "\(query): \(String(buffer: response.body))")
                    return (Self.json(response.body)["frames"] as? [[String: Any]] ?? []).map {
                        "\($0["site"] ?? "")/\($0["camera"] ?? "")/\($0["path"] ?? "")"
                    }
                }
            }
            #expect(try await paths("").count == 3)
            #expect(try await paths("?site=south") == ["south/cam1/20261205/image-0001.fits"])
            #expect(try await paths("?site=north&camera=cam1&night=2026-12-06") == ["north/cam1/20261206/image-0002.fits"])
            #expect(try await paths("?camera=cam2").isEmpty)
            #expect(try await paths("?filter=r") == ["north/cam1/20261206/image-0002.fits"])
            #expect(try await paths("?sort=fwhm&limit=2") == ["south/cam1/20261205/image-0001.fits", "north/cam1/20261205/image-0001.fits"])

            // Pages: two, then the rest, following `next`.
            let first = try await client.execute(uri: "/v1/frames?limit=2", method: .get) { Self.json($0.body) }
            let next = try #require(first["next"] as? String)
            let rest = try await paths("?limit=2&cursor=" + next)
            #expect(rest.count == 1)

            // Refusals name the parameter, with the camera hosts' words.
            for (query, field) in [("?site=no/rth", "site"), ("?camera=", "camera"), ("?night=2026-13-01", "night"),
                                   ("?limit=0", "limit"), ("?colour=red", "colour"), ("?sort=-fwhm&cursor=" + next, "cursor"),
                                   ("?exptime_min=nan", "exptime_min")] {
                try await client.execute(uri: "/v1/frames" + query, method: .get) { response in
                    #expect(response.status == .badRequest, "\(query)")
                    let error = Self.json(response.body)["error"] as? [String: Any] ?? [:]
                    #expect(error["code"] as? String == "invalid_argument", "\(query): \(error)")
                    #expect(error["field"] as? String == field, "\(query): \(error)")
                }
            }
            try await client.execute(uri: "/v1/frames?site=no/rth", method: .get) { response in
                let message = (Self.json(response.body)["error"] as? [String: Any])?["message"] as? String ?? ""
                #expect(message.contains("'no/rth'") && message.contains(FacilityName.rule), "\(message)")
            }
        }
    }

    @Test func csvOneFrameItsFileAndTheSummary() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        let frames = await Self.ingestSample(archive)
        let app = Application(router: archive.parts.router())
        try await app.test(.router) { client in
            let csv = try await client.execute(uri: "/v1/frames?site=north&sort=date_obs", method: .get,
                                               headers: [.accept: "text/csv"]) { response in
                #expect(response.headers[.contentType] == "text/csv; charset=utf-8")
                return String(buffer: response.body)
            }
            let lines = csv.split(separator: "\r\n").map(String.init)
            #expect(lines.first == FrameRow.csvLine(FrameRow.csvColumns))
            #expect(lines.count == 3)
            #expect(lines.dropFirst().allSatisfy { $0.hasSuffix(",north,cam1") }, "\(lines)")

            let page = try await client.execute(uri: "/v1/frames?site=south", method: .get) { Self.json($0.body) }
            let id = try #require((page["frames"] as? [[String: Any]])?.first?["id"] as? Int)
            try await client.execute(uri: "/v1/frames/\(id)", method: .get) { response in
                let row = Self.json(response.body)
                #expect(row["sha256"] as? String == frames[2].sha256)
                #expect((row["headers"] as? [String: String])?["SITE"] == "south")
            }
            try await client.execute(uri: "/v1/frames/\(id)/file", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "application/fits")
                #expect(Array(response.body.readableBytesView) == frames[2].file)
            }
            try await client.execute(uri: "/v1/frames/999999", method: .get) { response in
                #expect(response.status == .notFound)
                #expect((Self.json(response.body)["error"] as? [String: Any])?["field"] as? String == "id")
            }
            try await client.execute(uri: "/v1/frames/abc", method: .get) { response in
                #expect(response.status == .badRequest)
            }
            try await client.execute(uri: "/v1/frames/summary?site=north", method: .get) { response in
                let summary = Self.json(response.body)
                #expect(summary["frames"] as? Int == 2)
                #expect((summary["nights"] as? [[String: Any]])?.map { $0["night"] as? String } == ["2026-12-06", "2026-12-05"])
            }
        }
    }

    @Test func camerasProblemsMetricsAndTheDashboard() async throws {
        let archive = try await TestArchive.start()
        defer { archive.stop() }
        _ = await Self.ingestSample(archive)
        func body(_ status: LiveStatus) -> String { String(decoding: try! JSONEncoder().encode(status), as: UTF8.self) }
        var state = LiveStatus(site: "north", camera: "cam1", time: "2026-12-06T01:00:00.000")
        state.state = "exposing"
        try await archive.parts.store.cameraStatus(site: "north", camera: "cam1", kind: "state", body: body(state))
        var export = LiveStatus(site: "north", camera: "cam1", time: "2026-12-06T01:00:01.000")
        export.export = ExportStatus(enabled: true, paused: false, stream: "APERTURE_FRAMES")
        export.export?.backlogFrames = 3
        export.export?.lagSeconds = 1.5
        try await archive.parts.store.cameraStatus(site: "north", camera: "cam1", kind: "export", body: body(export))
        var telemetry = LiveStatus(site: "north", camera: "cam1", time: "2026-12-06T01:00:02.000")
        telemetry.state = "idle"
        telemetry.temperature = TemperatureStatus(celsius: -20.5, setpoint: -20, coolerOn: true, state: .stabilized, coolerPower: nil)
        try await archive.parts.store.cameraStatus(site: "north", camera: "cam1", kind: "telemetry", body: body(telemetry))
        let corrupt = ExportedFrame(site: "south", camera: "cam2", seed: 4)
        await archive.feed([TestMessage(headers: corrupt.chunks[0].headers, data: corrupt.chunks[0].data.map { ~$0 })]
                           + corrupt.chunks.dropFirst() + [corrupt.row])
        let app = Application(router: archive.parts.router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/cameras", method: .get) { response in
                let cameras = Self.json(response.body)["cameras"] as? [[String: Any]] ?? []
                #expect(cameras.map { "\($0["site"] ?? "")/\($0["camera"] ?? "")" } == ["north/cam1", "south/cam1"])
                let north = cameras.first ?? [:]
                #expect(north["state"] as? String == "idle")
                #expect(north["export_backlog"] as? Int == 3)
                #expect(north["export_lag"] as? Double == 1.5)
                #expect(north["frames"] as? Int == 2)
                #expect(north["temperature"] as? Double == -20.5)
                #expect(north["last_frame"] as? String == "20261206/image-0002.fits")
            }
            try await client.execute(uri: "/v1/problems?kind=hash_mismatch", method: .get) { response in
                let problems = Self.json(response.body)["problems"] as? [[String: Any]] ?? []
                #expect(problems.count == 1)
                #expect(problems.first?["camera"] as? String == "cam2")
            }
            try await client.execute(uri: "/v1/problems?kind=lost", method: .get) { response in
                #expect(response.status == .badRequest)
                #expect((Self.json(response.body)["error"] as? [String: Any])?["field"] as? String == "kind")
            }
            try await client.execute(uri: "/metrics", method: .get) { response in
                let text = String(buffer: response.body)
                #expect(text.contains("aperture_archive_frames 3\n"))
                #expect(text.contains("aperture_archive_bytes \(2500 + 3100 + 1800)\n"))
                #expect(text.contains("aperture_archive_problems{kind=\"hash_mismatch\"} 1\n"))
            }
            // /healthz reads the database check's last answer (the archive's start-up service asks
            // every 2 s; not running here): none yet is 503 degraded, one just now is ok.
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.json(response.body)["status"] as? String == "degraded")
            }
            archive.parts.monitor.databaseAnswered()
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(Self.json(response.body)["database"] as? Bool == true)
            }
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: response.body).contains("<script src=\"/archive.js\">"))
            }
            try await client.execute(uri: "/archive.js", method: .get) { response in
                #expect(String(buffer: response.body).contains("/v1/cameras"))
            }
        }
    }
}
