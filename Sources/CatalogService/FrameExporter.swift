import ApertureConfig
import ApertureProtocol
import Bus
import FacilityBus
import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// Sends every catalogued frame to the facility's JetStream stream (issue 16,
/// docs/scale-out.md): the file in chunks, then the row, each with a message id that makes a
/// re-send harmless; records what the server acknowledged in the catalog (the outbox); while
/// NATS is unreachable it backs off and the catalog goes on cataloguing; when NATS returns it
/// sends everything due, oldest first. The camera never waits for it: it reads the files
/// after the fact, in the catalog process, at a lower priority than the camera.
///
/// It lives in the catalog process because the catalog's database is the outbox and has one
/// writer: recording an acknowledgment is a write to the row it concerns.
package actor FrameExporter {
    private let database: CatalogDatabase
    private let root: String
    private let nats: ApertureConfiguration.NATS
    private let settings: ApertureConfiguration.Export
    private let site: String
    private let camera: String
    private let logger: Logger
    private let events: Publisher?
    private var connection: NATSConnection?
    private var jetStream: JetStream?
    private var streamReady = false
    private var current: ExportStatus
    private var waiter: CheckedContinuation<Void, Never>?
    private var woken = false
    /// Frames whose file could not be read (gone or changed since catalogued): skipped until
    /// the catalog's row changes (a reconcile re-hashes it) or the process restarts.
    private var unreadable: [Int64: String] = [:]

    /// The key under which a pause is kept in the catalog's settings.
    static let pausedSetting = "export.paused"

    /// An exporter; ``run()`` starts it.
    package init(database: CatalogDatabase, root: String, configuration: ApertureConfiguration, events: Publisher?, logger: Logger) {
        self.database = database
        self.root = root
        self.nats = configuration.nats
        self.settings = configuration.export
        self.site = configuration.site.name
        self.camera = configuration.camera.name
        self.events = events
        self.logger = logger
        current = ExportStatus(enabled: configuration.export.enabled, paused: false, stream: configuration.nats.stream)
    }

    /// The live-status connection (nil while export is off).
    package var facilityConnection: NATSConnection? { connection }

    /// Runs until cancelled: connects, then sends what is due whenever there is something and
    /// it is neither paused nor cut off.
    package func run() async {
        guard settings.enabled else { return }
        current.paused = (try? await database.setting(Self.pausedSetting)) == "true"
        do {
            connection = try NATSConnection(NATSOptions(nats, name: "aperture-catalog \(site)/\(camera)"))
            jetStream = try connection?.jetStream(timeout: settings.ackTimeout)
        } catch {
            current.lastError = "\(error)"
            logger.error("export: cannot use NATS at \(nats.url): \(error)")
            return
        }
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            current.connected = connection?.isConnected ?? false
            if current.paused {
                await sleep(upTo: .seconds(1))
                continue
            }
            guard current.connected else {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            do {
                let sent = try await sendDue()
                backoff = .milliseconds(100)
                if sent == 0 { await sleep(upTo: .seconds(1)) }
            } catch is CancellationError {
                break
            } catch {
                current.failures += 1
                current.lastError = "\(error)"
                streamReady = false
                logger.warning("export: \(error); trying again in \(backoff)")
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, settings.backoffMaximum)
            }
        }
        connection?.close()
    }

    /// Waits for ``nudge()``, or `limit` at most.
    private func sleep(upTo limit: Duration) async {
        if woken {
            woken = false
            return
        }
        let timer = Task { [weak self] in
            try? await Task.sleep(for: limit)
            await self?.nudge()
        }
        await withCheckedContinuation { waiter = $0 }
        timer.cancel()
        woken = false
    }

    /// Frames were catalogued (or the export resumed): something may be due.
    package func nudge() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        } else {
            woken = true
        }
    }

    /// Sends the rows due, oldest first, several frames at once (as many as fit
    /// `export.window` messages in flight, at most 8); returns how many went. What was
    /// acknowledged is recorded in one transaction, also when another frame failed (then the
    /// failure is thrown after).
    private func sendDue() async throws -> Int {
        guard let jetStream else { return 0 }
        if !streamReady {
            // A camera host makes sure the stream exists; its settings are the archive's to set.
            try await jetStream.ensureStream(.frames(nats), updating: false)
            streamReady = true
        }
        let items = try await database.exportsDue(limit: 64).filter { item in
            guard let skipped = unreadable[item.id] else { return true }
            if skipped == item.sha256 { return false }
            unreadable[item.id] = nil
            return true
        }
        guard let first = items.first else { return 0 }
        let messages = first.fileAcknowledged ? 1 : FrameExport.chunkCount(bytes: first.bytes, chunkBytes: settings.chunkBytes) + 1
        let parallel = min(8, max(1, settings.window / messages))
        let outcomes = await withTaskGroup(of: (CatalogDatabase.ExportItem, Result<Bool, any Error>).self) { group in
            var outcomes: [(CatalogDatabase.ExportItem, Result<Bool, any Error>)] = []
            var running = 0
            for item in items {
                if current.paused || outcomes.contains(where: { if case .failure = $0.1 { true } else { false } }) { break }
                if running >= parallel, let outcome = await group.next() {
                    running -= 1
                    outcomes.append(outcome)
                }
                group.addTask {
                    do {
                        return (item, .success(try await self.send(item, through: jetStream)))
                    } catch {
                        return (item, .failure(error))
                    }
                }
                running += 1
            }
            for await outcome in group { outcomes.append(outcome) }
            return outcomes
        }
        let acknowledged = outcomes.compactMap { outcome in (try? outcome.1.get()) == true ? outcome.0 : nil }
        let failure = outcomes.lazy.compactMap { outcome -> (any Error)? in
            if case .failure(let error) = outcome.1 { error } else { nil }
        }.first
        if !acknowledged.isEmpty { try await recordAcknowledged(acknowledged) }
        if let failure { throw failure }
        return acknowledged.count
    }

    /// Records what the stream acknowledged, and the figures of the status.
    private func recordAcknowledged(_ items: [CatalogDatabase.ExportItem]) async throws {
        let now = Date()
        try await database.exportAcknowledged(items, at: FrameTime.canonical(now))
        for item in items where !item.fileAcknowledged {
            current.sentFrames += 1
            current.sentBytes += item.bytes
        }
        if let last = items.max(by: { $0.id < $1.id }) {
            current.lastAcknowledged = FrameTime.canonical(now)
            current.lastLagSeconds = max(0, now.timeIntervalSince1970 - last.modified)
            current.lastPath = last.path
        }
        current.lastError = nil
    }

    /// Sends one frame: its file (unless the stream has these bytes) in chunks and its row, all
    /// in flight at once, then waits for every acknowledgment.
    /// - Returns: whether it went (false: skipped, its file unreadable or its row changed).
    private func send(_ item: CatalogDatabase.ExportItem, through jetStream: JetStream) async throws -> Bool {
        var row = try await database.frame(id: item.id)
        guard row.sha256 == item.sha256 else { return false }  // changed meanwhile: due again
        row.site = row.site ?? site
        row.camera = row.camera ?? camera
        let chunkBytes = settings.chunkBytes
        let chunks = FrameExport.chunkCount(bytes: item.bytes, chunkBytes: chunkBytes)
        let subject = FrameExport.subject(site: site, camera: camera)
        var headers = [FrameExport.siteHeader: site, FrameExport.cameraHeader: camera, FrameExport.pathHeader: item.path,
                       FrameExport.sha256Header: item.sha256, FrameExport.bytesHeader: String(item.bytes)]
        var messages: [(data: [UInt8], headers: [String: String], id: String)] = []
        if !item.fileAcknowledged {
            do {
                messages = try chunkMessages(item, chunks: chunks, chunkBytes: chunkBytes, headers: headers)
            } catch let error as UnreadableFile {
                unreadable[item.id] = item.sha256
                logger.error("export: \(error.message): skipped until the catalog's row changes")
                current.lastError = error.message
                return false
            }
        }
        let body = ExportRow(site: site, camera: camera, chunks: chunks, chunkBytes: chunkBytes, revision: item.revision,
                             catalogued: item.added, row: row)
        headers[FrameExport.kindHeader] = "row"
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        messages.append((Array(try encoder.encode(body)), headers,
                         FrameExport.rowID(site: site, camera: camera, sha256: item.sha256, revision: item.revision)))
        // Published in order on one connection (the row after the chunks); acknowledged in any order.
        let timeout = settings.ackTimeout
        let duplicates = try await withThrowingTaskGroup(of: Bool.self) { group in
            for message in messages {
                group.addTask {
                    try await jetStream.publish(subject: subject, data: message.data, headers: message.headers,
                                                messageID: message.id, timeout: timeout).duplicate
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        current.duplicates += duplicates
        return true
    }

    /// A file that cannot be sent as catalogued.
    struct UnreadableFile: Error {
        let message: String
    }

    /// Reads a file's chunks, with their headers and message ids.
    private func chunkMessages(_ item: CatalogDatabase.ExportItem, chunks: Int, chunkBytes: Int,
                               headers: [String: String]) throws -> [(data: [UInt8], headers: [String: String], id: String)] {
        let path = root + "/" + item.path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw UnreadableFile(message: "cannot open \(item.path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, Int64(info.st_size) == item.bytes else {
            throw UnreadableFile(message: "\(item.path) is no longer \(item.bytes) bytes as catalogued")
        }
        return try (0..<chunks).map { index in
            let offset = Int64(index) * Int64(chunkBytes)
            let data = try Self.read(descriptor, count: Int(min(Int64(chunkBytes), item.bytes - offset)), at: offset, path: item.path)
            var chunkHeaders = headers
            chunkHeaders[FrameExport.kindHeader] = "chunk"
            chunkHeaders[FrameExport.chunkHeader] = "\(index)/\(chunks)"
            return (data, chunkHeaders, FrameExport.chunkID(site: site, camera: camera, sha256: item.sha256, index: index))
        }
    }

    /// Reads `count` bytes at `offset`.
    private static func read(_ descriptor: Int32, count: Int, at offset: Int64, path: String) throws -> [UInt8] {
        var failedAt: Int64?
        let data = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let got = pread(descriptor, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                if got < 0 && errno == EINTR { continue }
                guard got > 0 else {
                    failedAt = offset + Int64(done)
                    break
                }
                done += got
            }
            initialized = done
        }
        if let failedAt { throw UnreadableFile(message: "cannot read \(path) at \(failedAt)") }
        return data
    }

    // MARK: - Control

    /// The status now, with the backlog counted afresh.
    package func status() async -> ExportStatus {
        if let backlog = try? await database.exportBacklog() {
            current.backlogFrames = backlog.frames
            current.backlogBytes = backlog.bytes
            current.lagSeconds = backlog.oldest.flatMap(FrameTime.parse).map { max(0, Date().timeIntervalSince($0)) } ?? 0
        }
        current.connected = connection?.isConnected ?? false
        current.server = current.connected ? connection?.connectedURL : nil
        return current
    }

    /// Pauses (or resumes) sending; kept across restarts.
    /// - Throws: `not_configured` when export is off.
    package func setPaused(_ paused: Bool) async throws -> ExportStatus {
        guard settings.enabled else {
            throw BusError(.notConfigured, "export is off (export.enabled = false)", field: "export.enabled")
        }
        try await database.setSetting(Self.pausedSetting, paused ? "true" : "false")
        current.paused = paused
        logger.notice(paused ? "export paused" : "export resumed")
        nudge()
        let status = await status()
        try? events?.publish(CatalogTopic.export, status)
        return status
    }
}


/// Publishes the export's status on catalog.events, at each change, every second while frames wait, and every 30 s (the gateway's `/v1/export`
/// events, metrics and dashboard) and, with the camera's state and telemetry, as the instance's
/// live status on core NATS (`aperture.SITE.CAMERA.state|telemetry|export`) for the facility.
struct ExportStatusService: Service {
    let exporter: FrameExporter
    /// `export.enabled`: without it the status never changes and there is no NATS to tell.
    let enabled: Bool
    let events: Publisher
    let runtime: RuntimeDirectory
    let site: String
    let camera: String
    let logger: Logger

    func run() async throws {
        guard enabled else {
            // Said once; no backlog to count every second, no telemetry to forward. Returning
            // would end the catalog: wait for the shutdown instead.
            try? events.publish(CatalogTopic.export, await exporter.status())
            try? await gracefulShutdown()
            return
        }
        let camera = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents),
                                    topics: [CameraTopic.state, CameraTopic.telemetry], bufferSize: 256)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await forward(camera) }
                group.addTask {
                    var published: ExportStatus?
                    var publishedAt = ContinuousClock.now
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        let status = await exporter.status()
                        // On a change, every second while frames wait (the lag grows), and every 30 s besides.
                        let due = status != published || status.backlogFrames > 0 || ContinuousClock.now - publishedAt >= .seconds(30)
                        if due {
                            try? events.publish(CatalogTopic.export, status)
                            published = status
                            publishedAt = .now
                        }
                        var live = LiveStatus(site: site, camera: self.camera, time: FrameTime.canonical(Date()))
                        live.export = status
                        await publish(live, kind: "export")
                        try? await Task.sleep(for: .seconds(1))
                    }
                }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            camera.close()
        }
    }

    /// Re-publishes the camera's state changes and telemetry for the facility.
    private func forward(_ subscriber: Subscriber) async {
        while let event = try? await subscriber.next() {
            var live = LiveStatus(site: site, camera: camera, time: FrameTime.canonical(Date()))
            if event.topic == CameraTopic.state, let state = try? event.decode(CameraStateEvent.self) {
                live.state = state.state.rawValue
                live.exposureId = state.exposureId
                await publish(live, kind: "state")
            } else if let telemetry = try? event.decode(TelemetryEvent.self) {
                live.state = telemetry.state.rawValue
                live.connected = telemetry.connected
                live.temperature = telemetry.temperature
                await publish(live, kind: "telemetry")
            }
        }
    }

    /// Publishes on core NATS when connected (live status is not queued: a newer one follows).
    private func publish(_ status: LiveStatus, kind: String) async {
        guard let connection = await exporter.facilityConnection, connection.isConnected,
              let body = try? JSONEncoder().encode(status) else { return }
        do {
            try connection.publish(FrameExport.statusSubject(site: site, camera: camera, kind: kind), Array(body))
        } catch {
            logger.debug("live status not sent: \(error)")
        }
    }
}
