import ApertureConfig
import ApertureProtocol
import Bus
import ChildRuntime
import FITSStorage
import FrameAnalysis
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Measures saved FITS files with the live frames' star detector and focus metrics.
struct FileMeasurer: Sendable {
    /// The data root, as configured (`data.root`).
    let dataRoot: String

    /// Measures a file named as ``MeasureFileCommand/Arguments/filename`` says.
    /// - Parameters:
    ///   - filename: relative to the data root, or absolute inside it.
    ///   - focusThreshold: the detection threshold in background sigmas (the live one).
    /// - Throws: ``BusError`` `invalid_argument` naming `filename` and the reason (outside the data
    ///   root, missing, not a FITS image, no stars).
    func measure(_ filename: String, focusThreshold: Double) throws(BusError) -> FileMeasurement {
        let (path, size) = try resolve(filename)
        try checkStatedSize(path: path, fileSize: size, filename: filename)
        let image: (width: Int, height: Int, pixels: [UInt16], header: [String: String])
        do {
            image = try FITSFile.read(path: path)
        } catch {
            throw BusError.invalid("filename", "'\(filename)' is not a readable FITS image (\(error.message))")
        }
        var configuration = AnalysisConfiguration()
        configuration.focus = true
        configuration.focusThreshold = focusThreshold
        let analysis: FrameAnalysis
        do throws(AnalysisError) {
            analysis = try image.pixels.withUnsafeBufferPointer { pixels throws(AnalysisError) in
                try FrameAnalyzer().analyze(pixels: pixels, width: image.width, height: image.height,
                                            configuration: configuration)
            }
        } catch {
            throw BusError.invalid("filename", "'\(filename)' cannot be analysed: \(error.message)")
        }
        guard let focus = analysis.focus, focus.starCount > 0, let fwhm = focus.medianFWHM, let hfd = focus.medianHFD,
              fwhm.isFinite, hfd.isFinite else {
            throw BusError.invalid("filename", "'\(filename)' has no stars to measure (none above "
                + "\(Int(analysis.focus?.threshold ?? 0)) ADU, \(focusThreshold) sigma over the background)")
        }
        return FileMeasurement(filename: filename, path: path, width: image.width, height: image.height,
                               starCount: focus.starCount, medianFWHM: fwhm, medianHFD: hfd, background: focus.background)
    }

