import ApertureProtocol
import Bus
import Foundation
import Logging

/// One message of the export stream as the ingest sees it: what a JetStream message gives
/// (`FacilityBus.NATSMessage`), so that the ingest is driven the same way by the real consumer
/// and by tests.
public protocol IngestMessage: Sendable {
    /// The message's headers (``FrameExport`` names them).
    var headers: [String: String] { get }
    /// The body: a chunk's bytes, or a row's JSON.
    var data: [UInt8] { get }
    /// Acknowledges: the message is done with for good.
    func ack() async
    /// Asks for the message again, after `delay` if given.
    func nak(delay: Duration?) async
    /// Never again: the message is refused.
    func term() async
}

/// The heart of the archive: chunks into spool files, a complete frame verified and moved into
/// the central root, its row upserted, and only then every message of the frame acknowledged.
/// See docs/archive.md ("Ingest") for every case.
public actor FrameIngest {
    /// A frame: its site, camera and SHA-256 (the spool file's name).
    struct Key: Hashable {
        var site: String
        var camera: String
        var sha256: String
    }

    /// A frame being gathered.
    struct Pending {
        /// The chunks written to the spool file, each with the message(s) that brought it.
        var chunks: [Int: [any IngestMessage]] = [:]
        /// The row message and when it came.
        var row: (export: ExportRow, message: any IngestMessage, since: ContinuousClock.Instant)?
        /// Earlier deliveries of the row (redelivered, or older revisions): acknowledged with the frame.
        var otherRows: [any IngestMessage] = []
        /// Whether the central file was already there when a chunk came (nothing is written).
        var centralExists = false
        /// When anything last came.
        var touched = ContinuousClock.now
        /// Whether the frame is being verified, placed or written (the clock leaves it alone).
        var completing = false
    }

    /// What the ingest has done since it started (`/metrics`).
    public struct Counters: Sendable, Hashable {
        /// Frames whose row was written (inserted or updated).
        public var stored = 0
        /// Bytes moved into the central root.
        public var bytes: Int64 = 0
        /// Chunk messages written to spool files.
        public var chunks = 0
        /// Messages refused (`term`).
        public var refused = 0
        /// Rows sent back for a later try (`nak`).
        public var retried = 0
    }

    private let files: CentralFiles
    private let store: ArchiveStore
    private let incompleteTimeout: Duration
    private let logger: Logger
    private var pending: [Key: Pending] = [:]
    private var counters = Counters()

    /// Creates the ingest.
    /// - Parameters:
    ///   - files: the central root.
    ///   - store: the database.
    ///   - incompleteTimeout: how long a row waits for its chunks (`archive.incomplete_timeout`).
    ///   - logger: the archive's logger.
    public init(files: CentralFiles, store: ArchiveStore, incompleteTimeout: Duration, logger: Logger) {
        self.files = files
        self.store = store
        self.incompleteTimeout = incompleteTimeout
        self.logger = logger
    }

    /// The counters so far.
    public var statistics: Counters { counters }

    /// Messages held unacknowledged (chunks and rows of frames in flight).
    public var held: Int {
        pending.values.reduce(0) { $0 + $1.chunks.values.reduce(0) { $0 + $1.count } + $1.otherRows.count + ($1.row == nil ? 0 : 1) }
    }

    /// Takes one message of the stream.
    public func receive(_ message: any IngestMessage) async {
        switch message.headers[FrameExport.kindHeader] {
        case "chunk": await chunk(message)
        case "row": await row(message)
        default:
            await refuse([message], .invalid, site: message.headers[FrameExport.siteHeader] ?? "",
                         camera: message.headers[FrameExport.cameraHeader] ?? "",
                         path: message.headers[FrameExport.pathHeader] ?? "", sha256: message.headers[FrameExport.sha256Header] ?? "",
                         "\(FrameExport.kindHeader) '\((message.headers[FrameExport.kindHeader] ?? "").prefix(32))' is not chunk or row")
        }
    }

    // MARK: Chunks.

    private func chunk(_ message: any IngestMessage) async {
        let headers = message.headers
        let site = headers[FrameExport.siteHeader] ?? "", camera = headers[FrameExport.cameraHeader] ?? ""
        let sha256 = headers[FrameExport.sha256Header] ?? "", path = headers[FrameExport.pathHeader] ?? ""
        let placement: (index: Int, offset: Int64)
        do {
            try Self.checkIdentity(site: site, camera: camera, sha256: sha256, path: path)
            placement = try Self.placement(chunk: headers[FrameExport.chunkHeader] ?? "", bytes: headers[FrameExport.bytesHeader] ?? "",
                                           size: message.data.count)
        } catch {
            await refuse([message], .invalid, site: site, camera: camera, path: path, sha256: sha256, error.reason)
            return
        }
        let key = Key(site: site, camera: camera, sha256: sha256)
        var frame = pending[key] ?? Pending()
        frame.touched = .now
        if pending[key] == nil {
            // A chunk of a frame already stored (its row acknowledged, this one not: the archive
            // stopped in between): done with. A central file without its row: the row will come.
            let central = files.root + "/" + CentralFiles.relativePath(site: site, camera: camera, path: path)
            if await files.exists(central) {
                if let stored = try? await store.stored(site: site, camera: camera, path: path), stored.sha256 == sha256 {
                    await message.ack()
                    return
                }
                frame.centralExists = true
            }
        }
        if frame.chunks[placement.index] == nil && !frame.centralExists {
            do {
                try await files.write(message.data, at: placement.offset, to: files.spoolPath(site: site, camera: camera, sha256: sha256))
                counters.chunks += 1
            } catch {
                logger.error("archive: cannot spool chunk \(placement.index) of \(site)/\(camera)/\(path): \(error)")
                await message.nak(delay: .seconds(5))
                return
            }
        }
        // The actor may have been re-entered while the chunk was written: merge with what is there now.
        var current = pending[key] ?? frame
        current.touched = .now
        current.centralExists = current.centralExists || frame.centralExists
        current.chunks[placement.index, default: []].append(message)
        pending[key] = current
        if let row = current.row, current.chunks.count >= row.export.chunks {
            await complete(key)
        }
    }

    /// Where a chunk goes: its index, and its offset (`index * chunk size`; the last chunk ends the file).
    static func placement(chunk: String, bytes: String, size: Int) throws(IngestRefusal) -> (index: Int, offset: Int64) {
        let parts = chunk.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (0..<count).contains(index) else {
            throw IngestRefusal("\(FrameExport.chunkHeader) '\(chunk.prefix(32))' is not INDEX/COUNT with 0 <= INDEX < COUNT")
        }
        guard let total = Int64(bytes), total >= 0, total <= 1 << 46 else {
            throw IngestRefusal("\(FrameExport.bytesHeader) '\(bytes.prefix(32))' is not a size in bytes from 0 to 2^46")
        }
        guard size <= FrameExport.maximumChunkBytes else {
            throw IngestRefusal("chunk \(index) holds \(size) bytes, more than \(FrameExport.maximumChunkBytes)")
        }
        if index == count - 1 {
            // The last chunk ends the file; with one chunk it is the file.
            let offset = total - Int64(size)
            guard offset >= 0, count == 1 || offset > 0, count == 1 || size > 0 else {
                throw IngestRefusal("chunk \(index)/\(count) of \(size) bytes does not end a file of \(total) bytes")
            }
            return (index, offset)
        }
        guard size > 0, FrameExport.chunkCount(bytes: total, chunkBytes: size) == count else {
            throw IngestRefusal("chunk \(index)/\(count) of \(size) bytes does not cut a file of \(total) bytes into \(count) chunks")
        }
        return (index, Int64(index) * Int64(size))
    }

    // MARK: Rows.

    private func row(_ message: any IngestMessage) async {
        let headers = message.headers
        let site = headers[FrameExport.siteHeader] ?? "", camera = headers[FrameExport.cameraHeader] ?? ""
        let sha256 = headers[FrameExport.sha256Header] ?? "", path = headers[FrameExport.pathHeader] ?? ""
        let export: ExportRow
        do {
            try Self.checkIdentity(site: site, camera: camera, sha256: sha256, path: path)
            guard let decoded = try? JSONDecoder().decode(ExportRow.self, from: Data(message.data)) else {
                throw IngestRefusal("the row message's body is not an export row (JSON)")
            }
            export = decoded
            try Self.check(export, site: site, camera: camera, path: path)
        } catch {
            await refuse([message], .invalid, site: site, camera: camera, path: path, sha256: sha256, error.reason)
            return
        }
        let key = Key(site: site, camera: camera, sha256: sha256)
        guard export.row.sha256 == sha256 else {
            // The row and its messages disagree about the bytes: never stored.
            await refuse(messages(of: key) + [message], .hashMismatch, site: site, camera: camera, path: path, sha256: sha256,
                         "the row's sha256 \(export.row.sha256.prefix(64)) is not the messages' \(FrameExport.sha256Header) \(sha256)")
            await forget(key, removeSpool: true)
            return
        }
        var frame = pending[key] ?? Pending()
        frame.touched = .now
        if let earlier = frame.row {
            // The same row again (redelivered), or another revision: keep the newer, let the other go
            // once the frame is stored (a revision's update is one more upsert away).
            if earlier.export.revision > export.revision {
                frame.otherRows.append(message)
                pending[key] = frame
                return
            }
            frame.otherRows.append(earlier.message)
        }
        frame.row = (export, message, .now)
        pending[key] = frame
        let relative = CentralFiles.relativePath(site: site, camera: camera, path: export.row.path)
        if await files.exists(files.root + "/" + relative) {
            await storeExisting(key, relative: relative)
        } else if frame.chunks.count >= export.chunks {
            await complete(key)
        } else if let other = try? await store.centralPath(site: site, camera: camera, sha256: sha256),
                  await files.exists(files.root + "/" + other) {
            // The same bytes stored under another name already (their chunks' message ids are the
            // same, so the stream dropped this frame's as duplicates): link the file.
            do {
                _ = try await files.duplicate(other, at: relative)
                await storeExisting(key, relative: relative)
            } catch {
                logger.error("archive: cannot link \(other) to \(relative): \(error)")
            }
        }
    }

    /// Checks what a row says against its headers and the export's rules.
    static func check(_ export: ExportRow, site: String, camera: String, path: String) throws(IngestRefusal) {
        guard export.site == site, export.camera == camera else {
            throw IngestRefusal("the row's site/camera \(export.site.prefix(40))/\(export.camera.prefix(40)) are not the headers' \(site)/\(camera)")
        }
        guard export.row.path == path else {
            throw IngestRefusal("the row's path '\(export.row.path.prefix(120))' is not the header's '\(path)'")
        }
        guard export.row.bytes >= 0, export.row.bytes <= 1 << 46 else {
            throw IngestRefusal("bytes \(export.row.bytes) is not a size from 0 to 2^46")
        }
        guard (1...FrameExport.maximumChunkBytes).contains(export.chunkBytes) else {
            throw IngestRefusal("chunk_bytes \(export.chunkBytes) is not from 1 to \(FrameExport.maximumChunkBytes)")
        }
        guard export.chunks == FrameExport.chunkCount(bytes: export.row.bytes, chunkBytes: export.chunkBytes) else {
            throw IngestRefusal("chunks \(export.chunks) does not cut \(export.row.bytes) bytes into chunks of \(export.chunkBytes)")
        }
        guard export.revision >= 1 else { throw IngestRefusal("revision \(export.revision) is not 1 or more") }
        guard FrameQuery.isNight(export.row.night) else {
            throw IngestRefusal("night '\(export.row.night.prefix(40))' is not a night YYYY-MM-DD")
        }
        for (name, value) in [("exptime", export.row.exptime), ("ccd_temp", export.row.ccdTemp), ("set_temp", export.row.setTemp),
                              ("ra", export.row.ra), ("dec", export.row.dec), ("median", export.row.median),
                              ("sigma", export.row.sigma), ("fwhm", export.row.fwhm), ("hfd", export.row.hfd)] {
            if let value, !value.isFinite { throw IngestRefusal("\(name) \(value) is not a finite number") }
        }
    }

    /// Checks the headers every message carries: names, the hash's form, and the path's shape
    /// (`YYYYMMDD/NAME.fits[.fz]`: nothing that could lead outside the central root).
    static func checkIdentity(site: String, camera: String, sha256: String, path: String) throws(IngestRefusal) {
        guard FacilityName.isValid(site) else { throw IngestRefusal("\(FrameExport.siteHeader) '\(site.prefix(40))' \(FacilityName.rule)") }
        guard FacilityName.isValid(camera) else {
            throw IngestRefusal("\(FrameExport.cameraHeader) '\(camera.prefix(40))' \(FacilityName.rule)")
        }
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw IngestRefusal("\(FrameExport.sha256Header) '\(sha256.prefix(70))' is not 64 lower-case hex digits")
        }
        guard isFramePath(path) else {
            throw IngestRefusal("path '\(path.prefix(120))' is not YYYYMMDD/NAME.fits or YYYYMMDD/NAME.fits.fz "
                                + "(NAME: letters, digits, '.', '_', '-', starting with a letter or digit; no '..')")
        }
    }

    /// Whether `path` is `YYYYMMDD/NAME.fits[.fz]`.
    public static func isFramePath(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].utf8.count == 8, parts[0].utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return false }
        let name = parts[1]
        guard (6...128).contains(name.utf8.count), !name.contains(".."), name.hasSuffix(".fits") || name.hasSuffix(".fits.fz"),
              let first = name.unicodeScalars.first, first.isASCII, CharacterSet.alphanumerics.contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    // MARK: Completion.

    /// All chunks are there: verify, place, upsert, acknowledge.
    private func complete(_ key: Key) async {
        guard let frame = pending[key], let row = frame.row, !frame.completing else { return }
        pending[key]?.completing = true
        defer { pending[key]?.completing = false }
        let export = row.export
        let spool = files.spoolPath(site: key.site, camera: key.camera, sha256: key.sha256)
        let relative = CentralFiles.relativePath(site: key.site, camera: key.camera, path: export.row.path)
        do {
            let digest = try await files.digest(spool)
            guard let digest, digest.bytes == export.row.bytes, digest.sha256 == key.sha256 else {
                let what = digest.map { "\($0.bytes) bytes hashing to \($0.sha256)" } ?? "no spool file"
                await refuse(messages(of: key), .hashMismatch, site: key.site, camera: key.camera, path: export.row.path,
                             sha256: key.sha256, "the chunks make \(what), not the row's \(export.row.bytes) bytes hashing to \(key.sha256)")
                await forget(key, removeSpool: true)
                return
            }
            guard try await files.place(spool: spool, at: relative) else {
                // A file arrived at the path meanwhile: compare with it.
                await storeExisting(key, relative: relative)
                return
            }
            counters.bytes += export.row.bytes
            await upsertAndAcknowledge(key, relative: relative)
        } catch {
            logger.error("archive: cannot store \(relative): \(error)")
            await retry(key, after: .seconds(5))
        }
    }

    /// The central file is there already: the same bytes (a re-send, a revision): upsert and
    /// acknowledge; other bytes: a conflict, never overwritten.
    private func storeExisting(_ key: Key, relative: String) async {
        guard let frame = pending[key], let row = frame.row else { return }
        let wasCompleting = frame.completing
        pending[key]?.completing = true
        defer { if !wasCompleting { pending[key]?.completing = false } }
        do {
            let digest = try await files.digest(files.root + "/" + relative)
            if let digest, digest.sha256 == key.sha256, digest.bytes == row.export.row.bytes {
                await upsertAndAcknowledge(key, relative: relative)
                await files.remove(files.spoolPath(site: key.site, camera: key.camera, sha256: key.sha256))
                return
            }
            await refuse(messages(of: key), .conflict, site: key.site, camera: key.camera, path: row.export.row.path, sha256: key.sha256,
                         "the central file \(relative) holds other bytes (\(digest?.sha256 ?? "none")): not overwritten")
            await forget(key, removeSpool: true)
        } catch {
            logger.error("archive: cannot read \(relative): \(error)")
            await retry(key, after: .seconds(5))
        }
    }

    private func upsertAndAcknowledge(_ key: Key, relative: String) async {
        guard let frame = pending[key], let row = frame.row else { return }
        do {
            let outcome = try await store.upsert(row.export, centralPath: relative)
            if outcome != .unchanged { counters.stored += 1 }
            try? await store.resolve(site: key.site, camera: key.camera, path: row.export.row.path, sha256: key.sha256)
        } catch {
            logger.error("archive: cannot write the row of \(relative): \(error)")
            await retry(key, after: .seconds(5))
            return
        }
        let messages = messages(of: key)
        pending[key] = nil
        for message in messages { await message.ack() }
        logger.debug("archive: stored \(relative) (revision \(row.export.revision))")
    }

    /// Gives the row back for a later try (the chunks stay held, already written).
    private func retry(_ key: Key, after delay: Duration) async {
        guard var frame = pending[key], let row = frame.row else { return }
        frame.row = nil
        pending[key] = frame
        counters.retried += 1
        pending[key]?.otherRows = []
        await row.message.nak(delay: delay)
        for message in frame.otherRows { await message.nak(delay: delay) }
    }

    /// Every message held for a frame (its chunks, its row, earlier rows).
    private func messages(of key: Key) -> [any IngestMessage] {
        guard let frame = pending[key] else { return [] }
        return frame.chunks.values.flatMap { $0 } + frame.otherRows + (frame.row.map { [$0.message] } ?? [])
    }

    private func forget(_ key: Key, removeSpool: Bool) async {
        pending[key] = nil
        if removeSpool { await files.remove(files.spoolPath(site: key.site, camera: key.camera, sha256: key.sha256)) }
    }

    /// Records a problem and terminates the messages: never acknowledged as stored.
    private func refuse(_ messages: [any IngestMessage], _ kind: ProblemKind, site: String, camera: String, path: String,
                        sha256: String, _ detail: String) async {
        logger.error("archive: \(kind.rawValue): \(site)/\(camera)/\(path): \(detail)")
        do {
            try await store.report(kind, site: site, camera: camera, path: String(path.prefix(400)),
                                   sha256: String(sha256.prefix(80)), detail: detail)
        } catch {
            logger.error("archive: cannot record the problem: \(error)")
        }
        counters.refused += messages.count
        for message in messages { await message.term() }
    }

    // MARK: Time.

    /// Reports the rows whose chunks did not all come within the timeout (each sent back, to
    /// come again), and forgets frames nothing came for in a long while (their messages come
    /// again by themselves). Called every second or so.
    public func sweep(now: ContinuousClock.Instant = .now) async {
        for (key, frame) in pending {
            if let row = frame.row, !frame.completing, now - row.since >= incompleteTimeout {
                let have = frame.chunks.keys
                let missing = (0..<row.export.chunks).filter { !have.contains($0) }
                let detail = "\(have.count) of \(row.export.chunks) chunks after \(incompleteTimeout.seconds) s; missing "
                    + missing.prefix(20).map(String.init).joined(separator: ", ") + (missing.count > 20 ? ", ..." : "")
                logger.error("archive: incomplete: \(key.site)/\(key.camera)/\(row.export.row.path): \(detail)")
                try? await store.report(.incomplete, site: key.site, camera: key.camera, path: row.export.row.path,
                                        sha256: key.sha256, detail: detail)
                await retry(key, after: .seconds(1))
            } else if frame.row == nil, now - frame.touched >= incompleteTimeout * 4 {
                pending[key] = nil
            }
        }
    }
}

/// Why the ingest refused a message: the field, the value and the rule.
struct IngestRefusal: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

extension Error {
    /// The refusal's reason, or the error's description.
    var reason: String { (self as? IngestRefusal)?.reason ?? "\(self)" }
}
