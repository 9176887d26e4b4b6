import ApertureProtocol
import Bus
import Foundation
import Logging
import ProcessSupport
import ServiceLifecycle
import Synchronization

/// The children Aperture runs, in start order; they stop in reverse.
public enum ApertureChildren {
    /// The specs for the executables found in `directory`.
    /// - Parameters:
    ///   - directory: the directory holding `aperture-camera` and its siblings.
    ///   - arguments: arguments every child gets (`--config`, `--runtime-dir`).
    ///   - cameraStopGrace: the camera's time to stop (it may warm its sensor up first).
    ///   - overrides: programs to run instead, by child name (`camera.executable`...).
    public static func specs(in directory: String, arguments: [String], cameraStopGrace: Duration? = nil,
                             overrides: [String: String] = [:]) -> [ChildSpec] {
        [
            ChildSpec(name: "camera", executable: overrides["camera"] ?? directory + "/aperture-camera",
                      arguments: arguments, controlSocket: EndpointName.cameraControl, stopGracePeriod: cameraStopGrace),
            ChildSpec(name: "processor", executable: overrides["processor"] ?? directory + "/aperture-processor",
                      arguments: arguments, controlSocket: EndpointName.processorControl),
            ChildSpec(name: "catalog", executable: overrides["catalog"] ?? directory + "/aperture-catalog",
                      arguments: arguments, controlSocket: EndpointName.catalogControl),
            ChildSpec(name: "gateway", executable: overrides["gateway"] ?? directory + "/aperture-gateway",
                      arguments: arguments, controlSocket: EndpointName.gatewayControl),
        ]
    }
}

/// A failure that stops the supervisor at start-up; the message names the path or key.
public struct SupervisorStartError: Error, Sendable, CustomStringConvertible {
    /// What failed, naming the path or configuration key.
    public let message: String
    /// Creates an error.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// `aperture` itself: starts the children, keeps them alive, answers `supervisor.ctl`,
/// publishes lifecycle events on `supervisor.events`, tells systemd READY/STATUS/STOPPING, and
/// on graceful shutdown stops the children in reverse order.
public final class Supervisor: Service {
    private let runners: [ChildRunner]
    private let settings: SupervisionSettings
    private let control: ReplyServer
    private let events: Publisher
    private let notifier = SystemdNotifier()
    private let logger: Logger
    private let startTime = ContinuousClock.now
    private let stopRequests: AsyncStream<Void>
    private let stopContinuation: AsyncStream<Void>.Continuation
    private let flags = SupervisorFlags()
    /// Nanoseconds since process start at which the status loop last completed a round.
    private let lastRound = Atomic<Int64>(0)

    /// Prepares the supervisor: binds its sockets (so a second instance on the same runtime
    /// directory fails here, clearly) and creates one runner per child. Nothing is spawned yet.
    /// - Parameters:
    ///   - children: what to run, in start order.
    ///   - runtime: the prepared runtime directory.
    ///   - settings: timings and restart policy.
    ///   - logger: the supervisor's logger.
    /// - Throws: ``SupervisorStartError`` naming the socket and the reason.
    public init(children: [ChildSpec], runtime: RuntimeDirectory, settings: SupervisionSettings,
                logger: Logger) throws(SupervisorStartError) {
        self.settings = settings
        self.logger = logger
        (stopRequests, stopContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        do {
            events = try Publisher(listening: runtime.endpoint(EndpointName.supervisorEvents))
        } catch {
            throw SupervisorStartError("\(error.message) (is another aperture running with runtime directory \(runtime.path)?)")
        }
        var environment = ProcessInfo.processInfo.environment
        // systemd talks to the supervisor only (NotifyAccess=main); children must not inherit
        // the notify socket, the watchdog or socket activation.
        for key in ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"] {
            environment.removeValue(forKey: key)
        }
        let spawner = ChildSpawner()
        var runners: [ChildRunner] = []
        for spec in children {
            guard FileManager.default.isExecutableFile(atPath: spec.executable) else {
                throw SupervisorStartError("cannot run \(spec.name): \(spec.executable) is missing or not executable")
            }
            do {
                runners.append(try ChildRunner(spec: spec, runtime: runtime, spawner: spawner, settings: settings,
                                               environment: environment, events: events, logger: logger))
            } catch {
                throw SupervisorStartError("cannot create the control client of \(spec.name): \(error.message)")
            }
        }
        self.runners = runners

        var router = CommandRouter()
        let pid = getpid()
        let startTime = self.startTime
        let readiness = flags
        router.register(Ping.self) { _ in
            PingReply(process: "aperture", pid: pid, uptime: (ContinuousClock.now - startTime).seconds,
                      ready: readiness.state.withLock { $0.ready })
        }
        let continuation = stopContinuation
        // The children stop in reverse order of start: the reply names them as they go.
        let order = runners.reversed().map(\.spec.name)
        let stopping = order.count > 1 ? order.dropLast().joined(separator: ", ") + ", then " + order[order.count - 1]
            : order.first ?? "nothing"
        router.register(SupervisorStopCommand.self) { _ in
            continuation.yield()
            return Acknowledgement(message: "stopping: " + stopping)
        }
        router.register(SupervisorRestartCommand.self) { [runners] arguments in
            guard let runner = runners.first(where: { $0.spec.name == arguments.child }) else {
                throw BusError.invalid("child", "unknown child '\(arguments.child)'; the children are \(runners.map(\.spec.name).joined(separator: ", "))")
            }
            if readiness.state.withLock({ $0.stopping }) {
                throw BusError(.busy, "the service is stopping")
            }
            return Acknowledgement(message: await runner.restart())
        }
        router.register(SupervisorStatusCommand.self) { [runners, settings] _ in
            var children: [ChildStatus] = []
            for runner in runners { children.append(await runner.status()) }
            let flags = readiness.state.withLock { $0 }
            return SupervisorStatus(pid: pid, uptime: (ContinuousClock.now - startTime).seconds,
                                    ready: flags.ready, stopping: flags.stopping,
                                    pingInterval: settings.pingInterval.seconds, children: children)
        }
        do {
            control = try ReplyServer(listening: runtime.endpoint(EndpointName.supervisorControl),
                                      router: router, logger: logger)
        } catch {
            throw SupervisorStartError("\(error.message) (is another aperture running with runtime directory \(runtime.path)?)")
        }
    }

