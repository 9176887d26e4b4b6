import ApertureConfig
import ApertureProtocol
import Bus
import ChildRuntime
import Foundation
import Logging
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

/// The catalog process: follows `camera.events` and `processor.events` into the catalog
/// database (STATE/catalog.sqlite), reconciles it with the data folders, and answers catalog.ctl.
public enum CatalogApplication {
    /// The database's file name in the state directory.
    public static let databaseName = "catalog.sqlite"

    /// Builds the catalog's commands and services.
    /// - Parameters:
    ///   - context: the child's context.
    ///   - commands: the control socket's router (`ping` is already there).
    /// - Returns: the services to run.
    /// - Throws: when the state directory or the database cannot be opened (the message names the path).
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        let state = context.configuration.storage.stateDirectory
        do {
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create the state directory \(state) (state.directory): \(error.localizedDescription)")
        }
        let path = state + "/" + databaseName
        let database: CatalogDatabase
        do {
            database = try CatalogDatabase(path: path)
        } catch {
            throw ConfigurationError("cannot open the catalog database \(path): \(error)")
        }
        let catalog = FrameCatalog(root: context.configuration.storage.dataRoot, database: database, logger: context.logger)
        commands.register(CatalogFramesCommand.self) { query in try await catalog.database.frames(query) }
        commands.register(CatalogFrameCommand.self) { arguments in try await catalog.database.frame(id: arguments.id) }
        commands.register(CatalogSummaryCommand.self) { query in try await catalog.database.summary(query) }
        commands.register(CatalogReconcileCommand.self) { _ in
            // One already running goes again and answers nothing of its own: run ours after it.
            while true {
                if let report = try await catalog.reconcile() { return report }
                try await Task.sleep(for: .milliseconds(50))
            }
        }
        commands.register(CatalogRebuildCommand.self) { _ in try await catalog.rebuild() }
        commands.register(CatalogVerifyCommand.self) { _ in try await catalog.verify() }
        commands.register(CatalogStatusCommand.self) { _ in try await catalog.status() }
        let events = try Publisher(listening: context.runtime.endpoint(EndpointName.catalogEvents))
        let sequencer = Sequencer(catalog: catalog,
                                  camera: try RequestClient(dialing: context.runtime.endpoint(EndpointName.cameraControl)),
                                  events: events, site: context.configuration.site, logger: context.logger)
        let exporter = FrameExporter(database: database, root: context.configuration.storage.dataRoot,
                                     configuration: context.configuration, events: events, logger: context.logger)
        commands.register(ExportStatusCommand.self) { _ in await exporter.status() }
        commands.register(ExportPauseCommand.self) { _ in try await exporter.setPaused(true) }
        commands.register(ExportResumeCommand.self) { _ in try await exporter.setPaused(false) }
        registerPlans(&commands, sequencer)
        MasterCommands(catalog: catalog, logger: context.logger).register(in: &commands)
        // Background work: under a full CPU the camera, the processor and the gateway go first
        // (a frame's row may wait; the camera's save rate must not).
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10) != 0 {
            context.logger.warning("cannot lower the catalog's priority (nice 10): \(String(cString: strerror(errno)))")
        }
        context.readiness.set(true)
        return [CatalogFollowService(catalog: catalog, sequencer: sequencer, exporter: exporter, runtime: context.runtime,
                                     interval: context.configuration.catalog.reconcileInterval, logger: context.logger),
                SequencerService(sequencer: sequencer),
                ExportService(exporter: exporter),
                ExportStatusService(exporter: exporter, enabled: context.configuration.export.enabled, events: events,
                                    runtime: context.runtime, site: context.configuration.site.name, camera: context.configuration.camera.name,
                                    logger: context.logger)]
    }

    /// The plan queue's commands (`plan.*`), answered by the sequencer.
    static func registerPlans(_ commands: inout CommandRouter, _ sequencer: Sequencer) {
        commands.register(PlanSubmitCommand.self) { document in try await sequencer.submit(document) }
        commands.register(PlanListCommand.self) { arguments in .init(plans: try await sequencer.list(arguments)) }
        commands.register(PlanGetCommand.self) { plan in try await sequencer.get(plan.id) }
        commands.register(PlanPauseCommand.self) { plan in try await sequencer.pause(plan.id) }
        commands.register(PlanResumeCommand.self) { plan in try await sequencer.resume(plan.id) }
        commands.register(PlanCancelCommand.self) { plan in try await sequencer.cancel(plan.id) }
        commands.register(PlanMoveCommand.self) { arguments in try await sequencer.move(arguments.id, to: arguments.position) }
        commands.register(CalibrationSetCommand.self) { request in try await sequencer.calibrationSet(request) }
    }
}

