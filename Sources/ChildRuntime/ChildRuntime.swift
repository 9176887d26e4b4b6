import ApertureConfig
import ApertureLogging
import Bus
import Foundation
import Logging
import ProcessSupport
import ServiceLifecycle
import Synchronization
import UnixSignals

/// What a child process's services get from the common start-up.
public struct ChildContext: Sendable {
    /// The executable's name, e.g. `aperture-camera`.
    public let process: String
    /// The loaded configuration.
    public let configuration: ApertureConfiguration
    /// The bus's runtime directory.
    public let runtime: RuntimeDirectory
    /// The process's logger.
    public let logger: Logger
    /// Set once the process is ready; reported by `ping`.
    public let readiness: Readiness
    /// A check run by every `ping`: a process whose work is wedged stops answering pings.
    public let health: HealthCheck
}

/// A check `ping` runs: when it returns a reason, the ping fails with `internal` and the
/// reason, so the supervisor counts it as missed and eventually restarts the process (a camera
/// SDK call that never returns leaves the bus thread alive; this makes the hang visible).
public final class HealthCheck: Sendable {
    private let check = Mutex<(@Sendable () -> String?)?>(nil)
    /// Creates a check that passes until ``install(_:)`` gives it a body.
    public init() {}
    /// Installs the check.
    public func install(_ body: @escaping @Sendable () -> String?) { check.withLock { $0 = body } }
    /// The reason the process is unhealthy, or nil.
    public var problem: String? { check.withLock { $0 }?() }
}

/// A flag a child raises once it can do its job (reported in `ping` replies).
public final class Readiness: Sendable {
    private let flag = Atomic<Bool>(false)
    /// Creates a flag that is not raised.
    public init() {}
    /// Whether the process is ready.
    public var isReady: Bool { flag.load(ordering: .acquiring) }
    /// Marks the process ready (or not).
    public func set(_ ready: Bool) { flag.store(ready, ordering: .releasing) }
}

/// Options every child takes on its command line.
public struct ChildOptions: Sendable, Equatable {
    /// `--config PATH`
    public var configPath: String?
    /// `--runtime-dir PATH`
    public var runtimeDirectory: String?

    /// Parses `--config PATH`, `--runtime-dir PATH` (and `=` forms).
    /// - Parameter arguments: the arguments after the program name.
    /// - Throws: ``ConfigurationError`` naming an unknown or incomplete option.
    public static func parse(_ arguments: [String]) throws(ConfigurationError) -> ChildOptions {
        var options = ChildOptions()
        var index = 0
        while index < arguments.count {
            var argument = arguments[index]
            var value: String?
            if let equals = argument.firstIndex(of: "="), argument.hasPrefix("--") {
                value = String(argument[argument.index(after: equals)...])
                argument = String(argument[..<equals])
            }
            func take() throws(ConfigurationError) -> String {
                if let value { return value }
                index += 1
                guard index < arguments.count else { throw ConfigurationError("option \(argument) needs a value") }
                return arguments[index]
            }
            switch argument {
            case "--config": options.configPath = try take()
            case "--runtime-dir": options.runtimeDirectory = try take()
            default: throw ConfigurationError("unknown option '\(argument)'; options: --config PATH, --runtime-dir PATH")
            }
            index += 1
        }
        return options
    }
}

/// A reply server run as a service: it answers until graceful shutdown, then closes.
public struct ControlServerService: Service {
    let server: ReplyServer

    /// Creates the service for a server that is already listening.
    public init(server: ReplyServer) { self.server = server }

    /// Answers requests until graceful shutdown, then closes the socket.
    public func run() async throws {
        await withGracefulShutdownHandler {
            await server.run()
        } onGracefulShutdown: {
            server.close()
        }
    }
}