    /// The absolute path of a file inside the data root (symbolic links resolved).
    ///
    /// A relative name is taken from the data root; a bare name that is not there is looked for
    /// in the night folders (`YYYYMMDD`), newest first, since evora's `/capture` reply names the
    /// file without its folder.
    func resolve(_ filename: String) throws(BusError) -> (path: String, size: Int) {
        guard !filename.isEmpty else { throw BusError.invalid("filename", "is required (a FITS file under the data root)") }
        guard filename.utf8.count <= FocusSessionLimits.filenameLength, !filename.utf8.contains(0) else {
            throw BusError.invalid("filename", "must be a path of at most \(FocusSessionLimits.filenameLength) bytes")
        }
        guard let root = Self.realPath(dataRoot) else {
            throw BusError.invalid("filename", "the data root \(dataRoot) does not exist yet: no file was saved")
        }
        let candidate = filename.hasPrefix("/") ? filename : root + "/" + filename
        let lexical = URL(fileURLWithPath: candidate).standardizedFileURL.path
        let configured = URL(fileURLWithPath: dataRoot).standardizedFileURL.path
        guard lexical.hasPrefix(root + "/") || lexical.hasPrefix(configured + "/") else {
            throw BusError.invalid("filename", "'\(filename)' is outside the data root \(root)")
        }
        var found = Self.realPath(candidate)
        if found == nil, !filename.contains("/") {
            found = nights(in: root).lazy.compactMap { Self.realPath(root + "/" + $0 + "/" + filename) }.first
        }
        guard let path = found else {
            throw BusError.invalid("filename", "'\(filename)' does not exist under the data root \(root)")
        }
        guard path.hasPrefix(root + "/") else {
            throw BusError.invalid("filename", "'\(filename)' is outside the data root \(root) (it leads to \(path))")
        }
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw BusError.invalid("filename", "'\(filename)' is not a regular file")
        }
        guard Int(info.st_size) <= FocusSessionLimits.fileSize else {
            throw BusError.invalid("filename", "'\(filename)' is \(info.st_size) bytes, more than the "
                + "\(FocusSessionLimits.fileSize >> 20) MiB measured at most")
        }
        return (path, Int(info.st_size))
    }

    /// Refuses an image whose header states more pixels than the file holds (or than the
    /// analyzer takes), before reading it would allocate them: a file of a few kilobytes could
    /// otherwise claim 60000 x 60000 pixels. The image is the primary HDU's or, in a
    /// tile-compressed file (`.fits.fz`: an empty primary HDU, then a BINTABLE with
    /// `ZIMAGE = T`), the compressed one's (`ZNAXIS1`...), which may hold at most
    /// ``FITSFile/maximumCompressionRatio`` times the file's bytes. A header this does not
    /// understand is left to cfitsio.
    func checkStatedSize(path: String, fileSize: Int, filename: String) throws(BusError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { return }
        defer { try? handle.close() }
        let head = [UInt8]((try? handle.read(upToCount: 2880 * 10)) ?? Data())
        var values = Self.integerCards(head, from: 0, prefix: "")
        var ratio = 1
        if values.cards["NAXIS"] == 0, let next = values.end {
            // The primary has no data: the next header starts at the next 2880-byte block.
            let compressed = Self.integerCards(head, from: (next + 2879) / 2880 * 2880, prefix: "Z")
            if compressed.image {
                values = compressed
                ratio = FITSFile.maximumCompressionRatio
            }
        }
        guard values.cards["NAXIS"] == 2, let width = values.cards["NAXIS1"], let height = values.cards["NAXIS2"],
              let bitpix = values.cards["BITPIX"], [8, 16, 32, 64, -32, -64].contains(bitpix) else { return }
        let largest = FrameAnalyzer.maximumDimension
        guard (1...largest).contains(width), (1...largest).contains(height) else {
            throw BusError.invalid("filename", "'\(filename)' states an image of \(width) x \(height) pixels; "
                + "1 to \(largest) each are measured")
        }
        let needed = width * height * abs(bitpix) / 8
        guard needed <= fileSize * ratio else {
            throw BusError.invalid("filename", "'\(filename)' states \(width) x \(height) pixels of BITPIX \(bitpix) "
                + "(\(needed) bytes), more than its \(fileSize) bytes hold"
                + (ratio > 1 ? " compressed at most \(ratio) to 1" : ""))
        }
    }

    /// The integer cards BITPIX, NAXIS, NAXIS1 and NAXIS2 (read from `PREFIX` + the keyword, so
    /// `ZNAXIS1` for a compressed image) of the header starting at `start`, where its END card
    /// ends, and whether it says `ZIMAGE = T`.
    private static func integerCards(_ head: [UInt8], from start: Int, prefix: String)
        -> (cards: [String: Int], end: Int?, image: Bool) {
        var values: [String: Int] = [:]
        var image = false
        for offset in stride(from: start, to: head.count - 79, by: 80) {
            let card = String(decoding: head[offset..<(offset + 80)], as: UTF8.self)
            let keyword = card.prefix(8).trimmingCharacters(in: .whitespaces)
            if keyword == "END" { return (values, offset + 80, image) }
            guard card.dropFirst(8).hasPrefix("= ") else { continue }
            let text = card.dropFirst(10).prefix { $0 != "/" }.trimmingCharacters(in: .whitespaces)
            if keyword == "ZIMAGE" { image = text == "T" }
            guard keyword.hasPrefix(prefix) else { continue }
            let name = String(keyword.dropFirst(prefix.count))
            if ["BITPIX", "NAXIS", "NAXIS1", "NAXIS2"].contains(name) { values[name] = Int(text) }
        }
        return (values, nil, image)
    }

    /// The night folders of the data root, newest first.
    private func nights(in root: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter(FrameStore.isNightFolderName).sorted(by: >)
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// The focus sessions: kept in memory and in `STATE_DIRECTORY/focus-sessions.json` (replaced
/// atomically after every change), so that a restart of the processor or the gateway loses
/// none. Bounded: ``FocusSessionLimits``.
final class FocusSessionStore: Sendable {
    private let sessions: Mutex<[String: FocusSession]>
    private let file: String
    private let measurer: FileMeasurer
    private let logger: Logger
    private let clock: @Sendable () -> Double

    /// The sessions file's name in the state directory.
    static let fileName = "focus-sessions.json"

    init(stateDirectory: String, dataRoot: String, logger: Logger,
         clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.file = stateDirectory + "/" + Self.fileName
        self.measurer = FileMeasurer(dataRoot: dataRoot)
        self.logger = logger
        self.clock = clock
        var loaded: [String: FocusSession] = [:]
        if let data = FileManager.default.contents(atPath: file) {
            do {
                let list = try JSONDecoder().decode(FocusSessionListCommand.Result.self, from: data).sessions
                let now = clock()
                for session in list where now - session.updated <= FocusSessionLimits.expiry {
                    loaded[session.id] = session
                }
            } catch {
                logger.error("ignoring \(file): \(error)")
            }
        }
        sessions = Mutex(loaded)
    }

    /// ``MeasureFileCommand``.
    func measure(_ filename: String, focusThreshold: Double) throws(BusError) -> FileMeasurement {
        try measurer.measure(filename, focusThreshold: focusThreshold)
    }

    /// ``FocusSessionAddCommand``: measures outside the lock, then adds.
    func add(_ arguments: FocusSessionAddCommand.Arguments, focusThreshold: Double) throws(BusError) -> FocusSession {
        try Self.check(id: arguments.id)
        guard arguments.position.isFinite, FocusSessionLimits.position.contains(arguments.position) else {
            throw BusError.invalid("position", "\(arguments.position) is outside -1e9...1e9 (focuser steps)")
        }
        // Full already: refused before the file is read (and again after, for a race).
        if let existing = sessions.withLock({ $0[arguments.id] }), existing.points.count >= FocusSessionLimits.pointsPerSession {
            throw Self.full(arguments.id)
        }
        let measurement = try measurer.measure(arguments.filename, focusThreshold: focusThreshold)
        return try change { all, now throws(BusError) in
            var session = all[arguments.id] ?? FocusSession(id: arguments.id, created: now)
            guard session.points.count < FocusSessionLimits.pointsPerSession else { throw Self.full(arguments.id) }
            session.points.append(FocusPoint(position: arguments.position, measurement: measurement, added: now))
            session.updated = now
            session.refit()
            if all[arguments.id] == nil { Self.makeRoom(in: &all) }
            all[arguments.id] = session
            return session
        }
    }

    /// ``FocusSessionCreateCommand``.
    func create(id: String?) throws(BusError) -> FocusSession {
        try change { all, now throws(BusError) in
            let chosen = id ?? String(Int64(now * 1000))
            try Self.check(id: chosen)
            guard all[chosen] == nil else { throw BusError(.busy, "a focus session \(chosen) exists already", field: "id") }
            Self.makeRoom(in: &all)
            let session = FocusSession(id: chosen, created: now)
            all[chosen] = session
            return session
        }
    }

    /// ``FocusSessionGetCommand``.
    func session(_ id: String) throws(BusError) -> FocusSession {
        try Self.check(id: id)
        let now = clock()
        guard let session = sessions.withLock({ $0[id] }), now - session.updated <= FocusSessionLimits.expiry else {
            throw BusError(.notFound, "no focus session '\(id)'", field: "id")
        }
        return session
    }

    /// ``FocusSessionListCommand``: the most recently changed first.
    func list() -> [FocusSession] {
        let now = clock()
        return sessions.withLock { Array($0.values) }.filter { now - $0.updated <= FocusSessionLimits.expiry }
            .sorted { ($0.updated, $0.id) > ($1.updated, $1.id) }
    }

    /// ``FocusSessionDeleteCommand``.
    func delete(_ id: String) throws(BusError) -> Bool {
        try Self.check(id: id)
        return try change { all, _ throws(BusError) in all.removeValue(forKey: id) != nil }
    }

    private static func full(_ id: String) -> BusError {
        BusError(.busy, "session \(id) holds \(FocusSessionLimits.pointsPerSession) points, the most kept; "
            + "reset it or start another", field: "id")
    }

    private static func check(id: String) throws(BusError) {
        if let problem = FocusSessionLimits.idProblem(id) { throw BusError.invalid("id", problem) }
    }

    /// Drops the least recently changed sessions until one more fits.
    private static func makeRoom(in all: inout [String: FocusSession]) {
        while all.count >= FocusSessionLimits.sessions,
              let oldest = all.values.min(by: { ($0.updated, $0.id) < ($1.updated, $1.id) }) {
            all[oldest.id] = nil
        }
    }

    /// Applies a change (expired sessions dropped first) and writes the file; a change that cannot
    /// be written is undone and reported as `storage_error`.
    private func change<T>(_ body: (inout [String: FocusSession], Double) throws(BusError) -> T) throws(BusError) -> T {
        try sessions.withLock { current throws(BusError) -> T in
            let now = clock()
            var all = current.filter { now - $0.value.updated <= FocusSessionLimits.expiry }
            let result = try body(&all, now)
            try persist(Array(all.values).sorted { $0.id < $1.id })
            current = all
            return result
        }
    }

    private func persist(_ list: [FocusSession]) throws(BusError) {
        let data: Data
        do {
            data = try JSONEncoder().encode(FocusSessionListCommand.Result(sessions: list))
        } catch {
            throw BusError(.internal, "cannot encode the focus sessions: \(error)")
        }
        let temporary = file + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Self.failure("cannot create", temporary) }
        var failed: BusError?
        data.withUnsafeBytes { bytes in
            var done = 0
            while done < bytes.count, failed == nil {
                let written = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                if written > 0 { done += written } else if written < 0 && errno == EINTR { continue } else {
                    failed = Self.failure("cannot write", temporary)
                }
            }
        }
        if failed == nil && fsync(descriptor) != 0 { failed = Self.failure("cannot flush", temporary) }
        if close(descriptor) != 0 && failed == nil { failed = Self.failure("cannot close", temporary) }
        if failed == nil && rename(temporary, file) != 0 { failed = Self.failure("cannot rename to \(file):", temporary) }
        if let failed {
            unlink(temporary)
            logger.error("\(failed.message)")
            throw failed
        }
    }

    private static func failure(_ action: String, _ path: String) -> BusError {
        BusError(.storage, "focus sessions: \(action) \(path): \(String(cString: strerror(errno))) (errno \(errno))")
    }
}