    /// Runs until graceful shutdown (SIGTERM, SIGINT) or a `stop` request, then stops the
    /// children in reverse order, each with the grace period, then SIGKILL.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.control.run() }
            for runner in runners {
                group.addTask { await runner.run() }
            }
            group.addTask { await self.reportStatus() }
            if let interval = Self.watchdogInterval() {
                group.addTask { await self.feedWatchdog(every: interval) }
            }

            await waitForStopRequest()
            flags.state.withLock { $0.stopping = true }
            notifier.notify("STOPPING=1\nSTATUS=stopping children")
            logger.info("stopping children: \(runners.reversed().map(\.spec.name).joined(separator: ", "))")
            for runner in runners.reversed() {
                await runner.stop(grace: runner.spec.stopGracePeriod ?? settings.stopGracePeriod)
            }
            logger.info("all children stopped")
            control.close()
            events.close()
            group.cancelAll()
        }
    }

    /// Waits for the first of graceful shutdown and a `stop` command.
    private func waitForStopRequest() async {
        let requests = stopRequests
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await gracefulShutdown() }
            group.addTask {
                for await _ in requests { return }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Half of `WATCHDOG_USEC`, when systemd asked for keep-alives for this process.
    static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"].flatMap({ Int32($0) }), pid != getpid() { return nil }
        return .microseconds(Int64(microseconds / 2))
    }

    /// Sends WATCHDOG=1 every `interval` while the supervisor's own loop is healthy: the status
    /// loop, which visits every child runner, must have completed a round recently. A hung
    /// supervisor stops feeding the watchdog, and systemd kills and restarts the unit.
    private func feedWatchdog(every interval: Duration) async {
        logger.info("systemd watchdog: keep-alive every \(interval)")
        while !Task.isCancelled {
            let age = ContinuousClock.now - ContinuousClock.Instant.processStart - .nanoseconds(lastRound.load(ordering: .relaxed))
            if age < max(interval * 2, .seconds(3)) {
                notifier.notify("WATCHDOG=1")
            } else {
                logger.error("the supervisor's status loop has not run for \(age); not feeding the watchdog")
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Tells systemd READY=1 once every child is ready, and keeps STATUS= current.
    private func reportStatus() async {
        var lastLine = ""
        while !Task.isCancelled {
            var parts: [String] = []
            var allReady = true
            var restarts = 0
            for runner in runners {
                let status = await runner.status()
                restarts += status.restarts
                let word: String
                switch status.state {
                case .running: word = status.responding ? "ok" : "not answering"
                default: word = status.state.rawValue
                }
                parts.append("\(status.name) \(word)")
                if !(await runner.hasBeenReady) { allReady = false }
            }
            let line = parts.joined(separator: ", ") + "; \(restarts) restart\(restarts == 1 ? "" : "s")"
            let becameReady = allReady && flags.state.withLock { flags -> Bool in
                defer { flags.ready = true }
                return !flags.ready
            }
            if becameReady {
                logger.info("all children ready")
                notifier.notify("READY=1\nSTATUS=\(line)")
            } else if line != lastLine {
                notifier.notify("STATUS=\(line)")
            }
            lastLine = line
            let (seconds, attoseconds) = (ContinuousClock.now - ContinuousClock.Instant.processStart).components
            lastRound.store(seconds * 1_000_000_000 + attoseconds / 1_000_000_000, ordering: .relaxed)
            try? await Task.sleep(for: allReady ? .seconds(1) : .milliseconds(50))
        }
    }
}

/// Whether every child became ready, and whether the supervisor is stopping.
private final class SupervisorFlags: Sendable {
    let state = Mutex<(ready: Bool, stopping: Bool)>((false, false))
}
