import ApertureProtocol
import Bus
import Calibration
import ChildRuntime
import Dispatch
import FITSStorage
import FrameAnalysis
import Foundation
import Logging
import Synchronization

/// The catalog's work: a row for each frame the camera announces, the processor's figures on
/// it, and the scans that keep it true to the data folders (reconcile, rebuild, verify).
///
/// Files are read and hashed on queues of their own, never on the cooperative pool: one for the
/// frames as they come, one for scans, so that a long rebuild does not delay new rows.
public final class FrameCatalog: Sendable {
    /// The data root, absolute.
    public let root: String
    /// The database.
    public let database: CatalogDatabase
    private let logger: Logger
    private let liveQueue = DispatchQueue(label: "catalog.frames")
    private let scanQueue = DispatchQueue(label: "catalog.scans")
    private struct Counters {
        var events = 0
        var dropped = 0
        var reconciles = 0
        var reconciled = 0
        var scanning = false
        var scanAgain = false
    }
    private let counters = Mutex(Counters())

    /// Creates the catalog.
    /// - Parameters:
    ///   - root: the data root (`data.root`); made absolute.
    ///   - database: the opened database.
    ///   - logger: the process's logger.
    public init(root: String, database: CatalogDatabase, logger: Logger) {
        // As the camera makes it (its `camera.frame` paths start with this).
        let absolute = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        self.root = URL(fileURLWithPath: absolute).standardizedFileURL.path
        self.database = database
        self.logger = logger
    }

    // MARK: - Events

    /// Catalogues the files `camera.frame` notices announce (previews have none): read on the
    /// frames' queue, written in one transaction (a burst of a fast series is one commit).
    /// - Parameter notices: the notices, in order.
    /// - Returns: the plans (PLAN) of the frames written.
    @discardableResult
    func framesSaved(_ notices: [FrameNotice]) async -> Set<String> {
        counters.withLock { $0.events += notices.count }
        var paths: [String] = []
        for notice in notices where !notice.preview {
            guard let path = notice.path else { continue }
            guard let relative = relativePath(path) else {
                logger.warning("frame \(path) is outside the data root \(root): not catalogued")
                continue
            }
            paths.append(relative)
        }
        guard !paths.isEmpty else { return [] }
        let (entries, failures) = await read(paths, on: liveQueue)
        for failure in failures { logger.error("frame not catalogued: \(failure)") }
        do {
            try await database.upsert(entries)
        } catch {
            logger.error("\(entries.count) frame(s) not catalogued: \(error)")
            return []
        }
        return Set(entries.compactMap(\.plan))
    }

    /// Makes sure the files a finished exposure saved have rows (their events may have been
    /// lost or not yet written): those without one are read and written now.
    /// - Parameter paths: the files' absolute paths, as the camera reports them.
    func ensureCatalogued(_ paths: [String]) async throws {
        let relative = paths.compactMap(relativePath)
        let known = try await database.catalogued(relative)
        let absent = relative.filter { !known.contains($0) }
        guard !absent.isEmpty else { return }
        let (entries, failures) = await read(absent, on: liveQueue)
        for failure in failures { logger.error("frame not catalogued: \(failure)") }
        try await database.upsert(entries)
    }

    /// Catalogues files now (a master just written), read on the frames' queue.
    /// - Parameter paths: paths relative to the root.
    /// - Throws: ``BusError`` `storage_error` naming a file that cannot be read; GRDB's errors.
    func catalogue(_ paths: [String]) async throws {
        let (entries, failures) = await read(paths, on: liveQueue)
        if let failure = failures.first { throw BusError(.storage, failure) }
        try await database.upsert(entries)
    }

    /// Keeps the processor's figures of frames (those with focus metrics), in one transaction.
    /// - Parameter results: `processor.result` events.
    func processed(_ results: [ProcessorResult]) async {
        let figures = results.compactMap { result -> CatalogDatabase.Quality? in
            guard let focus = result.analysis.focus else { return nil }
            return .init(exposure: result.exposureId, frame: result.frame, median: focus.background,
                         sigma: focus.backgroundSigma, nstars: focus.starCount, fwhm: focus.medianFWHM, hfd: focus.medianHFD)
        }
        guard !figures.isEmpty else { return }
        do {
            try await database.recordQuality(figures)
        } catch {
            logger.error("quality of \(figures.count) frame(s) not recorded: \(error)")
        }
    }

    /// Notes events lost upstream; the caller then reconciles.
    func lost(_ count: Int) {
        counters.withLock { $0.dropped += count }
    }

    /// The path relative to the data root, or nil when `path` is not inside it.
    func relativePath(_ path: String) -> String? {
        let prefix = root == "/" ? "/" : root + "/"
        guard path.hasPrefix(prefix) else { return nil }
        let relative = String(path.dropFirst(prefix.count))
        guard !relative.isEmpty, !relative.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        return relative
    }

    // MARK: - Scans

