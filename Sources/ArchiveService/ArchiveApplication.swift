import ApertureConfig
import ApertureProtocol
import Bus
import ChildRuntime
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// aperture-archive: the facility's central archive (docs/archive.md). It consumes the export
/// stream into the central data root and PostgreSQL and serves `/v1/frames` across every site
/// and camera, `/v1/cameras`, `/v1/problems` and the facility dashboard on `archive.listen`.
public enum ArchiveApplication {
    /// Builds the archive's services.
    /// - Parameters:
    ///   - context: the child's context.
    ///   - commands: the control socket's router (`ping` is already there).
    /// - Returns: the services to run: the database pool, the HTTP listener, the start-up
    ///   (migrations, then ready) and the ingest's clock, and the stream's consumer.
    /// - Throws: ``ConfigurationError`` naming the key at fault (`archive.root`, `archive.postgres_password_file`).
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        let parts = try ArchiveParts(configuration: context.configuration, logger: context.logger)
        let settings = context.configuration.archive
        let readiness = context.readiness
        let logger = context.logger
        let app = Application(
            router: parts.router(),
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "aperture-archive"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? settings.port
                logger.info("archive: HTTP listening on http://\(settings.host.contains(":") ? "[\(settings.host)]" : settings.host):\(port)")
            },
            logger: logger)
        return [parts.store.client, app, ArchiveStartService(parts: parts, readiness: readiness),
                StreamConsumerService(parts: parts, configuration: context.configuration)]
    }
}

/// What the archive is made of, built from the configuration.
public struct ArchiveParts: Sendable {
    /// The database.
    public let store: ArchiveStore
    /// The central root.
    public let files: CentralFiles
    /// The ingest.
    public let ingest: FrameIngest
    /// The consumer's state, for `/healthz` and `/metrics`.
    public let monitor = ConsumerMonitor()
    /// The archive's logger.
    public let logger: Logger

    /// Builds the parts; nothing connects yet.
    /// - Throws: ``ConfigurationError`` naming `archive.root` or `archive.postgres_password_file`.
    public init(configuration: ApertureConfiguration, logger: Logger) throws {
        let settings = configuration.archive
        guard settings.ackWait > settings.incompleteTimeout else {
            throw ConfigurationError("archive.ack_wait = \(settings.ackWait.seconds): must be more than archive.incomplete_timeout "
                                     + "(\(settings.incompleteTimeout.seconds)), or a frame's chunks come again while its row waits",
                                     key: "archive.ack_wait")
        }
        var password: String?
        if let file = settings.postgresPasswordFile {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConfigurationError("archive.postgres_password_file = '\(file)': cannot be read", key: "archive.postgres_password_file")
            }
            password = text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        }
        do {
            files = try CentralFiles(root: settings.root)
        } catch {
            throw ConfigurationError("archive.root = '\(settings.root)': cannot be created (\(error))", key: "archive.root")
        }
        store = ArchiveStore(host: settings.postgres.host, port: settings.postgres.port, user: settings.postgres.user,
                             database: settings.postgres.database, password: password, logger: logger)
        ingest = FrameIngest(files: files, store: store, incompleteTimeout: settings.incompleteTimeout, logger: logger)
        self.logger = logger
    }

    /// The HTTP routes.
    public func router() -> Router<BasicRequestContext> {
        ArchiveRoutes.router(store: store, files: files, ingest: ingest, monitor: monitor)
    }
}

/// Brings the schema up to date (retrying while PostgreSQL is not there yet), then marks the
/// archive ready and runs the ingest's clock (``FrameIngest/sweep(now:)``, every second) and the
/// database's health check (every 2 s).
struct ArchiveStartService: Service {
    let parts: ArchiveParts
    let readiness: Readiness

    func run() async throws {
        var delay = Duration.milliseconds(200)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                let version = try await parts.store.migrate()
                parts.monitor.databaseAnswered()
                parts.logger.info("archive: database ready (schema version \(version))")
                break
            } catch {
                parts.logger.error("archive: the database is not reachable yet: \(String(reflecting: error))")
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        readiness.set(true)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    await parts.ingest.sweep()
                }
            }
            // The database's health for /healthz: asked every 2 s, apart from any request.
            group.addTask {
                while !Task.isShuttingDownGracefully && !Task.isCancelled {
                    if (try? await parts.store.schemaVersion()) != nil { parts.monitor.databaseAnswered() }
                    try? await Task.sleep(for: .seconds(2))
                }
            }
            await group.waitForAll()
        }
    }
}
