import ApertureProtocol
import Bus
import Foundation
import Testing

/// The frame catalog through the real service: aperture-catalog follows the camera's and the
/// processor's events into SQLite, and the gateway and the command line query it.
@Suite(.serialized, .timeLimit(.minutes(6))) struct CatalogEndToEndTests {
    static let fast = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "256",
        "APERTURE_CAMERA_HEIGHT": "256",
    ]

    /// Starts the service and waits until every child is healthy.
    func start() async throws -> (ServiceHarness, String) {
        let service = try ServiceHarness("aperture", environment: Self.fast)
        let address = try await service.gatewayAddress()
        _ = try await Health.waitUntilHealthy(address)
        return (service, address)
    }

    /// Starts an exposure through /v1; returns its id.
    func expose(_ address: String, _ request: [String: Any]) async throws -> String {
        let reply = try await http(address, "POST", "/v1/exposures", json: request)
        #expect(reply.status == 202, "\(reply.text)")
        return try #require(reply.json["id"] as? String)
    }

    /// Waits until an exposure has ended.
    func waitForEnd(_ address: String, _ id: String, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await http(address, "GET", "/v1/exposures/\(id)").json["status"] as? String != "running" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("exposure \(id) did not end within \(timeout) s")
    }

    /// Every row the query selects, following `next` a page of `limit` at a time.
    func fetchRows(_ address: String, _ query: String = "", limit: Int = 1000) async throws -> [[String: Any]] {
        var rows: [[String: Any]] = []
        var cursor: String?
        repeat {
            var path = "/v1/frames?limit=\(limit)" + (query.isEmpty ? "" : "&" + query)
            if let cursor { path += "&cursor=" + cursor }
            let reply = try await http(address, "GET", path)
            #expect(reply.status == 200, "\(path): \(reply.text)")
            rows += reply.json["frames"] as? [[String: Any]] ?? []
            cursor = reply.json["next"] as? String
        } while cursor != nil
        return rows
    }

    /// Waits until the catalog holds `count` rows matching `query`.
    func waitForRows(_ address: String, _ count: Int, _ query: String = "", timeout: Double = 30) async throws -> [[String: Any]] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [[String: Any]] = []
        while Date() < deadline {
            last = try await fetchRows(address, query)
            if last.count >= count { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the catalog has \(last.count) row(s) for '\(query)', not \(count), after \(timeout) s")
        return last
    }

    @Test func aSeriesIsCataloguedWithTheFilesOwnHeadersAndQualityAndEveryQueryFormWorks() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let configure = try await http(address, "PUT", "/v1/processor/configuration", json: ["focus": true])
        #expect(configure.status == 200, "\(configure.text)")
        let lights = try await expose(address, ["type": "object", "time": 2, "count": 5, "filter": "V", "object": "M42 Orion"])
        try await waitForEnd(address, lights)
        let biases = try await expose(address, ["type": "bias", "time": 0, "count": 3])
        try await waitForEnd(address, biases)

        let rows = try await waitForRows(address, 8)
        #expect(rows.count == 8)
        // Each row against the file as astropy and hashlib read it.
        let files = try await ServiceHarness.runPython("catalog_files", [service.root + "/data"], in: service.root)
        #expect(files.status == 0, "\(files.errors)")
        let onDisk = try #require(try JSONSerialization.jsonObject(with: Data(files.output.utf8)) as? [String: [String: Any]])
        #expect(Set(rows.compactMap { $0["path"] as? String }) == Set(onDisk.keys))
        for row in rows {
            let path = try #require(row["path"] as? String)
            let file = try #require(onDisk[path])
            #expect(row["sha256"] as? String == file["sha256"] as? String, "\(path)")
            #expect(row["bytes"] as? Int == file["bytes"] as? Int)
            #expect((row["date_obs"] as? String).map { $0.hasPrefix((file["date_obs"] as? String ?? "-").prefix(19)) } == true)
            for key in ["exptime", "ccd_temp", "set_temp"] {
                #expect(row[key] as? Double == file[key] as? Double, "\(path) \(key)")
            }
            for key in ["imagetyp", "filter", "object", "exposure", "gain", "readout_mode", "site", "camera"] {
                // An empty card is no value: the catalog has null.
                let written = (file[key] as? String).flatMap { $0.isEmpty ? nil : $0 }
                #expect(row[key] as? String == written, "\(path) \(key)")
            }
            for key in ["frame", "xbinning", "width", "height"] {
                #expect(row[key] as? Int == file[key] as? Int, "\(path) \(key)")
            }
            #expect(row["missing"] as? Bool == false)
            // The default identity: site local, camera camera.
            #expect(row["site"] as? String == "local" && row["camera"] as? String == "camera", "\(path)")
        }
        // The processor's figures arrive on the light frames (stars on the simulated sky).
        let measured = try await waitForRows(address, 5, "exposure=\(lights)&fwhm_max=1000")
        #expect(measured.allSatisfy { ($0["nstars"] as? Int ?? 0) > 0 && ($0["median"] as? Double ?? 0) > 0 })

        // Filters, through the API.
        #expect(try await fetchRows(address, "imagetyp=bias").count == 3)
        #expect(try await fetchRows(address, "imagetyp=object&filter=v&object=orion").count == 5)
        #expect(try await fetchRows(address, "exptime_min=1&exptime_max=3").count == 5)
        #expect(try await fetchRows(address, "exposure=\(biases)", limit: 1).count == 3)
        let newest = try await http(address, "GET", "/v1/frames?sort=-date_obs&limit=2")
        let newestRows = newest.json["frames"] as? [[String: Any]] ?? []
        #expect(newestRows.map { $0["exposure"] as? String } == [biases, biases])
        #expect(newest.json["next"] is String)

        // Bad filters: 400 naming the parameter, and the catalog is still up.
        for (query, field) in [("exptime_min=abc", "exptime_min"), ("limit=5000", "limit"), ("start=tomorrow", "start"),
                               ("sort=size", "sort"), ("cursor=zzz", "cursor"), ("colour=red", "colour"),
                               ("camera=north.2", "camera"), ("site=", "site")] {
            let reply = try await http(address, "GET", "/v1/frames?" + query)
            #expect(reply.status == 400 && reply.errorField == field, "\(query): \(reply.status) \(reply.text)")
        }
        #expect(try await http(address, "GET", "/v1/frames/0").status == 400)
        #expect(try await http(address, "GET", "/v1/frames/999999").status == 404)

        // One row with all its headers, and its file.
        let first = rows[0]
        let id = try #require(first["id"] as? Int)
        let one = try await http(address, "GET", "/v1/frames/\(id)")
        let headers = one.json["headers"] as? [String: String] ?? [:]
        #expect(headers["EXPID"] == lights && headers["IMAGETYP"] == "Light Frame" && headers["FILTER"] == "V")
        let download = try await http(address, "GET", "/v1/frames/\(id)/file")
        #expect(download.status == 200 && download.body.count == first["bytes"] as? Int)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: service.root + "/data/" + (first["path"] as? String ?? "")))
        #expect(download.body == bytes)

        // CSV: the same rows.
        let csv = try await http(address, "GET", "/v1/frames?imagetyp=object", headers: ["Accept": "text/csv"])
        #expect(csv.header("Content-Type")?.hasPrefix("text/csv") == true)
        let lines = csv.text.split(separator: "\r\n").map(String.init)
        #expect(lines.first?.hasPrefix("id,path,bytes,sha256,night,date_obs") == true)
        #expect(lines.count == 6)
        #expect(lines.dropFirst().allSatisfy { $0.contains(",V,M42 Orion,\(lights),") })

        // The summary: frames and exposure per night, filter and image type.
        let summary = try await http(address, "GET", "/v1/frames/summary").json
        #expect(summary["frames"] as? Int == 8 && summary["exposure"] as? Double == 10)
        let groups = (summary["nights"] as? [[String: Any]])?.first?["groups"] as? [[String: Any]] ?? []
        #expect(groups.contains { $0["filter"] as? String == "V" && $0["imagetyp"] as? String == "Light Frame" && $0["frames"] as? Int == 5 })

        // The command line, with the same filters.
        let cli = try ServiceHarness.runCLI(["catalog", "query", "--runtime-dir", service.runtime.path,
                                             "--imagetyp", "bias", "--format", "json"])
        #expect(cli.code == 0, "\(cli.output)")
        #expect(cli.output.split(separator: "\n").count == 3)
        let bad = try ServiceHarness.runCLI(["catalog", "query", "--runtime-dir", service.runtime.path, "--exptime-min", "x"])
        #expect(bad.code != 0 && bad.output.contains("--exptime-min"), "\(bad.output)")
        let health = try await Health.read(address)
        #expect(health.children.allSatisfy { $0.restarts == 0 }, "\(health.pidsAndRestarts)")
    }

    @Test func aKilledCatalogCatchesUpTheCursorHoldsAndRebuildAndVerifyTellTheTruth() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let before = try await Health.read(address)
        let catalogPid = try #require(before.children.first { $0.name == "catalog" }?.pid)

        // A series of 30; the catalog is killed while it runs, and a client pages through it.
        let id = try await expose(address, ["type": "dark", "time": 5, "count": 30])
        _ = try await waitForRows(address, 5, "exposure=\(id)")
        kill(catalogPid, SIGKILL)
        var paged: [String] = []
        var cursor: String?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            var path = "/v1/frames?limit=4&exposure=\(id)"
            if let cursor { path += "&cursor=" + cursor }
            guard let reply = try? await http(address, "GET", path), reply.status == 200 else {
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            // A client following the series: `next` is after the page's last row; an empty page
            // means nothing newer yet.
            let page = (reply.json["frames"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
            paged += page
            if let next = reply.json["next"] as? String { cursor = next }
            if page.isEmpty {
                if paged.count >= 30 { break }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try await waitForEnd(address, id)
        let rows = try await waitForRows(address, 30, "exposure=\(id)")
        #expect(rows.count == 30)
        #expect(rows.compactMap { $0["frame"] as? Int } == Array(1...30))
        // The pages never repeat a row and keep date order. Frames saved while the catalog was
        // down come back through its start-up reconcile, possibly after the client has paged past
        // their dates (on a loaded machine the new catalog's events can be written first): a
        // date-ordered cursor cannot show a row added behind it. The unit test
        // theCursorNeitherRepeatsNorSkipsWhileRowsAreAdded checks that nothing is skipped when
        // rows come in order.
        let all = rows.compactMap { $0["path"] as? String }
        #expect(Set(paged).count == paged.count, "pages repeated rows: \(paged)")
        #expect(paged == all.filter { Set(paged).contains($0) }, "pages out of order: \(paged)")
        #expect(paged.count >= 5, "the client paged through the series: \(paged)")
        let after = try await Health.read(address)
        let catalog = try #require(after.children.first { $0.name == "catalog" })
        #expect(catalog.restarts == 1 && catalog.pid != catalogPid)
        #expect(after.children.filter { $0.name != "catalog" }.allSatisfy { $0.restarts == 0 })

        // Rebuild from the files gives the same rows.
        let live = try await fetchRows(address)
        let rebuild = try ServiceHarness.runCLI(["catalog", "rebuild", "--runtime-dir", service.runtime.path])
        #expect(rebuild.code == 0, "\(rebuild.output)")
        #expect(rebuild.output.contains("\"updated\" : 30"), "\(rebuild.output)")
        let rebuilt = try await fetchRows(address)
        #expect(rebuilt.count == live.count)
        func canonical(_ row: [String: Any]) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self)
        }
        for (a, b) in zip(live, rebuilt) {
            #expect(try canonical(a) == canonical(b), "changed by the rebuild")
        }

        // A file altered on disk is reported by verify; a deleted one becomes missing.
        let altered = service.root + "/data/" + (rows[10]["path"] as? String ?? "")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: altered))
        try handle.seek(toOffset: 2880 * 2)
        try handle.write(contentsOf: Data([1, 2, 3]))
        try handle.close()
        let verify = try ServiceHarness.runCLI(["catalog", "verify", "--runtime-dir", service.runtime.path])
        #expect(verify.code == 1 && verify.output.contains("CHANGED \(rows[10]["path"] as? String ?? "?")"), "\(verify.output)")
        #expect(verify.output.split(separator: "\n").filter { $0.hasPrefix("CHANGED") }.count == 1)
        let deleted = rows[20]["path"] as? String ?? ""
        try FileManager.default.removeItem(atPath: service.root + "/data/" + deleted)
        let reconcile = try ServiceHarness.runCLI(["catalog", "reconcile", "--runtime-dir", service.runtime.path])
        #expect(reconcile.code == 0 && reconcile.output.contains("\"missing\" : 1"), "\(reconcile.output)")
        let missing = try await fetchRows(address, "missing=true")
        #expect(missing.compactMap { $0["path"] as? String } == [deleted])
        let file = try await http(address, "GET", "/v1/frames/\(rows[20]["id"] as? Int ?? 0)/file")
        #expect(file.status == 404)
    }
}