/// Follows the events, and reconciles at start, after lost events and every interval.
struct CatalogFollowService: Service {
    let catalog: FrameCatalog
    /// Told of each plan whose frames were catalogued (its progress is published).
    let sequencer: Sequencer?
    /// Told when rows were added or changed (something may be due for export).
    var exporter: FrameExporter? = nil
    let runtime: RuntimeDirectory
    let interval: Duration
    let logger: Logger

    func run() async throws {
        // Large buffers: a burst of frames waits here rather than being dropped (a drop is
        // caught by the next reconcile, but costs a folder listing). One subscription for the
        // frames and the exposures' ends: each subscriber receives every event the camera
        // publishes (NNG filters topics on the subscriber's side), about 7 a frame.
        let frames = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents),
                                    topics: [CameraTopic.frame, CameraTopic.exposure], bufferSize: 8192)
        let results = try Subscriber(dialing: runtime.endpoint(EndpointName.processorEvents),
                                     topics: [ProcessorTopic.result], bufferSize: 8192)
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await follow(frames) }
                group.addTask {
                    while let batch = await Self.batch(from: results) {
                        await catalog.processed(batch.compactMap { try? $0.decode(ProcessorResult.self) })
                        await exporter?.nudge()
                    }
                }
                group.addTask { await reconcileEvery(interval) }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            frames.close()
            results.close()
        }
    }

    /// Catalogues each saved frame, a burst in one transaction (``batch(from:)``), then tells the
    /// sequencer of the exposures that ended (after their frames' rows); a gap in the sequence
    /// numbers (events lost) starts a reconcile.
    private func follow(_ frames: Subscriber) async {
        var dropped = 0
        while let batch = await Self.batch(from: frames) {
            let notices = batch.filter { $0.topic == CameraTopic.frame }.compactMap { try? $0.decode(FrameNotice.self) }
            let plans = await catalog.framesSaved(notices)
            if let sequencer {
                if !plans.isEmpty { await sequencer.framesCatalogued(plans) }
                for event in batch where event.topic == CameraTopic.exposure {
                    if let record = try? event.decode(ExposureRecord.self) { await sequencer.exposureEnded(record) }
                }
            }
            await exporter?.nudge()
            let now = frames.dropped
            if now > dropped {
                catalog.lost(now - dropped)
                logger.warning("\(now - dropped) frame event(s) lost: reconciling with the data folders")
                dropped = now
                Task { try? await catalog.reconcile() }
            }
        }
    }

    /// How long events are gathered after the first one before they are written together: one
    /// commit for a burst instead of one per frame (the disk the camera fsyncs to is the one
    /// SQLite writes to), well within the second a row may take.
    static let batchWindow: Duration = .milliseconds(50)

    /// The most events written in one transaction.
    static let batchLimit = 256

    /// The next events: the first one waited for, then whatever comes within ``batchWindow``
    /// (``batchLimit`` at most); nil once the subscriber is closed. The window is one sleep, and
    /// the events that came meanwhile are taken at once: at hundreds of frames a second, a task
    /// woken for each event cost the catalog more than writing its row.
    static func batch(from subscriber: Subscriber) async -> [BusEvent]? {
        guard let first = try? await subscriber.next() else { return nil }
        var batch = [first] + subscriber.available(limit: batchLimit - 1)
        if batch.count < batchLimit {
            try? await Task.sleep(for: batchWindow)
            batch += subscriber.available(limit: batchLimit - batch.count)
        }
        return batch
    }

    private func reconcileEvery(_ interval: Duration) async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await catalog.reconcile()
            } catch {
                logger.error("reconcile failed: \(error)")
            }
            try? await Task.sleep(for: interval)
        }
    }
}

/// Runs the export (``FrameExporter``) until the catalog stops.
struct ExportService: Service {
    let exporter: FrameExporter

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await exporter.run()
        }
        // Export off (or its options refused, which the status reports): a service that ends
        // would end the catalog, so this one waits for the shutdown.
        try? await gracefulShutdown()
    }
}
