import ApertureConfig
import ApertureProtocol
import Bus
import ChildRuntime
import FITSStorage
import Foundation
import FrameAnalysis
import Logging
import ProcessSupport
import Synchronization

/// Plate solving with astrometry.net: a saved frame's stars, found by ``StarDetector``, go to
/// `solve-field` as an "xylist" (a FITS table of X, Y, FLUX), with the pixel scale from the
/// header's FOCALLEN and XPIXSZ when both are there and the caller's position hint when given.
///
/// `solve-field` runs in a process group of its own, under a shell spawned by ``ChildSpawner``
/// (from one long-lived thread) that kills the group when the processor's lifeline closes, so it
/// dies with the processor; at the time limit the whole group (solve-field and its
/// astrometry-engine) is killed. Each solve has a
/// scratch folder, removed when it ends. At most one solve runs at a time; another is refused
/// with `busy`. The last 100 solutions are kept for ``solution(id:)``.
final class PlateSolver: Sendable {
    /// The data root, as configured (files are solved only inside it).
    let dataRoot: String
    /// solve-field's path.
    let solveField: String
    /// The time limit of a request that names none.
    let defaultTimeLimit: Double
    /// Where the scratch folders go.
    let scratchRoot: String
    private let logger: Logger
    private let spawner = ChildSpawner()
    private let running = Mutex(false)
    private let kept = Mutex<[PlateSolution]>([])
    private let counter = Atomic<Int>(0)

    /// At least this many stars are needed to try a solve.
    static let minimumStars = 5
    /// The most stars handed to the solver (brightest first).
    static let maximumStars = 200
    /// The longest time limit a request may ask for, in seconds.
    static let maximumTimeLimit = 600.0
    /// Solutions kept for `solution`.
    static let keptSolutions = 100

    init(configuration: ApertureConfiguration, scratchRoot: String, logger: Logger) {
        dataRoot = configuration.storage.dataRoot
        solveField = configuration.processor.solveField
        let limit = configuration.processor.solveTimeLimit.components
        defaultTimeLimit = Double(limit.seconds) + Double(limit.attoseconds) * 1e-18
        self.scratchRoot = scratchRoot
        self.logger = logger
    }

    /// A kept solution.
    /// - Throws: ``BusError`` `not_found`.
    func solution(id: String) throws(BusError) -> PlateSolution {
        guard let found = kept.withLock({ $0.first { $0.id == id } }) else {
            throw BusError(.notFound, "no solution \(id) (the processor keeps the last \(Self.keptSolutions))", field: "id")
        }
        return found
    }

    /// Solves one file.
    /// - Throws: ``BusError`` `invalid_argument` naming the field for arguments that cannot be
    ///   used; `busy` while another solve runs. Everything else is a failed solution.
    func solve(_ arguments: SolveCommand.Arguments) async throws(BusError) -> PlateSolution {
        let checked = try check(arguments)
        let acquired = running.withLock { busy -> Bool in
            if busy { return false }
            busy = true
            return true
        }
        guard acquired else { throw BusError(.busy, "a plate solve is already running; try again when it ends") }
        defer { running.withLock { $0 = false } }
        let id = Self.solutionID(counter.wrappingAdd(1, ordering: .relaxed).newValue)
        let solution = await run(checked, id: id)
        kept.withLock { list in
            list.insert(solution, at: 0)
            if list.count > Self.keptSolutions { list.removeLast(list.count - Self.keptSolutions) }
        }
        let outcome = solution.failureReason.map { " (\($0))" }
            ?? String(format: " at %.5f %+.5f in %.2f s", solution.centerRA, solution.centerDec, solution.solveSeconds)
        logger.info("plate solve \(id) of \(solution.file ?? arguments.file): \(solution.status)\(outcome)")
        return solution
    }

    /// `YYYYMMDDTHHMMSS-N`, unique within this process.
    static func solutionID(_ number: Int) -> String {
        var seconds = time_t(Date().timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02d-%d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, number)
    }

    // MARK: Arguments

    struct Checked {
        /// The file's absolute path, or nil for `latest` (found when the solve starts).
        var path: String?
        var requested: String
        var hint: (ra: Double, dec: Double, radius: Double)?
        var timeLimit: Double
        var writeWCS: Bool
    }

