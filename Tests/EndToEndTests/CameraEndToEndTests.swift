import ApertureProtocol
import Bus
import CameraCore
import FITSStorage
import Foundation
import Testing
import ProcessTestSupport

/// The real aperture-camera (and the aperture command line) with the simulated camera.
@Suite(.serialized, .timeLimit(.minutes(5))) struct CameraEndToEndTests {
    /// A fast, small simulated camera: 1 simulated second lasts 20 ms.
    static let fastCamera = [
        "APERTURE_CAMERA_TIME_SCALE": "0.02",
        "APERTURE_CAMERA_WIDTH": "256",
        "APERTURE_CAMERA_HEIGHT": "256",
    ]

    /// Starts aperture-camera alone and waits until it answers and is connected.
    func startCamera(_ environment: [String: String] = fastCamera) async throws -> (ServiceHarness, RequestClient) {
        let camera = try ServiceHarness("aperture-camera", environment: environment)
        let client = try RequestClient(dialing: camera.runtime.endpoint(EndpointName.cameraControl))
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let ping = try? await client.call(Ping.self, timeout: .milliseconds(500)), ping.ready { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (camera, client)
    }

    func waitUntilFinished(_ client: RequestClient, _ id: String, timeout: Double = 60) async throws -> ExposureRecord {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let record = try await client.call(ExposureQueryCommand.self, .init(id: id))
            if record.status != .running { return record }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("exposure \(id) did not finish within \(timeout) s")
        throw CancellationError()
    }

    func fitsFiles(under root: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var files: [String] = []
        while let item = enumerator?.nextObject() as? String {
            if item.hasSuffix(".fits") || item.contains(".tmp") { files.append(root + "/" + item) }
        }
        return files.sorted()
    }

    func run(_ executable: String, _ arguments: [String]) throws -> (code: Int32, stdout: String, stderr: String) {
        let result = try runToExit(executable, arguments)
        return (result.status, result.stdout, result.stderr)
    }

    @Test func aSeriesOfThreeFromTheCommandLineLandsAsValidFITS() async throws {
        var environment = Self.fastCamera
        environment["APERTURE_CAMERA_TELESCOPE"] = "MRO 0.8 m"
        environment["APERTURE_CAMERA_OBSERVER"] = "Night crew"
        environment["APERTURE_SITE_LATITUDE"] = "46.9528"
        environment["APERTURE_SITE_LONGITUDE"] = "-120.7278"
        environment["APERTURE_SITE_ELEVATION"] = "1198"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }
        // SET-TEMP is written only while the cooler is on.
        _ = try await client.call(CoolCommand.self, .init(setpoint: -20))
        let cli = try run(ServiceHarness.buildDirectory + "/aperture", [
            "camera", "expose", "--type", "object", "--time", "2", "--count", "3", "--filter", "V",
            "--comment", "focus: 1234", "--object", "M42", "--keyword", "AIRMASS=1.25", "--wait",
            "--runtime-dir", camera.runtime.path])
        #expect(cli.code == 0, "aperture camera expose failed: \(cli.stderr)")
        let lines = cli.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4, "\(cli.stdout)")
        let paths = Array(lines.dropFirst())
        #expect(paths.map { URL(fileURLWithPath: $0).lastPathComponent } == ["image-0001.fits", "image-0002.fits", "image-0003.fits"])
        #expect(fitsFiles(under: camera.root + "/data").count == 3, "stray or missing files")

        for path in paths {
            let verify = try run("/usr/bin/fitsverify", [path])
            #expect(verify.stdout.contains("found 0 warning(s) and 0 error(s)"), "fitsverify \(path):\n\(verify.stdout)")
        }
        let file = try FITSFile.read(path: paths[2])
        #expect(file.width == 256 && file.height == 256)
        for keyword in ["DATE-OBS", "DATE-END", "MJD-OBS", "MJD-END", "TIMESYS", "EXPTIME", "DARKTIME", "IMAGETYP",
                        "CCD-TEMP", "SET-TEMP", "XBINNING", "YBINNING", "XORGSUBF", "YORGSUBF", "XPIXSZ", "YPIXSZ",
                        "INSTRUME", "DETECTOR", "TELESCOP", "OBSERVER", "OBJECT", "SITELAT", "SITELONG", "SITEELEV",
                        "FILTER", "GAIN", "EGAIN", "READOUTM", "FOCUS", "ROWORDER", "SWCREATE", "CHECKSUM", "DATASUM", "BZERO"] {
            #expect(file.header[keyword] != nil, "\(keyword) missing")
        }
        #expect(file.header["IMAGETYP"]?.contains("Light Frame") == true)
        #expect(file.header["FILTER"]?.contains("V") == true)
        #expect(file.header["OBJECT"]?.contains("M42") == true)
        #expect(file.header["FOCUS"].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } == 1234)
        #expect(file.header["AIRMASS"].flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } == 1.25)

        // The latest frame's pixels over the bus are the pixels of the last file.
        let latest = try await client.call(LatestFrameCommand.self, .init(pixels: true))
        #expect(latest.path == paths[2])
        let data = try #require(Data(base64Encoded: latest.pixels ?? ""))
        let pixels = data.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)).map { UInt16(littleEndian: $0) } }
        #expect(pixels == file.pixels)

        // astropy reads every keyword back and the checksums verify; its own time scale agrees with
        // the dates (DATE-OBS parses as UTC without a zone letter, MJD-OBS is its MJD, DATE-END is
        // EXPTIME later).
        let script = """
            import sys, json
            from astropy.io import fits
            from astropy.time import Time
            with fits.open(sys.argv[1], checksum=True) as hdul:
                hdul.verify('exception')
                h = hdul[0].header
                start = Time(h["DATE-OBS"], format="isot", scale=h["TIMESYS"].lower())
                end = Time(h["DATE-END"], format="isot", scale="utc")
                names = ["TIMESYS", "INSTRUME", "DETECTOR", "TELESCOP", "OBSERVER", "SITELAT", "SITELONG", "SITEELEV",
                         "XPIXSZ", "YPIXSZ", "CCD-TEMP", "SET-TEMP", "GAIN", "EGAIN", "READOUTM", "ROWORDER", "SWCREATE",
                         "AIRMASS"]
                print(json.dumps({"checksum": hdul[0].verify_checksum(), "datasum": hdul[0].verify_datasum(),
                                  "keys": [k for k in h.keys()], "imagetyp": h["IMAGETYP"], "exptime": h["EXPTIME"],
                                  "values": {k: h[k] for k in names},
                                  "comments": {k: h.comments[k] for k in h.keys() if k not in ("COMMENT", "AIRMASS")},
                                  "zone": h["DATE-OBS"][-1].isalpha(),
                                  "mjd_obs_error_s": abs(start.mjd - h["MJD-OBS"]) * 86400,
                                  "mjd_end_error_s": abs(end.mjd - h["MJD-END"]) * 86400,
                                  "duration": (end - start).sec,
                                  "sum": int(hdul[0].data.astype("int64").sum())}))
            """
        let astropy = try run("/usr/bin/env", ["python3", "-c", script, paths[2]])
        #expect(astropy.code == 0, "astropy: \(astropy.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(astropy.stdout.utf8)) as? [String: Any]
        #expect(parsed?["checksum"] as? Int == 1)
        #expect(parsed?["datasum"] as? Int == 1)
        #expect(parsed?["imagetyp"] as? String == "Light Frame")
        #expect(parsed?["exptime"] as? Double == 2)
        #expect(parsed?["zone"] as? Bool == false, "DATE-OBS ends in a zone letter")
        #expect((parsed?["mjd_obs_error_s"] as? Double).map { $0 < 0.002 } == true, "\(parsed?["mjd_obs_error_s"] ?? "none")")
        #expect((parsed?["mjd_end_error_s"] as? Double).map { $0 < 0.002 } == true, "\(parsed?["mjd_end_error_s"] ?? "none")")
        #expect((parsed?["duration"] as? Double).map { abs($0 - 2) < 0.002 } == true, "\(parsed?["duration"] ?? "none")")
        let values = parsed?["values"] as? [String: Any] ?? [:]
        #expect(values["TIMESYS"] as? String == "UTC")
        #expect(values["INSTRUME"] as? String == "Aperture camera" && values["DETECTOR"] as? String == "Aperture simulator")
        #expect(values["TELESCOP"] as? String == "MRO 0.8 m" && values["OBSERVER"] as? String == "Night crew")
        #expect(values["SITELAT"] as? Double == 46.9528 && values["SITELONG"] as? Double == -120.7278)
        #expect(values["SITEELEV"] as? Double == 1198)
        #expect(values["XPIXSZ"] as? Double == 13 && values["YPIXSZ"] as? Double == 13)
        #expect(values["SET-TEMP"] as? Double == -20 && values["CCD-TEMP"] is Double)
        #expect(values["GAIN"] as? String == "1x" && values["EGAIN"] as? Double == 1 && values["READOUTM"] as? String == "fast")
        #expect(values["ROWORDER"] as? String == "TOP-DOWN" && (values["SWCREATE"] as? String)?.hasPrefix("Aperture ") == true)
        // No pointing: the user's own AIRMASS is the one written.
        #expect(values["AIRMASS"] as? Double == 1.25)
        let comments = parsed?["comments"] as? [String: String] ?? [:]
        #expect(!comments.isEmpty && comments.filter { $0.value.isEmpty }.isEmpty, "keywords without a comment: \(comments.filter { $0.value.isEmpty }.keys.sorted())")
        #expect((parsed?["sum"] as? Int) == file.pixels.reduce(0) { $0 + Int($1) })
    }

    @Test func abortDuringALongExposureReturnsToIdleAndWritesNothing() async throws {
        var environment = Self.fastCamera
        environment["APERTURE_CAMERA_TIME_SCALE"] = "1"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }
        let events = try Subscriber(dialing: camera.runtime.endpoint(EndpointName.cameraEvents), topics: ["camera."], bufferSize: 256)
        defer { events.close() }
        // The subscriber dials in the background: one event (telemetry comes every second) shows
        // it is connected, so that the exposure's state events cannot go out before it listens.
        _ = try await events.next(timeout: .seconds(10))

        let record = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 60, count: 3))
        let deadline = Date().addingTimeInterval(10)
        while try await client.call(CameraStatusCommand.self).state != .exposing, Date() < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        // Temperature is still answered during the exposure.
        let temperature = try await client.call(TemperatureCommand.self, timeout: .seconds(2))
        #expect(temperature.celsius > -100)
        try await Task.sleep(for: .milliseconds(500))

        let reply = try await client.call(AbortCommand.self, timeout: .seconds(5))
        #expect(reply.aborted)
        #expect(reply.state == .idle)
        #expect(reply.milliseconds < 100, "abort took \(reply.milliseconds) ms")
        let finished = try await waitUntilFinished(client, record.id)
        #expect(finished.status == .aborted)
        #expect(finished.files.isEmpty)
        #expect(fitsFiles(under: camera.root + "/data").isEmpty)

        // The state events showed exposing, then aborting, then idle.
        var states: [CameraState] = []
        while let event = try? await events.next(timeout: .milliseconds(200)) {
            if event.topic == CameraTopic.state { states.append(try event.decode(CameraStateEvent.self).state) }
        }
        #expect(states.contains(.exposing))
        #expect(states.last == .idle)

        // The camera is usable at once.
        let next = try await client.call(ExposeCommand.self, ExposureRequest(type: .bias, time: 0))
        #expect(try await waitUntilFinished(client, next.id).status == .completed)
    }

    @Test func badRequestsAreRefusedWithCodesAndChangeNothing() async throws {
        var environment = Self.fastCamera
        environment["APERTURE_CAMERA_MAX_EXPOSURE"] = "600"
        environment["APERTURE_CAMERA_TIME_SCALE"] = "1"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }

        func refusal(_ request: ExposureRequest) async -> BusError? {
            do {
                _ = try await client.call(ExposeCommand.self, request)
                return nil
            } catch {
                return error
            }
        }
        let cases: [(ExposureRequest, String, String)] = [
            (ExposureRequest(type: .object, time: -1), "invalid_argument", "time"),
            (ExposureRequest(type: .dark, time: 0), "invalid_argument", "time"),
            (ExposureRequest(type: .object, time: 601), "invalid_argument", "600"),
            (ExposureRequest(type: .object, time: 1, subframe: Subframe(x: 200, y: 0, width: 100, height: 10)), "invalid_argument", "subframe"),
            (ExposureRequest(type: .object, time: 1, binX: 99), "invalid_argument", "bin_x"),
            (ExposureRequest(type: .object, time: 1, filter: "Q"), "invalid_argument", "filter"),
            (ExposureRequest(type: .object, time: 1, keywords: ["NAXIS1": .integer(3)]), "invalid_argument", "keywords"),
        ]
        for (request, code, field) in cases {
            let error = await refusal(request)
            #expect(error?.code.rawValue == code, "\(request)")
            #expect(error?.message.contains(field) == true, "\(error?.message ?? "no error") should name \(field)")
        }
        #expect(try await client.call(CameraStatusCommand.self).state == .idle)

        let setpoint = await #expect(throws: BusError.self) {
            _ = try await client.call(CoolCommand.self, .init(setpoint: -200))
        }
        #expect(setpoint?.code.rawValue == "invalid_argument")
        #expect(setpoint?.message.contains("-200") == true)

        let running = try await client.call(ExposeCommand.self, ExposureRequest(type: .dark, time: 30))
        let busy = await refusal(ExposureRequest(type: .bias, time: 0))
        #expect(busy?.code == .busy)
        let status = try await client.call(CameraStatusCommand.self)
        #expect(status.exposure?.id == running.id)
        _ = try await client.call(AbortCommand.self)
    }

    @Test func aFullDiskFailsThatExposureLeavesNoPartialFileAndTheCameraStaysUsable() async throws {
        let mountPoint = "/tmp/aperture-full-\(getpid())"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mountPoint) }
        let mount = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint])
        try #require(mount.code == 0, "this test needs to mount a 1 MiB tmpfs (root): \(mount.stderr)")
        defer { _ = try? run("/bin/umount", ["-l", mountPoint]) }

        var environment = Self.fastCamera
        environment["APERTURE_CAMERA_WIDTH"] = "512"
        environment["APERTURE_CAMERA_HEIGHT"] = "512"
        environment["APERTURE_DATA_ROOT"] = mountPoint + "/data"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }

        // Each 512x512 frame is 512 KiB: the first fits, the second cannot.
        let record = try await client.call(ExposeCommand.self, ExposureRequest(type: .flat, time: 1, count: 3))
        let finished = try await waitUntilFinished(client, record.id)
        #expect(finished.status == .failed)
        #expect(finished.error?.code == .storage)
        #expect(finished.error?.message.contains("No space left") == true, "\(finished.error?.message ?? "")")
        #expect(finished.files.count == 1)
        let files = fitsFiles(under: mountPoint + "/data")
        #expect(files.count == 1, "\(files)")
        #expect(files.allSatisfy { !$0.contains(".tmp") })
        let verify = try run("/usr/bin/fitsverify", [files[0]])
        #expect(verify.stdout.contains("found 0 warning(s) and 0 error(s)"))

        #expect(try await client.call(CameraStatusCommand.self).state == .idle)
        try FileManager.default.removeItem(atPath: files[0])
        let retry = try await client.call(ExposeCommand.self, ExposureRequest(type: .bias, time: 0))
        #expect(try await waitUntilFinished(client, retry.id).status == .completed)
    }

    @Test func anUnwritableDataFolderIsAStorageError() async throws {
        let blocker = "/tmp/aperture-datafile-\(getpid())"
        _ = FileManager.default.createFile(atPath: blocker, contents: Data("not a folder".utf8))
        defer { try? FileManager.default.removeItem(atPath: blocker) }
        var environment = Self.fastCamera
        environment["APERTURE_DATA_ROOT"] = blocker + "/data"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }
        let record = try await client.call(ExposeCommand.self, ExposureRequest(type: .bias, time: 0))
        let finished = try await waitUntilFinished(client, record.id)
        #expect(finished.status == .failed)
        #expect(finished.error?.code == .storage)
        #expect(finished.error?.message.contains(blocker) == true, "\(finished.error?.message ?? "")")
        #expect(try await client.call(CameraStatusCommand.self).state == .idle)
        #expect(try String(contentsOfFile: blocker, encoding: .utf8) == "not a folder")
    }

    @Test func telemetryComesEverySecondAndCoolingIsReportedDuringExposures() async throws {
        var environment = Self.fastCamera
        environment["APERTURE_CAMERA_TELEMETRY_INTERVAL"] = "0.5"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }
        let events = try Subscriber(dialing: camera.runtime.endpoint(EndpointName.cameraEvents), topics: ["camera.telemetry"], bufferSize: 64)
        defer { events.close() }
        let cooled = try await client.call(CoolCommand.self, .init(setpoint: -30))
        #expect(cooled.coolerOn)
        #expect(cooled.setpoint == -30)

        // Four readings, however long a loaded machine takes (every 0.5 s here): the interval
        // itself is not timed in a test.
        var readings: [TelemetryEvent] = []
        let deadline = Date().addingTimeInterval(60)
        while readings.count < 4, Date() < deadline {
            if let event = try? await events.next(timeout: .milliseconds(500)) {
                readings.append(try event.decode(TelemetryEvent.self))
            }
        }
        #expect(readings.count >= 4, "only \(readings.count) telemetry events in 60 s")
        #expect(readings.last?.temperature?.coolerOn == true)
        #expect(readings.last?.temperature?.setpoint == -30)
        // With time running 50x faster, the sensor has cooled visibly.
        let first = try #require(readings.first?.temperature?.celsius)
        let last = try #require(readings.last?.temperature?.celsius)
        #expect(last < first)
    }

    @Test func previewFramesArePublishedNotSavedUntilAborted() async throws {
        let (camera, client) = try await startCamera()
        defer { client.close(); camera.cleanup() }
        let events = try Subscriber(dialing: camera.runtime.endpoint(EndpointName.cameraEvents), topics: ["camera.frame"], bufferSize: 64)
        defer { events.close() }
        try await Task.sleep(for: .milliseconds(200))
        let record = try await client.call(ExposeCommand.self, ExposureRequest(type: .object, time: 1, mode: .preview))
        var notices: [FrameNotice] = []
        let deadline = Date().addingTimeInterval(20)
        while notices.count < 3, Date() < deadline {
            if let event = try? await events.next(timeout: .seconds(1)) { notices.append(try event.decode(FrameNotice.self)) }
        }
        #expect(notices.count >= 3)
        #expect(notices.allSatisfy { $0.preview && $0.path == nil && $0.exposureId == record.id })
        let latest = try await client.call(LatestFrameCommand.self, .init(pixels: false))
        #expect(latest.preview)
        #expect(latest.width == 256)
        _ = try await client.call(AbortCommand.self)
        let finished = try await waitUntilFinished(client, record.id)
        #expect(finished.status == .aborted)
        #expect(finished.framesDone >= 3)
        #expect(fitsFiles(under: camera.root + "/data").isEmpty)
    }

    @Test func progressAndFrameEventsFollowASeries() async throws {
        let (camera, client) = try await startCamera()
        defer { client.close(); camera.cleanup() }
        let events = try Subscriber(dialing: camera.runtime.endpoint(EndpointName.cameraEvents), topics: ["camera."], bufferSize: 1024)
        defer { events.close() }
        try await Task.sleep(for: .milliseconds(200))
        // 30 simulated seconds per frame last 0.6 s: progress events come about every 250 ms.
        let record = try await client.call(ExposeCommand.self, ExposureRequest(type: .dark, time: 30, count: 2))
        var progress: [ExposureProgressEvent] = []
        var frames: [FrameNotice] = []
        var finished: ExposureRecord?
        let deadline = Date().addingTimeInterval(30)
        while finished == nil, Date() < deadline {
            guard let event = try? await events.next(timeout: .seconds(1)) else { continue }
            switch event.topic {
            case CameraTopic.progress: progress.append(try event.decode(ExposureProgressEvent.self))
            case CameraTopic.frame: frames.append(try event.decode(FrameNotice.self))
            case CameraTopic.exposure: finished = try event.decode(ExposureRecord.self)
            default: break
            }
        }
        #expect(finished?.id == record.id)
        #expect(finished?.status == .completed)
        #expect(frames.map(\.frame) == [1, 2])
        #expect(frames.allSatisfy { $0.path != nil && $0.bytes > 256 * 256 * 2 })
        #expect(progress.contains { $0.frame == 1 && $0.percent > 0 && $0.percent < 100 }, "\(progress.map(\.percent))")
        #expect(progress.contains { $0.frame == 2 && $0.percent == 100 })
        #expect(events.dropped == 0)
    }

    @Test func shutdownWarmsTheSensorBeforeReleasingTheCamera() async throws {
        var environment = Self.fastCamera
        environment["APERTURE_CAMERA_TIME_SCALE"] = "0.01"
        let (camera, client) = try await startCamera(environment)
        defer { client.close(); camera.cleanup() }
        _ = try await client.call(CoolCommand.self, .init(setpoint: -50))
        let deadline = Date().addingTimeInterval(20)
        var temperature = try await client.call(TemperatureCommand.self)
        while temperature.celsius > -40, Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
            temperature = try await client.call(TemperatureCommand.self)
        }
        #expect(temperature.celsius <= -40, "the sensor did not cool: \(temperature)")

        _ = try await client.call(ShutdownCommand.self, timeout: .seconds(60))
        let status = try await client.call(CameraStatusCommand.self)
        #expect(!status.connected)
        #expect(status.state == .error)
        #expect(camera.output.contains("warming the sensor"))
        let released = camera.output.split(separator: "\n").last { $0.contains("camera released at") }
        let celsius = released.flatMap { line in
            Double(line.split(separator: " ").drop { $0 != "at" }.dropFirst().first ?? "")
        }
        #expect((celsius ?? -100) >= -10, "released at \(released ?? "?")")
        let refused = await #expect(throws: BusError.self) {
            _ = try await client.call(ExposeCommand.self, ExposureRequest(type: .bias, time: 0))
        }
        #expect(refused?.code.rawValue == "not_connected")
        _ = try await client.call(InitializeCommand.self)
        #expect(try await client.call(CameraStatusCommand.self).connected)
    }
}
