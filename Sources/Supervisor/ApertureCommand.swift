import ApertureConfig
import ApertureLogging
import ArgumentParser
import ApertureProtocol
import Bus
import Foundation
import Logging
import ProcessSupport
import ServiceLifecycle
import Supervision
import UnixSignals

/// `aperture`: the service (`aperture run`, the default) and its control command line.
@main
struct ApertureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture",
        abstract: "Aperture: a camera service for observatories and labs.",
        discussion: """
            With no subcommand, runs the service: the supervisor and its children \
            (aperture-camera, aperture-processor, aperture-catalog, aperture-gateway). The other subcommands \
            talk to a running service over its runtime directory's supervisor.ctl socket.
            Logs: `journalctl -u aperture` under systemd (`-t aperture-camera` for one child).
            """,
        subcommands: [Run.self, Status.self, Stop.self, Restart.self, CameraCommand.self, CatalogCommand.self, PlanCommand.self, CalibrationCommand.self, Logs.self, ConfigCommand.self],
        defaultSubcommand: Run.self)
}

/// Options shared by every subcommand.
struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: "The configuration file (default: $APERTURE_CONFIG, else built-in defaults).")
    var config: String?

    @Option(name: .customLong("runtime-dir"), help: "The bus's runtime directory (overrides runtime.directory).")
    var runtimeDirectory: String?

    /// Loads the configuration or exits with a message naming the key (exit code 78).
    func loadConfiguration() throws -> ApertureConfiguration {
        do {
            var configuration = try ApertureConfiguration.load(path: config)
            if let runtimeDirectory {
                try configuration.set("runtime.directory", runtimeDirectory, source: "option --runtime-dir")
            }
            return configuration
        } catch {
            FileHandle.standardError.write(Data("aperture: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }
}

/// What `aperture run` supervises: a camera host's children, or the facility archive.
enum Role: String, ExpressibleByArgument, CaseIterable {
    /// aperture-camera, aperture-processor, aperture-catalog, aperture-gateway.
    case camera
    /// aperture-archive (docs/archive.md).
    case archive
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the service (the default).")

    @OptionGroup var options: CommonOptions

    @Option(help: "What to supervise: camera (a camera host's four children) or archive (aperture-archive, the facility archive).")
    var role: Role = .camera

    func run() async throws {
        SignalMask.unblockTerminationSignals()
        let configuration = try options.loadConfiguration()
        LoggingSetup.bootstrap(identifier: "aperture", level: configuration.log.level.rawValue)
        let logger = Logger(label: "aperture")

        let runtime: RuntimeDirectory
        do {
            runtime = try RuntimeDirectory.prepare(configuration.storage.runtimeDirectory)
        } catch {
            logger.critical("\(error.message)")
            FileHandle.standardError.write(Data("aperture: \(error.message)\n".utf8))
            throw ExitCode(73)
        }

        var childArguments = ["--runtime-dir", runtime.path]
        if let path = options.config ?? ProcessInfo.processInfo.environment["APERTURE_CONFIG"] {
            childArguments += ["--config", URL(fileURLWithPath: path).standardizedFileURL.path]
        }
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor(
                children: role == .archive
                    ? ApertureChildren.archiveSpecs(in: Self.executableDirectory(), arguments: childArguments,
                                                    configuration: configuration)
                    : ApertureChildren.specs(in: Self.executableDirectory(), arguments: childArguments,
                                             configuration: configuration),
                runtime: runtime, settings: SupervisionSettings(configuration), logger: logger)
        } catch {
            logger.critical("\(error.message)")
            throw ExitCode(1)
        }
        logger.info("starting", metadata: ["runtime.directory": "\(runtime.path)"])
        let group = ServiceGroup(configuration: .init(
            // A `stop` request ends the supervisor's run(): that is a clean shutdown, not a failure.
            services: [.init(service: supervisor, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        logger.info("stopped")
    }

    /// The directory of this executable, where its sibling executables live.
    static func executableDirectory() -> String {
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: resolved).deletingLastPathComponent().path
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show each child's state, pid, uptime and restarts.")

    @OptionGroup var options: CommonOptions

    @Flag(help: "Print the supervisor's JSON reply.")
    var json = false

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let client = try SupervisorConnection.client(configuration)
        let status: SupervisorStatus
        do {
            status = try await client.call(SupervisorStatusCommand.self, timeout: .seconds(2))
        } catch {
            throw SupervisorConnection.failure(error, configuration)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(status), as: UTF8.self))
            return
        }
        print("aperture pid \(status.pid), up \(Self.format(status.uptime))\(status.ready ? ", ready" : ", starting")\(status.stopping ? ", stopping" : "")")
        print("CHILD      STATE      PID      UPTIME     RESTARTS  PING  LAST EXIT")
        for child in status.children {
            let columns = [
                child.name.padding(toLength: 10, withPad: " ", startingAt: 0),
                child.state.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0),
                (child.pid.map(String.init) ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0),
                (child.uptime.map(Self.format) ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0),
                String(child.restarts).padding(toLength: 9, withPad: " ", startingAt: 0),
                (child.responding ? "ok" : "no").padding(toLength: 5, withPad: " ", startingAt: 0),
                child.lastExit ?? "-",
            ]
            print(columns.joined(separator: " "))
        }
    }

    static func format(_ seconds: Double) -> String {
        let total = Int(seconds)
        if total < 60 { return String(format: "%.1fs", seconds) }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        return "\(total / 3600)h\((total % 3600) / 60)m"
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Stop the service (children in reverse order).")

    @OptionGroup var options: CommonOptions

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let client = try SupervisorConnection.client(configuration)
        do {
            let reply = try await client.call(SupervisorStopCommand.self, timeout: .seconds(2))
            print(reply.message)
        } catch {
            throw SupervisorConnection.failure(error, configuration)
        }
    }
}

struct Restart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restart one child: camera, processor, catalog or gateway (revives a FATAL child).")

    @OptionGroup var options: CommonOptions
    @Argument(help: "camera, processor, catalog or gateway") var child: String

    func run() async throws {
        let configuration = try options.loadConfiguration()
        let client = try SupervisorConnection.client(configuration)
        do {
            let reply = try await client.call(SupervisorRestartCommand.self, .init(child: child), timeout: .seconds(180))
            print(reply.message)
        } catch {
            throw SupervisorConnection.failure(error, configuration)
        }
    }
}

struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "How to read Aperture's logs with journalctl.")

    func run() {
        print("""
            Under systemd every process logs to the journal with its own identifier and fields:
              journalctl -u aperture -f                       everything, following
              journalctl -t aperture-camera                   one process (aperture, aperture-camera,
                                                              aperture-processor, aperture-catalog,
                                                              aperture-gateway)
              journalctl -u aperture -p warning               warnings and worse
              journalctl APERTURE_CHILD=camera                the supervisor's lines about the camera
              journalctl APERTURE_EXPOSURE_ID=20261121T210405-0001   one exposure
              journalctl -u aperture -o verbose               every field of every entry
            Outside systemd the same lines go to stderr.
            """)
    }
}