    /// Checks the arguments where they enter.
    func check(_ arguments: SolveCommand.Arguments) throws(BusError) -> Checked {
        let file = arguments.file
        guard !file.isEmpty else { throw .invalid("file", "must name a file inside the data root, or be 'latest'") }
        guard file.utf8.count <= 4096, !file.contains("\0") else { throw .invalid("file", "is not a usable path") }
        var path: String?
        if file != "latest" {
            let root = URL(fileURLWithPath: dataRoot).standardizedFileURL.path
            let candidate = URL(fileURLWithPath: file.hasPrefix("/") ? file : root + "/" + file).standardizedFileURL.path
            guard Self.isInside(candidate, root) else {
                throw .invalid("file", "'\(file)' is outside the data root \(root); give a path inside it (or relative to it)")
            }
            // A symbolic link inside the root must not lead out of it.
            if let resolved = Self.realPath(candidate), let realRoot = Self.realPath(root), !Self.isInside(resolved, realRoot) {
                throw .invalid("file", "'\(file)' leads outside the data root \(root)")
            }
            path = candidate
        }
        var hint: (Double, Double, Double)?
        switch (arguments.hintRA, arguments.hintDec) {
        case (nil, nil):
            if arguments.hintRadius != nil {
                throw .invalid("hint_radius_deg", "needs hint_ra_deg and hint_dec_deg")
            }
        case (.some, nil): throw .invalid("hint_dec_deg", "is required with hint_ra_deg (give both or neither)")
        case (nil, .some): throw .invalid("hint_ra_deg", "is required with hint_dec_deg (give both or neither)")
        case (.some(let ra), .some(let dec)):
            if let problem = SkyPointing.problem(ra: ra) { throw .invalid("hint_ra_deg", problem) }
            if let problem = SkyPointing.problem(dec: dec) { throw .invalid("hint_dec_deg", problem) }
            let radius = arguments.hintRadius ?? 5
            guard radius.isFinite, radius > 0, radius <= 180 else {
                throw .invalid("hint_radius_deg", "\(radius) is outside above 0 up to 180 degrees")
            }
            hint = (ra, dec, radius)
        }
        let limit = arguments.timeLimit ?? defaultTimeLimit
        guard limit.isFinite, limit > 0, limit <= Self.maximumTimeLimit else {
            throw .invalid("time_limit", "\(limit) is outside above 0 up to \(Int(Self.maximumTimeLimit)) seconds")
        }
        return Checked(path: path, requested: file, hint: hint, timeLimit: limit, writeWCS: arguments.writeWCS ?? false)
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The path relative to the data root, as replies show it.
    func relative(_ path: String) -> String {
        let root = URL(fileURLWithPath: dataRoot).standardizedFileURL.path
        return Self.isInside(path, root) && path != root ? String(path.dropFirst(root.count + 1)) : path
    }

    /// The newest saved frame: the newest day folder's newest `.fits` or `.fits.fz` (hidden temporaries and
    /// WCS versions left out).
    func latestFrame() -> String? {
        let root = URL(fileURLWithPath: dataRoot).standardizedFileURL.path
        let manager = FileManager.default
        let days = ((try? manager.contentsOfDirectory(atPath: root)) ?? []).filter { $0.count == 8 && Int($0) != nil }.sorted(by: >)
        for day in days {
            let folder = root + "/" + day
            let frames = ((try? manager.contentsOfDirectory(atPath: folder)) ?? [])
                .filter(FITSFile.isFrameName)
            let dated = frames.compactMap { name -> (String, Date)? in
                guard let date = (try? manager.attributesOfItem(atPath: folder + "/" + name))?[.modificationDate] as? Date else { return nil }
                return (folder + "/" + name, date)
            }
            if let newest = dated.max(by: { $0.1 == $1.1 ? $0.0 < $1.0 : $0.1 < $1.1 }) { return newest.0 }
        }
        return nil
    }

    /// A bare file name (as evora's `/capture` reports it) that is not at the root: the day
    /// folders' file of that name, newest day first.
    func inDayFolders(_ name: String) -> String? {
        guard !name.contains("/") else { return nil }
        let root = URL(fileURLWithPath: dataRoot).standardizedFileURL.path
        let days = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.count == 8 && Int($0) != nil }
        return days.sorted(by: >).map { root + "/" + $0 + "/" + name }.first { FileManager.default.fileExists(atPath: $0) }
    }

    // MARK: The solve

