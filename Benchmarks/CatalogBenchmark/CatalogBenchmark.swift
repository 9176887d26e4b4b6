// The frame catalog's figures (issue 14, docs/performance.md).
//
//   swift build -c release && .build/release/aperture-bench-catalog [--frames 300] [--rows 100000]
//
// 1. Live: starts the release aperture-camera (simulated, --width x --height) alone and takes a
//    series of bias frames as fast as it saves them: its save rate. Then starts aperture-catalog
//    beside it and takes the same series again: the camera's save rate with the catalog, the
//    catalog's rows per second, and the delay from each frame's `camera.frame` event (published
//    once the file is fsynced and renamed) to its row (the row's `added` time); then stops the
//    catalog and takes the series alone once more.
// 2. Query: fills a new database with --rows synthetic rows (100 nights, 5 filters, 4 image
//    types, 40 objects; FWHM on 70 %), then runs each /v1/frames filter --repeats times through
//    CatalogDatabase (what catalog.ctl runs): p50 and p95 of the first page (100 rows), a deep
//    page by cursor, and the summary. `--keep PATH` keeps the generated database.
// 3. Rebuild: writes --files FITS files of --width x --height and rebuilds a new catalog from
//    them alone: files and MB per second (the files are in the page cache: hashing and header
//    reading, not the disk).
import ApertureProtocol
import ArgumentParser
import BenchmarkSupport
import Bus
import CatalogService
import FITSStorage
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