/// The command line's connection to a running supervisor.
enum SupervisorConnection {
    /// The runtime directory of the running service: the configured one, or, when it holds no
    /// service, the systemd unit's `/run/aperture` (an operator's shell has no `$RUNTIME_DIRECTORY`).
    static func runtime(_ configuration: ApertureConfiguration) -> RuntimeDirectory {
        let configured = RuntimeDirectory(existing: configuration.storage.runtimeDirectory)
        let installed = RuntimeDirectory(existing: "/run/aperture")
        let socket = "/" + EndpointName.supervisorControl
        if !FileManager.default.fileExists(atPath: configured.path + socket),
           FileManager.default.fileExists(atPath: installed.path + socket) {
            return installed
        }
        return configured
    }

    static func client(_ configuration: ApertureConfiguration) throws -> RequestClient {
        try RequestClient(dialing: runtime(configuration).endpoint(EndpointName.supervisorControl))
    }

    static func failure(_ error: BusError, _ configuration: ApertureConfiguration) -> ExitCode {
        let runtime = Self.runtime(configuration)
        let hint = error.code == .timeout
            ? " (is aperture running with runtime directory \(runtime.path)?)" : ""
        FileHandle.standardError.write(Data("aperture: \(error.message)\(hint)\n".utf8))
        return ExitCode(69)
    }
}