/// Registers `measure_file` and the focus session commands on processor.ctl.
enum FocusSessionCommands {
    /// Reading and measuring a file takes a CPU for up to a few hundred milliseconds: it runs on
    /// a thread of its own, one file at a time (one file's pixels in memory at most), never on the
    /// threads of Swift's cooperative pool that run the frame loop and answer `ping`.
    private static let queue = DispatchQueue(label: "aperture.processor.focus-measure", qos: .utility)

    static func measuring<T: Sendable>(_ work: @escaping @Sendable () throws(BusError) -> T) async throws(BusError) -> T {
        try await queue.result { Result { () throws(BusError) -> T in try work() } }.get()
    }

    static func register(on commands: inout CommandRouter, context: ChildContext, processor: FrameProcessor) {
        let storage = context.configuration.storage
        try? FileManager.default.createDirectory(atPath: storage.stateDirectory, withIntermediateDirectories: true)
        let store = FocusSessionStore(stateDirectory: storage.stateDirectory, dataRoot: storage.dataRoot,
                                      logger: context.logger)
        commands.register(MeasureFileCommand.self) { arguments in
            try await measuring { () throws(BusError) in
                try store.measure(arguments.filename, focusThreshold: processor.configuration.focusThreshold)
            }
        }
        commands.register(FocusSessionAddCommand.self) { arguments in
            try await measuring { () throws(BusError) in
                try store.add(arguments, focusThreshold: processor.configuration.focusThreshold)
            }
        }
        commands.register(FocusSessionCreateCommand.self) { arguments in try store.create(id: arguments.id) }
        commands.register(FocusSessionGetCommand.self) { arguments in try store.session(arguments.id) }
        commands.register(FocusSessionListCommand.self) { _ in .init(sessions: store.list()) }
        commands.register(FocusSessionDeleteCommand.self) { arguments in .init(deleted: try store.delete(arguments.id)) }
    }
}