/// The start-up every child shares: options, configuration, logging, the runtime directory,
/// the parent watch, a control socket answering `ping`, and a service group that shuts down
/// gracefully on SIGTERM/SIGINT or when the supervisor is gone.
public enum ChildProcessRuntime {
    /// Runs a child process to completion and returns its exit status.
    /// - Parameters:
    ///   - process: the executable's name.
    ///   - controlSocket: its control socket's name in the runtime directory.
    ///   - arguments: the command-line arguments after the program name.
    ///   - build: registers the process's commands and returns its services; throwing stops
    ///     the process with an error message.
    /// - Returns: 0 after a clean shutdown, 78 for a configuration error, 73 when the runtime
    ///   directory cannot be prepared, 1 for a failure.
    public static func run(
        process: String, controlSocket: String, arguments: [String],
        build: @Sendable (ChildContext, inout CommandRouter) async throws -> [any Service]
    ) async -> Int32 {
        let startTime = ContinuousClock.now
        SignalMask.unblockTerminationSignals()
        let configuration: ApertureConfiguration
        do {
            configuration = try loadConfiguration(arguments: arguments)
        } catch {
            FileHandle.standardError.write(Data("\(process): \(error)\n".utf8))
            return 78
        }

        LoggingSetup.bootstrap(identifier: process, level: configuration.log.level.rawValue)
        let logger = Logger(label: process)

        let runtime: RuntimeDirectory
        do {
            runtime = try RuntimeDirectory.prepare(configuration.storage.runtimeDirectory)
        } catch {
            logger.critical("\(error.message)")
            return 73
        }

        let readiness = Readiness()
        let health = HealthCheck()
        let context = ChildContext(process: process, configuration: configuration, runtime: runtime,
                                   logger: logger, readiness: readiness, health: health)
        var router = controlRouter(process: process, readiness: readiness, health: health, startTime: startTime)

        do {
            let services = try await build(context, &router)
            let server = try ReplyServer(listening: runtime.endpoint(controlSocket), router: router, logger: logger)
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: ControlServerService(server: server))]
                    + services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
            ParentWatch.start { [logger] in
                logger.warning("the supervisor is gone; shutting down")
                Task { await group.triggerGracefulShutdown() }
                // If shutting down hangs (a wedged driver), leave anyway.
                Thread.sleep(forTimeInterval: 10)
                _exit(1)
            }
            logger.info("started", metadata: ["bus.control": "\(server.endpoint)"])
            try await group.run()
            logger.info("stopped")
            return 0
        } catch let error as BusError {
            logger.critical("cannot start: \(error.message)")
            return 1
        } catch {
            logger.critical("failed: \(error)")
            return 1
        }
    }

    /// The start-up's first step, apart from ``run(process:controlSocket:arguments:build:)`` so
    /// that tests reach it: the options, the configuration file and the environment, then
    /// `--runtime-dir` over both.
    /// - Parameters:
    ///   - arguments: the command-line arguments after the program name.
    ///   - environment: the environment the configuration reads (`APERTURE_*`).
    /// - Throws: ``ConfigurationError`` naming the unknown option, the file or the key at fault;
    ///   ``run(process:controlSocket:arguments:build:)`` prints it and exits with 78.
    public static func loadConfiguration(
        arguments: [String], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ApertureConfiguration {
        let options = try ChildOptions.parse(arguments)
        var configuration = try ApertureConfiguration.load(path: options.configPath, environment: environment)
        if let runtime = options.runtimeDirectory {
            try configuration.set("runtime.directory", runtime, source: "option --runtime-dir")
        }
        return configuration
    }

    /// The control socket's commands before the process adds its own, apart from
    /// ``run(process:controlSocket:arguments:build:)`` so that tests can serve them: `ping`,
    /// answered with the process's name, pid, uptime and readiness, or refused with `internal`
    /// and the reason while `health` reports a problem.
    public static func controlRouter(
        process: String, readiness: Readiness, health: HealthCheck, startTime: ContinuousClock.Instant = .now
    ) -> CommandRouter {
        var router = CommandRouter()
        let pid = getpid()
        router.register(Ping.self) { _ in
            if let problem = health.problem { throw BusError(.internal, problem) }
            return PingReply(process: process, pid: pid,
                      uptime: (ContinuousClock.now - startTime).seconds, ready: readiness.isReady)
        }
        return router
    }
}