@main
struct CatalogBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-catalog",
        abstract: "Frame catalog: live rows, queries on 100,000 rows, rebuild rate (docs/performance.md).")

    @Option(help: "Frames in each live series.") var frames = 300
    @Option(help: "Sensor width of the live series and the rebuild's files.") var width = 1024
    @Option(help: "Sensor height.") var height = 1024
    @Option(help: "Rows the query database holds.") var rows = 100_000
    @Option(help: "Runs of each query.") var repeats = 40
    @Option(help: "Files the rebuild reads.") var files = 300
    @Option(help: "Keep the generated query database at this path.") var keep: String?
    @Option(help: "The live catalog's state directory (default: beside the data, on the same file system).")
    var state: String?
    @Flag(help: "Skip the live series (no release executables needed).") var skipLive = false
    @Option(help: "Where the scratch folder (data, state) goes: /dev/shm takes the disk out of the live series.")
    var scratch = "/tmp"
    @Flag(help: "Only the live series.") var liveOnly = false
    @Option(help: ArgumentHelp("Exposure time of each live frame, in the camera's seconds (dark frames).",
                               discussion: "The simulator runs 100 times faster than its clock: 0.4 paces a series at 4 ms a frame. "
                                   + "0 (the default) takes bias frames as fast as the camera saves them."))
    var exposure = 0.0

    func validate() throws {
        guard frames > 1, rows > 1000, repeats > 0, files > 0, width >= 16, height >= 16, exposure >= 0, exposure <= 60 else {
            throw ValidationError("--frames > 1, --rows > 1000, --repeats > 0, --files > 0, sides >= 16, --exposure 0 to 60")
        }
    }

    func run() async throws {
        print("aperture-bench-catalog: load \(loadAverage()), kernel \(kernelRelease())")
        let scratch = try ScratchDirectory(in: self.scratch, prefix: "aperture-bench-catalog")
        defer { scratch.remove() }
        if !skipLive { try await live(scratch.path + "/live") }
        if liveOnly { return }
        try await queries(keep ?? scratch.path + "/query.sqlite")
        try await rebuild(scratch.path + "/rebuild")
    }

    // MARK: - Live

    func live(_ root: String) async throws {
        for name in ["aperture-camera", "aperture-catalog"] where !FileManager.default.isExecutableFile(atPath: executableBeside(name)) {
            fail("build \(name) in the same configuration first: swift build -c release")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["APERTURE_DATA_ROOT"] = root + "/data"
        environment["APERTURE_STATE_DIRECTORY"] = state ?? root + "/state"
        environment["APERTURE_LOG_LEVEL"] = "warning"
        environment["APERTURE_CAMERA_WIDTH"] = String(width)
        environment["APERTURE_CAMERA_HEIGHT"] = String(height)
        environment["APERTURE_CAMERA_TIME_SCALE"] = "0.01"
        func start(_ name: String) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executableBeside(name))
            process.arguments = ["--runtime-dir", root + "/run"]
            process.environment = environment
            try process.run()
            return process
        }
        let runtime = RuntimeDirectory(existing: root + "/run")
        try FileManager.default.createDirectory(atPath: root + "/run", withIntermediateDirectories: true)
        let camera = try start("aperture-camera")
        defer { camera.terminate(); camera.waitUntilExit() }
        let client = try RequestClient(dialing: runtime.endpoint(EndpointName.cameraControl))
        try await waitReady(client)

        let alone = try await series(client, runtime, camera: camera.processIdentifier)
        let catalogProcess = try start("aperture-catalog")
        defer { if catalogProcess.isRunning { catalogProcess.terminate(); catalogProcess.waitUntilExit() } }
        let catalog = try RequestClient(dialing: runtime.endpoint(EndpointName.catalogControl))
        try await waitReady(catalog)
        // Let the catalog's subscription connect and its first reconcile (of the first series) end.
        _ = try await catalog.call(CatalogReconcileCommand.self, timeout: .seconds(600))
        let rowsBefore = try await catalog.call(CatalogStatusCommand.self, timeout: .seconds(30)).frames
        let catalogCPUBefore = cpuSeconds(catalogProcess.processIdentifier)
        let with = try await series(client, runtime, camera: camera.processIdentifier)
        // Waits for every frame's row with the status's count (a query of the rows themselves,
        // every 100 ms, would be work of the catalog's counted as its ingest).
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if try await catalog.call(CatalogStatusCommand.self, timeout: .seconds(30)).frames >= rowsBefore + frames { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        // The catalog's CPU time for the series (user and system, from its first event to its last
        // row): its work per frame, whatever the machine's load did to the rates.
        var catalogCPU: Double?
        if let before = catalogCPUBefore, let after = cpuSeconds(catalogProcess.processIdentifier) { catalogCPU = after - before }
        let status = try await catalog.call(CatalogStatusCommand.self, timeout: .seconds(30))
        // Then the rows, for the delays from each event to its row.
        var query = FrameQuery()
        query.exposure = with.id
        query.limit = 1000
        var rows: [FrameRow] = []
        while true {
            let page = try await catalog.call(CatalogFramesCommand.self, query, timeout: .seconds(30))
            rows += page.frames
            guard let next = page.next else { break }
            query.cursor = next
        }
        guard rows.count == frames else { fail("the catalog has \(rows.count) of \(frames) rows") }
        var delays: [Double] = []
        var added: [Double] = []
        for row in rows {
            guard let frame = row.frame, let published = with.published[frame],
                  let made = FrameTime.parse(row.added)?.timeIntervalSince1970 else { continue }
            delays.append((made - published) * 1000)
            added.append(made)
        }
        // The camera alone again, once the catalog has stopped: the baseline on both sides of
        // the measurement (the folder holds more files by then; the machine may have changed).
        catalog.close()
        catalogProcess.terminate()
        catalogProcess.waitUntilExit()
        // The control: the catalog's share of a CPU burnt by a thread at the catalog's nice (10),
        // in 10 ms periods, with no catalog. A camera slowed as much by it is slowed by the CPU the
        // catalog takes, not by anything else the catalog does (locks, the disk, the bus).
        let share = catalogCPU.map { $0 / (Double(frames) / max(with.rate, 1e-9)) } ?? 0
        let burner = CPUBurner(share: share)
        let control = try await series(client, runtime, camera: camera.processIdentifier)
        burner.stop()
        // The second control: one more subscriber to every camera event (7 or so a frame), which
        // reads and drops them, as the catalog's subscription receives them.
        let listener = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents), topics: [""], bufferSize: 8192)
        let reader = Task { while (try? await listener.next()) != nil {} }
        let subscribed = try await series(client, runtime, camera: camera.processIdentifier)
        listener.close()
        await reader.value
        let aloneAfter = try await series(client, runtime, camera: camera.processIdentifier)
        let delay = Distribution(delays)
        let rowSpan = (added.max() ?? 0) - (added.min() ?? 0)
        let megabytes = Double(width * height * 2) / 1_048_576
        let kind = exposure > 0 ? "dark frames of \(exposure) s (\(fixed(exposure * 10, 1)) ms real)" : "bias frames"
        print("\nLive: \(frames) \(kind) of \(width)x\(height) (\(fixed(megabytes, 1)) MB each), release build, \(ProcessInfo.processInfo.activeProcessorCount) CPUs")
        // The camera's CPU in CPUs busy (its CPU time over the series' wall time): near the
        // machine's count, the camera is bound by the CPU, and any other work slows it.
        var table = Table(names: "", figures: ["frames/s", "MB/s", "camera CPUs"])
        table.append(["camera alone: save rate", fixed(alone.rate, 1), fixed(alone.rate * megabytes, 0), fixed(alone.cpus, 2)])
        table.append(["camera with the catalog: save rate", fixed(with.rate, 1), fixed(with.rate * megabytes, 0), fixed(with.cpus, 2)])
        table.append(["camera with \(fixed(share, 2)) CPU burnt at nice 10: save rate", fixed(control.rate, 1),
                      fixed(control.rate * megabytes, 0), fixed(control.cpus, 2)])
        table.append(["camera with one more subscriber: save rate", fixed(subscribed.rate, 1),
                      fixed(subscribed.rate * megabytes, 0), fixed(subscribed.cpus, 2)])
        table.append(["camera alone again: save rate", fixed(aloneAfter.rate, 1), fixed(aloneAfter.rate * megabytes, 0), fixed(aloneAfter.cpus, 2)])
        table.append(["catalog rows (first to last row)", fixed(Double(frames - 1) / max(rowSpan, 1e-9), 1), "", ""])
        table.print()
        print("  event -> row delay: p50 \(fixed(delay.p50, 1)) ms, p99 \(fixed(delay.p99, 1)) ms, max \(fixed(delay.max, 1)) ms "
              + "(row times have millisecond resolution)")
        if let catalogCPU {
            print("  catalog CPU time: \(fixed(catalogCPU, 2)) s for \(frames) frames, \(fixed(catalogCPU * 1000 / Double(frames), 3)) ms a frame "
                  + "(events \(status.events), dropped \(status.dropped), reconciles \(status.reconciles), rows found by them \(status.reconciled))")
        }
        client.close()
    }

    /// A process's CPU time so far (user and system, `/proc/PID/stat`), nil when unreadable.
    func cpuSeconds(_ pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // After the command's closing parenthesis: field 3 (state) first, so field N is at N - 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    func waitReady(_ client: RequestClient) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let ping = try? await client.call(Ping.self, timeout: .milliseconds(500)), ping.ready { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        fail("\(client) did not become ready within 30 s")
    }

    /// One bias series; its save rate from the first to the last `camera.frame` event.
    /// One series: its exposure id, the camera's save rate, its CPUs busy (CPU time over the
    /// series' wall time), and when each frame's event was published.
    func series(_ client: RequestClient, _ runtime: RuntimeDirectory, camera: Int32) async throws
        -> (id: String, rate: Double, cpus: Double, published: [Int: Double]) {
        let events = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents),
                                    topics: [CameraTopic.frame, CameraTopic.exposure], bufferSize: 8192)
        defer { events.close() }
        try await Task.sleep(for: .milliseconds(300))  // the subscription connects
        let cpuBefore = cpuSeconds(camera)
        let started = Date().timeIntervalSince1970
        let request = exposure > 0 ? ExposureRequest(type: .dark, time: exposure, count: frames)
            : ExposureRequest(type: .bias, time: 0, count: frames)
        let record = try await client.call(ExposeCommand.self, request)
        // Until the exposure's end: events are lossy, and one lost must not stall the benchmark
        // (the count lost is printed).
        var published: [Int: Double] = [:]
        while true {
            let event = try await events.next(timeout: .seconds(60))
            if event.topic == CameraTopic.exposure {
                if try event.decode(ExposureRecord.self).id == record.id { break }
                continue
            }
            let notice = try event.decode(FrameNotice.self)
            guard notice.exposureId == record.id else { continue }
            published[notice.frame] = event.time
            if published.count == frames { break }
        }
        if published.count < frames {
            print("  (\(frames - published.count) of \(frames) camera.frame events lost to the benchmark, \(events.dropped) events in all)")
        }
        let span = (published.values.max() ?? 0) - (published.values.min() ?? 0)
        var cpus = 0.0
        if let cpuBefore, let cpuAfter = cpuSeconds(camera) {
            cpus = (cpuAfter - cpuBefore) / max((published.values.max() ?? started) - started, 1e-9)
        }
        return (record.id, Double(frames - 1) / max(span, 1e-9), cpus, published)
    }

    // MARK: - Queries

    func queries(_ path: String) async throws {
        try? FileManager.default.removeItem(atPath: path)
        let database = try CatalogDatabase(path: path)
        let filters = ["V", "B", "R", "Ha", "L"]
        let types = ["Light Frame", "Light Frame", "Light Frame", "Dark Frame", "Bias Frame", "Flat Field"]
        let objects = (0..<40).map { "NGC \(1000 + $0 * 37)" }
        var generator = SystemRandomNumberGenerator()
        let started = ContinuousClock.now
        var index = 0
        let start = Date(timeIntervalSince1970: 1_780_000_000)
        while index < rows {
            var batch: [FrameEntry] = []
            for _ in 0..<min(2000, rows - index) {
                let night = index * 100 / rows
                let date = start.addingTimeInterval(Double(night) * 86_400 + Double(index % (rows / 100 + 1)) * 3)
                let folder = String(FrameTime.day(date).filter { $0 != "-" })
                let type = types[index % types.count]
                var headers = [
                    "DATE-OBS": FrameTime.canonical(date), "IMAGETYP": type, "EXPTIME": String(Double(index % 12) * 15),
                    "CCD-TEMP": String(-30 + Double(Int.random(in: 0...100, using: &generator)) / 10),
                    "EXPID": "E\(index / 10)", "FRAMENUM": String(index % 10 + 1), "NAXIS1": "4096", "NAXIS2": "4096",
                    "GAIN": "1x", "XBINNING": "1", "YBINNING": "1",
                ]
                if type == "Light Frame" || type == "Flat Field" { headers["FILTER"] = filters[index % filters.count] }
                if type == "Light Frame" { headers["OBJECT"] = objects[(index / 7) % objects.count] }
                if index % 50 == 0 { headers["PLAN"] = "plan-\(index / 5000)" }
                // Two cameras of one site (issue 16); the first tenth is older than SITE and CAMERA.
                if index >= rows / 10 { headers["SITE"] = "mro"; headers["CAMERA"] = index % 2 == 0 ? "north" : "south" }
                let sha = String(repeating: String(index % 16, radix: 16), count: 64)
                batch.append(FrameIndexer.entry(path: "\(folder)/image-\(index).fits", bytes: 33_560_640, modified: 0,
                                                sha256: sha, headers: headers))
                index += 1
            }
            try await database.upsert(batch)
        }
        let generated = (ContinuousClock.now - started).seconds
        // Quality on 70 %: what the processor sends.
        let qualityStarted = ContinuousClock.now
        for exposure in 0..<(rows / 10) where exposure % 10 < 7 {
            // As the catalog gets them: a burst of ten frames' figures in one transaction.
            try await database.recordQuality((1...10).map { frame in
                .init(exposure: "E\(exposure)", frame: frame, median: 1000, sigma: 12, nstars: 50,
                      fwhm: 1.5 + Double((exposure * 7 + frame) % 40) / 10, hfd: 3)
            })
        }
        let quality = (ContinuousClock.now - qualityStarted).seconds
        print("\nQuery: \(grouped(rows)) rows generated in \(fixed(generated, 1)) s (\(fixed(Double(rows) / generated, 0)) rows/s "
              + "in batches of 2000); quality of \(grouped(rows * 7 / 10)) frames recorded ten a transaction in \(fixed(quality, 1)) s "
              + "(\(fixed(Double(rows * 7 / 10) / quality, 0))/s)")
        let night = FrameTime.day(start.addingTimeInterval(50 * 86_400))
        let cases: [(String, [(String, String)])] = [
            ("no filter (first 100 by date)", []),
            ("-date_obs", [("sort", "-date_obs")]),
            ("night", [("night", night)]),
            ("start + end (one week)", [("start", FrameTime.canonical(start.addingTimeInterval(30 * 86_400))),
                                        ("end", FrameTime.canonical(start.addingTimeInterval(37 * 86_400)))]),
            ("imagetyp=dark", [("imagetyp", "dark")]),
            ("filter=V", [("filter", "V")]),
            ("object=1037 (substring)", [("object", "1037")]),
            ("object=nothing (no match)", [("object", "no such object")]),
            ("exposure", [("exposure", "E4321")]),
            ("exptime 60..120", [("exptime_min", "60"), ("exptime_max", "120")]),
            ("temp -25..-24", [("temp_min", "-25"), ("temp_max", "-24")]),
            ("fwhm_max=2", [("fwhm_max", "2")]),
            ("plan", [("plan", "plan-7")]),
            ("camera=north", [("camera", "north")]),
            ("site=mro camera=south imagetyp=dark", [("site", "mro"), ("camera", "south"), ("imagetyp", "dark")]),
            ("camera=east (no match)", [("camera", "east")]),
            ("sort=fwhm", [("sort", "fwhm")]),
            ("filter=V object imagetyp fwhm_max", [("filter", "V"), ("object", "NGC"), ("imagetyp", "object"), ("fwhm_max", "3")]),
        ]
        var table = Table(names: "filter (limit 100)", figures: ["rows", "p50 ms", "p95 ms", "max ms"])
        for (name, parameters) in cases {
            let query = try FrameQuery(parameters: parameters)
            var times: [Double] = []
            var count = 0
            for _ in 0..<repeats {
                let started = ContinuousClock.now
                count = try await database.frames(query).frames.count
                times.append((ContinuousClock.now - started).milliseconds)
            }
            let distribution = Distribution(times)
            table.append([name, String(count), fixed(distribution.p50, 2), fixed(distribution.percentile(0.95), 2),
                          fixed(distribution.max, 2)])
        }
        // A deep page: the 500th by cursor.
        var query = FrameQuery()
        for _ in 0..<499 { query.cursor = try await database.frames(query).next }
        var deep: [Double] = []
        for _ in 0..<repeats {
            let started = ContinuousClock.now
            _ = try await database.frames(query)
            deep.append((ContinuousClock.now - started).milliseconds)
        }
        let deepDistribution = Distribution(deep)
        table.append(["page 500 by cursor", "100", fixed(deepDistribution.p50, 2), fixed(deepDistribution.percentile(0.95), 2),
                      fixed(deepDistribution.max, 2)])
        var summary: [Double] = []
        for _ in 0..<max(5, repeats / 4) {
            let started = ContinuousClock.now
            _ = try await database.summary(FrameQuery())
            summary.append((ContinuousClock.now - started).milliseconds)
        }
        let summaryDistribution = Distribution(summary)
        table.append(["summary (all nights)", "", fixed(summaryDistribution.p50, 2), fixed(summaryDistribution.percentile(0.95), 2),
                      fixed(summaryDistribution.max, 2)])
        table.print()
    }

    // MARK: - Rebuild

    func rebuild(_ root: String) async throws {
        let data = root + "/data"
        try FileManager.default.createDirectory(atPath: data + "/20261206", withIntermediateDirectories: true)
        let frames = sourceFrames(width: width, height: height)
        for index in 0..<files {
            let cards = [
                FITSCard(keyword: "DATE-OBS", value: .string(FrameTime.canonical(Date(timeIntervalSince1970: 1_796_500_000 + Double(index)))),
                         comment: nil),
                FITSCard(keyword: "EXPTIME", value: .double(30), comment: nil),
                FITSCard(keyword: "IMAGETYP", value: .string("Light Frame"), comment: nil),
                FITSCard(keyword: "FILTER", value: .string("V"), comment: nil),
                FITSCard(keyword: "EXPID", value: .string("R\(index / 10)"), comment: nil),
                FITSCard(keyword: "FRAMENUM", value: .integer(index % 10 + 1), comment: nil),
            ]
            try frames[index % frames.count].withUnsafeBufferPointer { pixels in
                try FITSFile.write(pixels: pixels, width: width, height: height, cards: cards, comments: [],
                                   to: data + "/20261206/" + String(format: "image-%04d.fits", index + 1))
            }
        }
        let database = try CatalogDatabase(path: root + "/catalog.sqlite")
        let catalog = FrameCatalog(root: data, database: database, logger: Logger(label: "bench"))
        let started = ContinuousClock.now
        let report = try await catalog.rebuild()
        let seconds = (ContinuousClock.now - started).seconds
        let megabytes = Double(files) * Double(width * height * 2) / 1_048_576
        print("\nRebuild: \(report.added) files of \(width)x\(height) (in the page cache) in \(fixed(seconds, 2)) s: "
              + "\(fixed(Double(report.added) / seconds, 1)) files/s, \(fixed(megabytes / seconds, 0)) MB/s")
        let verifyStarted = ContinuousClock.now
        let verified = try await catalog.verify()
        let verifySeconds = (ContinuousClock.now - verifyStarted).seconds
        print("Verify: \(verified.checked) files re-hashed in \(fixed(verifySeconds, 2)) s: \(fixed(megabytes / verifySeconds, 0)) MB/s")
    }
}

/// Burns a share of one CPU on a thread of its own at nice 10, busy then asleep in 10 ms periods,
/// until stopped.
final class CPUBurner: Sendable {
    private let running = Mutex(true)
    private let done = DispatchSemaphore(value: 0)

    init(share: Double) {
        let busy = max(0, min(1, share)) * 0.010
        let thread = Thread { [self] in
            // On Linux a nice value is a thread's: 0 is this thread alone.
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
            var sink = 0.0
            while running.withLock({ $0 }) {
                let start = DispatchTime.now().uptimeNanoseconds
                while Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 < busy { sink += sink.squareRoot() + 1 }
                usleep(useconds_t((0.010 - busy) * 1e6))
            }
            if sink < 0 { print(sink) }
            done.signal()
        }
        thread.start()
    }

    /// Stops the thread and waits for it.
    func stop() {
        running.withLock { $0 = false }
        done.wait()
    }
}