    /// The frame files in the night folders and the masters' folder, relative to the root.
    private func listFiles() -> [String] {
        guard let folders = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        var files: [String] = []
        for folder in folders.sorted() where FrameStore.isNightFolderName(folder) || folder == MasterBuilder.folder {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: root + "/" + folder) else { continue }
            for name in names.sorted() where FITSFile.isFrameName(name) {
                files.append(folder + "/" + name)
            }
        }
        return files
    }

    /// Reads files (header and SHA-256) on `queue`: the frames' queue for new frames, the scans'
    /// for reconcile and rebuild, so that a long scan does not delay new rows.
    /// - Returns: what the readable files hold, and why the others could not be read.
    private func read(_ paths: [String], on queue: DispatchQueue) async -> (entries: [FrameEntry], unreadable: [String]) {
        let root = root
        return await queue.result {
            var entries: [FrameEntry] = []
            var unreadable: [String] = []
            for path in paths {
                do throws(IndexError) { entries.append(try FrameIndexer.index(root: root, path: path)) } catch {
                    unreadable.append(error.message)
                }
            }
            return (entries, unreadable)
        }
    }

    /// Compares the catalog with the data folders: rows for files it lacks, missing marks for
    /// rows whose file is gone, restored rows whose file came back. Cheap: it lists folders and
    /// reads only the files it did not know. Runs one at a time; a call during one runs it again after.
    /// - Returns: what it did (nil when it only asked the running one to go again).
    @discardableResult
    public func reconcile() async throws -> CatalogScanReport? {
        let first = counters.withLock { counters -> Bool in
            if counters.scanning {
                counters.scanAgain = true
                return false
            }
            counters.scanning = true
            return true
        }
        guard first else { return nil }
        defer { counters.withLock { $0.scanning = false } }
        var report = try await scan(rewriteAll: false)
        while counters.withLock({ counters -> Bool in
            let again = counters.scanAgain
            counters.scanAgain = false
            return again
        }) {
            report = try await scan(rewriteAll: false)
        }
        return report
    }

    /// Re-reads every file and rewrites every row from it (ids kept by path); rows whose file
    /// is gone are marked missing. Running it twice gives the same rows.
    public func rebuild() async throws -> CatalogScanReport {
        try await scan(rewriteAll: true)
    }

    private func scan(rewriteAll: Bool) async throws -> CatalogScanReport {
        let started = ContinuousClock.now
        let known = try await database.knownFiles()
        let files = await scanQueue.result { [self] in listFiles() }
        var report = CatalogScanReport()
        report.files = files.count
        let present = Set(files)
        var toRead: [String] = []
        var restored: [String] = []
        for path in files {
            if let row = known[path] {
                if row.missing { restored.append(path) }
                if rewriteAll || row.missing { toRead.append(path) }
            } else {
                toRead.append(path)
            }
        }
        // In batches: each one transaction, and rows appear while a long scan runs.
        var index = 0
        while index < toRead.count {
            let batch = Array(toRead[index..<min(index + 256, toRead.count)])
            index += batch.count
            let (entries, unreadable) = await read(batch, on: scanQueue)
            report.unreadable += unreadable
            try await database.upsert(entries)
            for entry in entries {
                guard let row = known[entry.path] else {
                    report.added += 1
                    continue
                }
                report.updated += 1
                if row.sha256 != entry.sha256 { report.changed.append(entry.path) }
            }
        }
        let restoredSet = Set(restored)
        report.restored = toRead.filter { restoredSet.contains($0) }.count
        let gone = known.filter { !$0.value.missing && !present.contains($0.key) }.map(\.value.id)
        try await database.setMissing(gone, true)
        report.missing = gone.count
        report.seconds = (ContinuousClock.now - started).seconds
        counters.withLock {
            $0.reconciles += 1
            $0.reconciled += report.added
        }
        if report.added > 0 || report.missing > 0 || report.restored > 0 || !report.unreadable.isEmpty {
            let what = rewriteAll ? "rebuild" : "reconcile"
            logger.info("\(what): \(report.files) files, \(report.added) added, \(report.updated) rewritten, \(report.missing) missing, \(report.restored) restored, \(report.unreadable.count) unreadable")
        }
        return report
    }

    /// Re-hashes every file the catalog has and reports those whose bytes changed or that are gone.
    public func verify() async throws -> CatalogVerifyReport {
        let started = ContinuousClock.now
        let rows = try await database.hashes()
        let root = root
        let (changed, missing, checked, bytes) = await scanQueue.result {
            var changed: [CatalogVerifyReport.Changed] = []
            var missing: [String] = []
            var checked = 0
            var bytes: Int64 = 0
            for row in rows {
                do throws(IndexError) {
                    let digest = try FrameIndexer.hash(root + "/" + row.path)
                    checked += 1
                    bytes += digest.bytes
                    if digest.sha256 != row.sha256 {
                        changed.append(.init(id: row.id, path: row.path, expected: row.sha256, actual: digest.sha256,
                                             expectedBytes: row.bytes, actualBytes: digest.bytes))
                    }
                } catch {
                    missing.append(row.path)
                }
            }
            return (changed, missing, checked, bytes)
        }
        for entry in changed {
            logger.warning("verify: \(entry.path) changed on disk (SHA-256 \(entry.actual), catalogued \(entry.expected))")
        }
        return CatalogVerifyReport(checked: checked, bytes: bytes, changed: changed, missing: missing,
                                   seconds: (ContinuousClock.now - started).seconds)
    }

    /// The catalog's counts.
    public func status() async throws -> CatalogStatus {
        let (frames, missing) = try await database.counts()
        return counters.withLock {
            CatalogStatus(frames: frames, missing: missing, database: database.path, events: $0.events, dropped: $0.dropped,
                          reconciles: $0.reconciles, reconciled: $0.reconciled)
        }
    }
}
