import ApertureProtocol
import Bus
import Foundation
import Testing

/// Observing plans through the real service: the sequencer in aperture-catalog drives the
/// camera over the bus, the frames carry PLAN/PLANSTEP/PLANIDX, and the catalog's rows say
/// what is done, across a killed camera and a killed supervisor.
@Suite(.serialized, .timeLimit(.minutes(8))) struct PlanEndToEndTests {
    static let fast = [
        "APERTURE_CAMERA_TIME_SCALE": "0.01",
        "APERTURE_CAMERA_WIDTH": "256",
        "APERTURE_CAMERA_HEIGHT": "256",
    ]

    func start(reusing previous: ServiceHarness? = nil, environment: [String: String] = [:]) async throws -> (ServiceHarness, String) {
        let service = try ServiceHarness("aperture", environment: Self.fast.merging(environment) { $1 }, reusing: previous)
        let address = try await service.gatewayAddress()
        _ = try await Health.waitUntilHealthy(address)
        return (service, address)
    }

    /// Three filters x three exposures of `time` simulated seconds.
    static func lrgb(_ name: String, time: Double, count: Int = 3) -> [String: Any] {
        ["name": name, "steps": ["B", "V", "r"].map { filter in
            ["exposure": ["type": "object", "time": time, "count": count, "filter": filter, "object": "M42"]]
        }]
    }

    func submit(_ address: String, _ plan: [String: Any]) async throws -> String {
        let reply = try await http(address, "POST", "/v1/plans", json: plan)
        #expect(reply.status == 201, "\(reply.text)")
        #expect(reply.header("Location")?.hasSuffix("plans/\(reply.json["id"] as? String ?? "?")") == true)
        return try #require(reply.json["id"] as? String, "\(reply.text)")
    }

    func plan(_ address: String, _ id: String) async throws -> [String: Any] {
        let reply = try await http(address, "GET", "/v1/plans/\(id)")
        #expect(reply.status == 200, "\(reply.text)")
        return reply.json
    }

    /// Waits until the plan is in `state`; returns its record.
    @discardableResult
    func waitFor(_ address: String, _ id: String, _ state: String, timeout: Double = 90) async throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        var last: [String: Any] = [:]
        while Date() < deadline {
            // The catalog may be restarting (503): asked again.
            if let reply = try? await http(address, "GET", "/v1/plans/\(id)"), reply.status == 200 { last = reply.json }
            if last["state"] as? String == state { return last }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("plan \(id) is not \(state) after \(timeout) s: \(last["state"] ?? "?") \(last["reason"] ?? "")")
        throw CancellationError()
    }

    /// The catalog's rows of a plan, in time order.
    func rows(_ address: String, _ id: String) async throws -> [[String: Any]] {
        let reply = try await http(address, "GET", "/v1/frames?plan=\(id)&limit=1000")
        #expect(reply.status == 200, "\(reply.text)")
        return reply.json["frames"] as? [[String: Any]] ?? []
    }

    /// Waits until the catalog holds at least `count` frames of the plan.
    func waitForRows(_ address: String, _ id: String, _ count: Int, timeout: Double = 60) async throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if try await rows(address, id).count >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("plan \(id) has fewer than \(count) frames after \(timeout) s")
    }

    /// The frame files on disk whose header says PLAN = `id` (astropy reads them).
    func filesOnDisk(_ service: ServiceHarness, _ id: String) async throws -> [String] {
        let files = try await ServiceHarness.runPython("catalog_files", [service.root + "/data"], in: service.root)
        #expect(files.status == 0, "\(files.errors)")
        let onDisk = try #require(try JSONSerialization.jsonObject(with: Data(files.output.utf8)) as? [String: [String: Any]])
        return onDisk.filter { $0.value["plan"] as? String == id }.keys.sorted()
    }

    /// The nine frames of an LRGB plan: B, V, r, three each, PLANSTEP and PLANIDX in order, and
    /// as many files on disk as rows (no frame taken twice).
    func expectNineInOrder(_ service: ServiceHarness, _ address: String, _ id: String) async throws {
        let frames = try await rows(address, id)
        #expect(frames.count == 9, "\(frames.map { "\($0["plan_step"] ?? "?")/\($0["plan_index"] ?? "?")" })")
        #expect(frames.compactMap { $0["filter"] as? String } == ["B", "B", "B", "V", "V", "V", "r", "r", "r"])
        #expect(frames.compactMap { $0["plan_step"] as? Int } == [1, 1, 1, 2, 2, 2, 3, 3, 3])
        #expect(frames.compactMap { $0["plan_index"] as? Int } == [1, 2, 3, 1, 2, 3, 1, 2, 3])
        #expect(Set(frames.compactMap { $0["path"] as? String }).count == 9)
        #expect(try await filesOnDisk(service, id).count == 9)
        let record = try await plan(address, id)
        #expect(record["frames_done"] as? Int == 9 && record["frames_total"] as? Int == 9)
        #expect((record["steps"] as? [[String: Any]])?.compactMap { $0["done"] as? Int } == [3, 3, 3])
    }

    @Test func aPlanOfThreeFiltersTimesThreeExposuresSavesExactlyNineFramesInOrder() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let id = try await submit(address, Self.lrgb("LRGB of M42", time: 2))
        let done = try await waitFor(address, id, "done")
        #expect(done["position"] == nil && done["finished"] is String && done["started"] is String)
        try await expectNineInOrder(service, address, id)
        // The header of a frame says which plan, step and index.
        let first = try #require(try await rows(address, id).first?["id"] as? Int)
        let headers = try await http(address, "GET", "/v1/frames/\(first)").json["headers"] as? [String: String] ?? [:]
        #expect(headers["PLAN"] == id && headers["PLANSTEP"] == "1" && headers["PLANIDX"] == "1" && headers["FILTER"] == "B")

        // The command line: a YAML plan with a repeat, submitted and waited for; the queue listed.
        let yaml = """
            name: two cycles
            steps:
              - repeat:
                  times: 2
                  steps:
                    - exposure: {type: object, time: 1, filter: g}
                    - exposure: {type: object, time: 1, filter: i, count: 2}
            """
        try yaml.write(toFile: service.root + "/cycles.yaml", atomically: true, encoding: .utf8)
        let submitted = try ServiceHarness.runCLI(["plan", "submit", service.root + "/cycles.yaml", "--wait",
                                                   "--runtime-dir", service.runtime.path])
        #expect(submitted.code == 0, "\(submitted.output)")
        let list = try ServiceHarness.runCLI(["plan", "list", "--json", "--runtime-dir", service.runtime.path])
        let plans = try #require(try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]], "\(list.output)")
        let cycles = try #require(plans.first { $0["name"] as? String == "two cycles" })
        #expect(cycles["state"] as? String == "done" && cycles["frames_done"] as? Int == 6)
        let steps = cycles["steps"] as? [[String: Any]] ?? []
        #expect(steps.compactMap { $0["pass"] as? [Int] } == [[1], [1], [2], [2]])
        let cycleRows = try await rows(address, try #require(cycles["id"] as? String))
        #expect(cycleRows.compactMap { $0["filter"] as? String } == ["g", "i", "i", "g", "i", "i"])

        let health = try await Health.read(address)
        #expect(health.children.allSatisfy { $0.restarts == 0 }, "\(health.pidsAndRestarts)")
    }

    /// SIGKILL: the camera dies; SIGSTOP: it hangs, and the supervisor finds it unresponsive
    /// (three missed pings), kills and restarts it.
    @Test(arguments: [SIGKILL, SIGSTOP])
    func aCameraKilledOrHungMidPlanStillEndsWithExactlyNineDistinctFrames(signal: Int32) async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let before = try await Health.read(address)
        let cameraPid = try #require(before.children.first { $0.name == "camera" }?.pid)
        // 40 simulated seconds: 0.4 s a frame at this time scale.
        let id = try await submit(address, Self.lrgb("killed camera", time: 40))
        try await waitForRows(address, id, 2)
        kill(cameraPid, signal)
        _ = try await waitFor(address, id, "done", timeout: 120)
        try await expectNineInOrder(service, address, id)
        let after = try await Health.read(address)
        let camera = try #require(after.children.first { $0.name == "camera" })
        #expect(camera.restarts == 1 && camera.pid != cameraPid, "\(after.pidsAndRestarts)")
        // Hung or not, the supervisor's SIGKILL (or ours) ended it.
        #expect(camera.last_exit == "killed by signal 9 (SIGKILL)", "\(String(describing: camera.last_exit))")
        #expect(after.children.filter { $0.name != "camera" }.allSatisfy { $0.restarts == 0 }, "\(after.pidsAndRestarts)")
    }

    /// The sequencer's own process killed while the camera runs one of its series: the new one
    /// follows that series to its end rather than asking for its frames again.
    @Test func theCatalogKilledMidSeriesFollowsTheRunningSeriesAndEndsWithNine() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let before = try await Health.read(address)
        let catalogPid = try #require(before.children.first { $0.name == "catalog" }?.pid)
        // 1 s a frame: the step's series outlives the catalog's restart.
        let id = try await submit(address, Self.lrgb("killed catalog", time: 100))
        try await waitForRows(address, id, 1)
        kill(catalogPid, SIGKILL)
        _ = try await waitFor(address, id, "done", timeout: 120)
        try await expectNineInOrder(service, address, id)
        #expect(service.output.contains("following its series"), "the restarted sequencer did not follow the running series")
        let after = try await Health.read(address)
        #expect(after.children.first { $0.name == "catalog" }?.restarts == 1, "\(after.pidsAndRestarts)")
        #expect(after.children.first { $0.name == "camera" }?.restarts == 0, "\(after.pidsAndRestarts)")
    }

    @Test func theSupervisorKilledMidPlanAndStartedAgainResumesTheRest() async throws {
        let (first, address) = try await start()
        var cleaned = false
        defer { if !cleaned { first.cleanup() } }
        let id = try await submit(address, Self.lrgb("killed service", time: 40))
        try await waitForRows(address, id, 2)
        kill(first.pid, SIGKILL)
        // Every child follows the supervisor down (its lifeline closes).
        let deadline = Date().addingTimeInterval(30)
        while !ServiceHarness.processes(mentioning: first.runtime.path).isEmpty, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(ServiceHarness.processes(mentioning: first.runtime.path).isEmpty, "children outlived the supervisor")
        let (second, again) = try await start(reusing: first)
        cleaned = true
        defer { second.cleanup() }
        _ = try await waitFor(again, id, "done", timeout: 120)
        try await expectNineInOrder(second, again, id)
    }

    @Test func pauseResumeReorderAndCancelAndAPausedHeadHoldsTheQueue() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let long = ["name": "long", "steps": [["exposure": ["type": "object", "time": 40, "count": 12, "filter": "V"]]]] as [String: Any]
        let a = try await submit(address, long)
        let b = try await submit(address, ["name": "b", "steps": [["exposure": ["type": "dark", "time": 1, "count": 2]]]])
        let c = try await submit(address, ["name": "c", "steps": [["exposure": ["type": "bias", "time": 0, "count": 2]]]])
        _ = try await waitFor(address, a, "running")
        // Reorder: c before b; the running plan keeps the head.
        let moved = try await http(address, "POST", "/v1/plans/\(c)/move", json: ["position": 0])
        #expect(moved.status == 200 && moved.json["position"] as? Int == 1, "\(moved.text)")
        let refused = try await http(address, "POST", "/v1/plans/\(a)/move", json: ["position": 2])
        #expect(refused.status == 409, "\(refused.text)")
        let queue = try await http(address, "GET", "/v1/plans?state=queued").json["plans"] as? [[String: Any]] ?? []
        #expect(queue.compactMap { $0["id"] as? String } == [c, b])

        // Pause: the running exposure is aborted, the camera idle; the queue waits behind it.
        try await waitForRows(address, a, 2)
        let paused = try await http(address, "POST", "/v1/plans/\(a)/pause")
        #expect(paused.status == 200 && paused.json["state"] as? String == "paused", "\(paused.text)")
        let camera = try await http(address, "GET", "/v1/camera")
        #expect(camera.json["state"] as? String == "idle", "\(camera.text)")
        let heldAtPause = try await rows(address, a).count
        #expect(heldAtPause < 12)
        for _ in 0..<10 {
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await plan(address, c)["state"] as? String == "queued")
        }
        // Resume: it goes on with the frames not yet saved.
        let resumed = try await http(address, "POST", "/v1/plans/\(a)/resume")
        #expect(resumed.status == 200, "\(resumed.text)")
        try await waitForRows(address, a, heldAtPause + 2)
        // Cancel: aborted, and nothing more is saved for it.
        let cancelled = try await http(address, "POST", "/v1/plans/\(a)/cancel")
        #expect(cancelled.status == 200 && cancelled.json["state"] as? String == "cancelled", "\(cancelled.text)")
        let heldAtCancel = try await rows(address, a).count
        #expect(heldAtCancel < 12)
        let cancelledAgain = try await http(address, "POST", "/v1/plans/\(a)/resume")
        #expect(cancelledAgain.status == 409, "\(cancelledAgain.text)")
        // Then c, then b.
        let doneC = try await waitFor(address, c, "done")
        let doneB = try await waitFor(address, b, "done")
        #expect((doneC["started"] as? String ?? "~") < (doneB["started"] as? String ?? ""))
        #expect(try await rows(address, a).count == heldAtCancel)
        let indexes = try await rows(address, a).compactMap { $0["plan_index"] as? Int }
        #expect(Set(indexes).count == indexes.count, "a frame of the paused plan was taken twice: \(indexes)")
        #expect(try await filesOnDisk(service, a).count == heldAtCancel)

        let health = try await Health.read(address)
        #expect(health.children.allSatisfy { $0.restarts == 0 }, "\(health.pidsAndRestarts)")
    }

    @Test func badPlansAreRefusedUpFrontNamingTheStepAndField() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        let exposure: [String: Any] = ["type": "object", "time": 1]
        let cases: [(String, String)] = [
            (#"{"name": "x", "steps": []}"#, "steps"),
            (#"{"name": "", "steps": [{"exposure": {"type": "object", "time": 1}}]}"#, "name"),
            (#"{"steps": [{"exposure": {"type": "object", "time": 1}}]}"#, "name"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1, "filter": "Q"}}]}"#, "steps[0].exposure.filter"),
            (#"{"name": "x", "steps": [{"wait": {"until": "2026-01-01T00:00Z"}}, {"exposure": {"type": "object", "time": -1}}]}"#,
             "steps[1].exposure.time"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1e400}}]}"#, "steps[0].exposure.time"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1, "bin_x": 99}}]}"#, "steps[0].exposure.bin_x"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1, "keywords": {"PLAN": "mine"}}}]}"#,
             "steps[0].exposure.keywords"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1, "mode": "preview"}}]}"#, "steps[0].exposure.mode"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1, "plan": {"id": "P1", "step": 1, "first": 1}}}]}"#,
             "steps[0].exposure.plan"),
            (#"{"name": "x", "steps": [{"wait": {"until": "tomorrow"}}]}"#, "steps[0].wait.until"),
            (#"{"name": "x", "steps": [{"wait": {}}]}"#, "steps[0].wait"),
            (#"{"name": "x", "steps": [{"wait": {"setpoint": true, "timout": 60}}]}"#, "steps[0].wait.timout"),
            (#"{"name": "x", "steps": [{"wait": {"setpoint": true, "tolerance": -1}}]}"#, "steps[0].wait.tolerance"),
            (#"{"name": "x", "steps": [{"wait": {"setpoint": true, "timeout": 1e9}}]}"#, "steps[0].wait.timeout"),
            (#"{"name": "x", "steps": [{"wait": {"sun_below": -12}}]}"#, "steps[0].wait.sun_below"),
            (#"{"name": "x", "steps": [{"repeat": {"times": 0, "steps": [{"exposure": {"type": "bias", "time": 0}}]}}]}"#,
             "steps[0].repeat.times"),
            (#"{"name": "x", "steps": [{"repeat": {"times": 10000, "steps": [{"repeat": {"times": 10000, "steps": [{"exposure": {"type": "bias", "time": 0}}]}}]}}]}"#,
             "steps[0].repeat.steps[0].repeat.times"),
            (#"{"name": "x", "steps": [{"repeat": {"times": 2, "steps": [{"exposure": {"type": "bias", "time": 0}}, {"exposure": {"type": "flat", "time": 1, "filter": "Z"}}]}}]}"#,
             "steps[0].repeat.steps[1].exposure.filter"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1}, "wait": {"until": "2026-01-01T00:00Z"}}]}"#, "steps[0]"),
            (#"{"name": "x", "steps": [{"expose": {"type": "object", "time": 1}}]}"#, "steps[0]"),
            (#"{"name": "x", "steps": [{"exposure": {"type": "object", "time": 1, "count": 100001}}]}"#, "steps[0].exposure.count"),
        ]
        for (body, field) in cases {
            let reply = try await http(address, "POST", "/v1/plans", body: Data(body.utf8))
            #expect(reply.status == 400 && reply.errorField == field, "\(body): \(reply.status) \(reply.text)")
            #expect(reply.text.contains(field), "the message names the field: \(reply.text)")
        }
        #expect((try await http(address, "GET", "/v1/plans").json["plans"] as? [Any])?.isEmpty == true)
        // The plan field is the sequencer's: a client's own exposure may not carry it.
        var tagged = exposure
        tagged["plan"] = ["id": "P1", "step": 1, "first": 1]
        let direct = try await http(address, "POST", "/v1/exposures", json: tagged)
        #expect(direct.status == 400 && direct.errorField == "plan", "\(direct.text)")
        var keyword = exposure
        keyword["keywords"] = ["PLANIDX": 3]
        let spoof = try await http(address, "POST", "/v1/exposures", json: keyword)
        #expect(spoof.status == 400 && spoof.errorField == "keywords", "\(spoof.text)")
        for (path, status) in [("/v1/plans/nope", 400), ("/v1/plans/P20260101-ZZZZ", 404), ("/v1/plans?state=sleeping", 400),
                               ("/v1/plans?limit=0", 400), ("/v1/plans?colour=red", 400)] {
            #expect(try await http(address, "GET", path).status == status, "\(path)")
        }
        #expect(try await http(address, "POST", "/v1/plans/P20260101-ZZZZ/pause").status == 404)
        let health = try await Health.read(address)
        #expect(health.children.allSatisfy { $0.restarts == 0 }, "\(health.pidsAndRestarts)")
    }

    @Test func aSetpointWaitHoldsTheFramesUntilTheSensorIsCold() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        // Cooler off: the wait runs out and says why.
        let cold = ["name": "dark at -5", "steps": [
            ["wait": ["setpoint": true, "tolerance": 0.5, "timeout": 1]],
            ["exposure": ["type": "dark", "time": 1]],
        ]] as [String: Any]
        let off = try await submit(address, cold)
        let failed = try await waitFor(address, off, "failed")
        #expect((failed["reason"] as? String)?.contains("cooler is off") == true, "\(failed)")
        #expect(try await rows(address, off).isEmpty)

        let cooling = try await http(address, "POST", "/v1/camera/cooling", json: ["setpoint": -5, "cooler": true])
        #expect(cooling.status == 200, "\(cooling.text)")
        var patient = cold
        patient["steps"] = [["wait": ["setpoint": true, "tolerance": 0.5, "timeout": 600]], ["exposure": ["type": "dark", "time": 1]]]
        let id = try await submit(address, patient)
        _ = try await waitFor(address, id, "done", timeout: 120)
        let frames = try await rows(address, id)
        #expect(frames.count == 1)
        let temperature = try #require(frames.first?["ccd_temp"] as? Double)
        #expect(abs(temperature - -5) <= 0.5, "CCD-TEMP \(temperature)")
        let record = try await plan(address, id)
        #expect((record["steps"] as? [[String: Any]])?.compactMap { $0["done"] as? Int } == [1, 1])
    }
}

extension PlanEndToEndTests {
    @Test func aCalibrationSetMatchesTheNightsObjectFrames() async throws {
        let (service, address) = try await start()
        defer { service.cleanup() }
        // Object frames of two exposure times, two filters and two binnings.
        for (time, filter, bin) in [(5.0, "V", 1), (10.0, "V", 1), (10.0, "r", 2)] {
            let reply = try await http(address, "POST", "/v1/exposures",
                                       json: ["type": "object", "time": time, "filter": filter, "bin_x": bin, "bin_y": bin])
            #expect(reply.status == 202, "\(reply.text)")
            let id = try #require(reply.json["id"] as? String)
            while try await http(address, "GET", "/v1/exposures/\(id)").json["status"] as? String == "running" {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        var night: String?
        for _ in 0..<500 where night == nil {
            let rows = try await http(address, "GET", "/v1/frames?imagetyp=object").json["frames"] as? [[String: Any]] ?? []
            if rows.count == 3 { night = rows[0]["night"] as? String } else { try await Task.sleep(for: .milliseconds(20)) }
        }
        let tonight = try #require(night)
        let reply = try await http(address, "POST", "/v1/calibration/sets",
                                   json: ["night": tonight, "biases": 2, "darks": 2, "flats": 1, "flat_time": 0.5])
        #expect(reply.status == 201, "\(reply.text)")
        let id = try #require(reply.json["id"] as? String)
        let steps = (reply.json["steps"] as? [[String: Any]] ?? []).compactMap { $0["exposure"] as? [String: Any] }
        let described = steps.map { step in
            "\(step["type"] ?? "?") \(step["time"] ?? "?") x\(step["count"] ?? "?") bin \(step["bin_x"] ?? 1) \(step["filter"] ?? "-")"
        }
        #expect(described == ["bias 0 x2 bin 1 -", "bias 0 x2 bin 2 -", "dark 5 x2 bin 1 -", "dark 10 x2 bin 1 -",
                              "dark 10 x2 bin 2 -", "flat 0.5 x1 bin 1 V", "flat 0.5 x1 bin 2 r"], "\(described)")
        _ = try await waitFor(address, id, "done")
        let frames = try await rows(address, id)
        #expect(frames.count == 12, "2 biases and 2 darks of each setting, 1 flat per filter")
        let longDarks = frames.filter { row in (row["imagetyp"] as? String) == "Dark Frame" && (row["exptime"] as? Double) == 10 }
        #expect(longDarks.count == 4)
        let flats = frames.filter { row in (row["imagetyp"] as? String) == "Flat Field" }
        let flatFilters: [String] = flats.compactMap { row in row["filter"] as? String }.sorted()
        #expect(flatFilters == ["V", "r"])

        // Bad requests name the field; a night without object frames is 404.
        for (body, status, field) in [([String: Any](), 400, "night"), (["night": tonight, "plan": id], 400, "night"),
                                      (["night": "yesterday"], 400, "night"), (["night": tonight, "darks": -1], 400, "darks"),
                                      (["night": tonight, "flat_time": 0], 400, "flat_time"),
                                      (["night": tonight, "biases": 0, "darks": 0, "flats": 0], 400, "biases"),
                                      (["night": "1999-01-01"], 404, nil)] as [([String: Any], Int, String?)] {
            let bad = try await http(address, "POST", "/v1/calibration/sets", json: body)
            #expect(bad.status == status && bad.errorField == field, "\(body): \(bad.text)")
        }
    }
}

extension PlanEndToEndTests {
    /// The sun waits' altitude against astropy's, at sites north and south, day and night, over a year.
    @Test func theSunsAltitudeAgreesWithAstropy() async throws {
        let directory = FileManager.default.temporaryDirectory.path + "/aperture-sun-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var cases: [[Double]] = []
        for (latitude, longitude) in [(47.6, -122.3), (-30.17, -70.8), (19.82, -155.47), (64.1, -21.9)] {
            for day in stride(from: 0.0, to: 365, by: 61) {
                for hour in [0.0, 5.5, 11, 17.25] {
                    cases.append([latitude, longitude, 1_767_225_600 + day * 86_400 + hour * 3_600])  // from 2026-01-01
                }
            }
        }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: cases), as: UTF8.self)
        let astropy = try await ServiceHarness.runPython("sun_altitudes", [text], in: directory)
        #expect(astropy.status == 0, "\(astropy.errors)")
        let expected = try #require(try JSONSerialization.jsonObject(with: Data(astropy.output.utf8)) as? [Double])
        #expect(expected.count == cases.count)
        var worst = 0.0
        for (index, item) in cases.enumerated() where index < expected.count {
            let ours = SkyGeometry.sunAltitude(latitude: item[0], longitude: item[1], at: Date(timeIntervalSince1970: item[2]))
            worst = max(worst, abs(ours - expected[index]))
        }
        // The Almanac's formulae are good to 0.01 degree; UT1 and nutation left out add a little.
        #expect(worst < 0.05, "largest difference from astropy: \(worst) degrees")
    }
}