    private func run(_ checked: Checked, id: String) async -> PlateSolution {
        let start = ContinuousClock.now
        func failure(_ reason: String, _ file: String?) -> PlateSolution {
            var solution = PlateSolution.failure(id: id, reason: reason, file: file.map(relative))
            solution.solveSeconds = Self.seconds(since: start)
            solution.hintUsed = checked.hint != nil
            return solution
        }
        guard var path = checked.path ?? latestFrame() else {
            return failure("no file: no frame has been saved under the data root yet", nil)
        }
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), let found = inDayFolders(checked.requested) {
            path = found
        }
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            return failure("no file: \(relative(path)) does not exist under the data root", relative(path))
        }
        let framePath = path
        let loaded = await Self.queue.result { Self.detectStars(path: framePath) }
        let frame: Loaded
        switch loaded {
        case .success(let found): frame = found
        case .failure(let reason): return failure(reason.text, path)
        }
        let stars = frame.stars
        guard stars.count >= Self.minimumStars else {
            return failure("no stars: \(stars.count) found, at least \(Self.minimumStars) are needed", path)
        }
        let scale = Self.scaleHint(frame.header)
        var solution = failure("", path)
        solution.width = frame.width
        solution.height = frame.height
        solution.detectedStars = stars.count
        solution.stars = stars.map { PixelPoint(x: $0.x, y: $0.y) }
        solution.scaleHint = scale != nil

        guard access(solveField, X_OK) == 0 else {
            solution.failureReason = "solver missing: \(solveField) is not an executable file (install Debian's astrometry.net "
                + "and astrometry-data-tycho2-*, or set processor.solve_field)"
            return solution
        }
        let scratch = scratchRoot + "/solve-\(id)"
        do {
            try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        } catch {
            solution.failureReason = "solver crashed: cannot create its scratch folder \(scratch): \(error.localizedDescription)"
            return solution
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do throws(StorageError) {
            try FITSFile.writeTable(columns: [("X", stars.map { $0.x + 1 }), ("Y", stars.map { $0.y + 1 }),
                                              ("FLUX", stars.map(\.flux))],
                                    cards: [FITSCard(keyword: "IMAGEW", value: .integer(frame.width)),
                                            FITSCard(keyword: "IMAGEH", value: .integer(frame.height))],
                                    to: scratch + "/stars.xyls")
        } catch {
            solution.failureReason = "solver crashed: cannot write its star list: \(error.message)"
            return solution
        }
        var arguments = [scratch + "/stars.xyls", "--no-plots", "--overwrite", "--dir", scratch, "--out", "solve",
                         "--temp-dir", scratch, "--width", "\(frame.width)", "--height", "\(frame.height)",
                         "--x-column", "X", "--y-column", "Y", "--sort-column", "FLUX", "--crpix-center",
                         "--cpulimit", "\(Int(checked.timeLimit.rounded(.up)))",
                         "--new-fits", "none", "--index-xyls", "none", "--rdls", "none", "--match", "none",
                         // The star list is the detector's: no line removal or uniformizing (Python
                         // helpers that cost about 2.5 s per solve, docs/performance.md).
                         "--no-remove-lines", "--uniformize", "0"]
        if let scale {
            arguments += ["--scale-units", "arcsecperpix", "--scale-low", "\(scale * 0.95)", "--scale-high", "\(scale * 1.05)"]
        }
        if let hint = checked.hint {
            arguments += ["--ra", "\(hint.ra)", "--dec", "\(hint.dec)", "--radius", "\(hint.radius)"]
        }
        let outcome = await runSolver(arguments, log: scratch + "/solve-field.log", limit: checked.timeLimit)
        solution.solveSeconds = Self.seconds(since: start)
        switch outcome {
        case .failedToStart(let reason):
            solution.failureReason = "solver missing: \(reason)"
            return solution
        case .timedOut:
            solution.failureReason = "no solution within the time limit of \(Self.number(checked.timeLimit)) s"
            return solution
        case .exited(let status) where !status.isSuccess:
            let log = (try? String(contentsOfFile: scratch + "/solve-field.log", encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(3).joined(separator: " | ")
            solution.failureReason = "solver crashed: solve-field \(status)" + (tail.isEmpty ? "" : ": \(tail.prefix(300))")
            return solution
        case .exited:
            break
        }
        guard FileManager.default.fileExists(atPath: scratch + "/solve.solved") else {
            solution.failureReason = "no solution: astrometry.net matched none of the \(stars.count) stars to the catalogue"
                + (checked.hint != nil ? " within \(Self.number(checked.hint!.radius))° of the hint" : "")
                + " (searched \(String(format: "%.1f", solution.solveSeconds)) s of the \(Self.number(checked.timeLimit)) s limit)"
            return solution
        }
        let solved = solution, size = (frame.width, frame.height), writeWCS = checked.writeWCS
        return await Self.queue.result { self.finish(solved, scratch: scratch, path: framePath, frame: size, writeWCS: writeWCS) }
    }

    /// What a solve needs of its frame: its size, header and detected stars, brightest first.
    struct Loaded: Sendable {
        var width: Int
        var height: Int
        var header: [String: String]
        var stars: [Star]
    }

    /// Why a frame cannot be solved, as the failure reason says it.
    struct Unsolvable: Error {
        var text: String
    }

    /// Reads a frame and detects its stars (a CPU for a few hundred milliseconds, and the
    /// frame's pixels in memory: it runs off the cooperative pool, see ``queue``).
    static func detectStars(path: String) -> Result<Loaded, Unsolvable> {
        let frame: (width: Int, height: Int, pixels: [UInt16], header: [String: String])
        do throws(StorageError) {
            frame = try FITSFile.read(path: path)
        } catch {
            return .failure(Unsolvable(text: "no image: \(error.message)"))
        }
        guard frame.width >= 16, frame.height >= 16 else {
            return .failure(Unsolvable(text: "no image: \(frame.width)x\(frame.height) is too small to solve"))
        }
        let detector = StarDetector()
        detector.configuration.maximumStars = Self.maximumStars
        let detection: StarDetection
        do throws(AnalysisError) {
            detection = try frame.pixels.withUnsafeBufferPointer { (pixels: UnsafeBufferPointer<UInt16>) throws(AnalysisError) in
                try detector.detect(pixels: pixels, width: frame.width, height: frame.height)
            }
        } catch {
            return .failure(Unsolvable(text: "no stars: \(error.message)"))
        }
        // Brightest first by flux (the detector orders by peak).
        return .success(Loaded(width: frame.width, height: frame.height, header: frame.header,
                               stars: detection.stars.sorted { $0.flux > $1.flux }))
    }

    /// Reading a frame, detecting its stars and writing its WCS version run on this queue, one
    /// solve at a time, never on the threads of Swift's cooperative pool that run the frame loop
    /// and answer `ping`.
    private static let queue = DispatchQueue(label: "aperture.processor.plate-solve", qos: .utility)

    /// Reads the solver's WCS and correspondences into the solution; writes the WCS version.
    private func finish(_ partial: PlateSolution, scratch: String, path: String, frame: (width: Int, height: Int),
                        writeWCS: Bool) -> PlateSolution {
        var solution = partial
        let header: [(keyword: String, value: String)]
        do throws(StorageError) {
            header = try FITSFile.readHeader(path: scratch + "/solve.wcs")
        } catch {
            solution.failureReason = "solver crashed: its WCS cannot be read: \(error.message)"
            return solution
        }
        let skipped: Set<String> = ["SIMPLE", "BITPIX", "NAXIS", "EXTEND", "DATE", "END"]
        let wcsCards = header.filter { !skipped.contains($0.keyword) }
        var values: [String: Double] = [:]
        for card in wcsCards { if let number = Double(card.value) { values[card.keyword] = number } }
        guard let ra = values["CRVAL1"], let dec = values["CRVAL2"], let cd11 = values["CD1_1"], let cd12 = values["CD1_2"],
              let cd21 = values["CD2_1"], let cd22 = values["CD2_2"] else {
            solution.failureReason = "solver crashed: its WCS lacks CRVAL or CD cards"
            return solution
        }
        let determinant = cd11 * cd22 - cd12 * cd21
        let scale = abs(determinant).squareRoot() * 3600
        var rotation = atan2(-cd12, -cd22) * 180 / .pi
        if rotation < 0 { rotation += 360 }
        solution.status = "success"
        solution.failureReason = nil
        solution.centerRA = (ra.truncatingRemainder(dividingBy: 360) + 360).truncatingRemainder(dividingBy: 360)
        solution.centerDec = dec
        solution.pixelScale = scale
        solution.rotation = rotation
        solution.parity = determinant < 0 ? "normal" : "flipped"
        solution.fieldWidth = Double(frame.width) * scale / 3600
        solution.fieldHeight = Double(frame.height) * scale / 3600
        solution.wcs = Dictionary(wcsCards.map { ($0.keyword, $0.value) }, uniquingKeysWith: { first, _ in first })
        if let matches = try? FITSFile.readTable(path: scratch + "/solve.corr", names: ["index_x", "index_y"]),
           let xs = matches["index_x"], let ys = matches["index_y"] {
            solution.matchedStars = xs.count
            solution.matches = zip(xs, ys).map { PixelPoint(x: $0 - 1, y: $1 - 1) }
        }
        if writeWCS {
            do throws(StorageError) {
                solution.wcsFile = relative(try writeVersion(of: path, cards: wcsCards))
            } catch {
                logger.warning("plate solve \(solution.id): the WCS file was not written: \(error.message)")
                solution.wcsFileError = error.message
            }
        }
        return solution
    }

    /// Writes `NAME.wcs.fits` beside `NAME.fits` (or `NAME.wcs-2.fits`... when it exists), the
    /// frame with the WCS cards; the original is not touched. Beside a compressed `NAME.fits.fz`
    /// the version is compressed too: `NAME.wcs.fits.fz`.
    private func writeVersion(of path: String, cards: [(keyword: String, value: String)]) throws(StorageError) -> String {
        let base = FITSFile.stem(of: path) ?? path
        let suffix = path.hasSuffix(FITSFile.compressedSuffix) ? ".fz" : ""
        let wcs = cards.compactMap { card -> FITSCard? in
            guard let value = FITSFile.value(fromCardText: card.value) else { return nil }
            return FITSCard(keyword: card.keyword, value: value)
        }
        var number = 1
        while true {
            let destination = base + (number == 1 ? ".wcs.fits" : ".wcs-\(number).fits") + suffix
            do {
                try FITSFile.writeVersion(of: path, replacing: wcs, to: destination)
                return destination
            } catch where FileManager.default.fileExists(atPath: destination) && number < 100 {
                number += 1
            }
        }
    }

    /// The pixel scale in arcseconds per pixel from FOCALLEN (mm) and XPIXSZ (um, binning
    /// included), when both are positive numbers.
    static func scaleHint(_ header: [String: String]) -> Double? {
        guard let focal = header["FOCALLEN"].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }),
              let pixel = header["XPIXSZ"].flatMap({ Double($0.trimmingCharacters(in: .whitespaces)) }),
              focal > 0, pixel > 0, focal.isFinite, pixel.isFinite else { return nil }
        let scale = pixel / 1000 / focal * 180 / .pi * 3600
        return scale.isFinite && scale > 0 ? scale : nil
    }

    // MARK: The child

    enum Outcome {
        case exited(ExitStatus)
        case timedOut
        case failedToStart(String)
    }

    /// Runs solve-field (stdout and stderr to `log`) in its own process group, killing the group
    /// at the limit.
    private func runSolver(_ arguments: [String], log: String, limit: Double) async -> Outcome {
        // /bin/sh, the group's leader, sends the output to the log, starts solve-field and waits for
        // it; beside it a watcher reads the lifeline (descriptor 3, whose only writer is this
        // process: end of file when the processor is gone, even if it died before the watcher
        // started) and then kills the whole group, solve-field's astrometry-engine included.
        let script = #"""
            exec >"$0" 2>&1
            "$@" &
            solver=$!
            { read -r line <&3; kill -KILL 0; } &
            watcher=$!
            wait "$solver"
            status=$?
            kill "$watcher" 2>/dev/null
            exit "$status"
            """#
        let spawned: SpawnedProcess
        do {
            spawned = try await spawner.spawn(executable: "/bin/sh", arguments: ["-c", script, log, solveField] + arguments,
                                              environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp"])
        } catch {
            return .failedToStart("\(error)")
        }
        defer { ChildSpawner.closeLifeline(of: spawned) }
        let pid = spawned.pid
        let timer = Task { () -> Bool in
            do {
                try await Task.sleep(for: .seconds(limit))
            } catch {
                return false
            }
            kill(-pid, SIGKILL)
            return true
        }
        let status = await ExitWatcher.waitForExit(of: pid)
        timer.cancel()
        // Anything of the group still alive (an engine the solver left) goes too.
        kill(-pid, SIGKILL)
        return await timer.value ? .timedOut : .exited(status)
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = (ContinuousClock.now - start).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e9 ? String(Int(value)) : String(value)
    }
}
