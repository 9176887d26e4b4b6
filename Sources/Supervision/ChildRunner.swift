import ApertureProtocol
import Bus
import Foundation
import Logging
import ProcessSupport

/// What the supervisor starts: a name and an executable with its control socket.
public struct ChildSpec: Sendable, Hashable {
    /// `camera`, `processor` or `gateway`.
    public var name: String
    /// The executable's absolute path.
    public var executable: String
    /// Arguments after the program name.
    public var arguments: [String]
    /// The control socket's name in the runtime directory.
    public var controlSocket: String
    /// Time this child has to exit after SIGTERM, when it needs more than the default (the
    /// camera warms its sensor up before releasing it).
    public var stopGracePeriod: Duration?

    /// Creates a spec; a nil `stopGracePeriod` takes ``SupervisionSettings/stopGracePeriod``.
    public init(name: String, executable: String, arguments: [String], controlSocket: String,
                stopGracePeriod: Duration? = nil) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.controlSocket = controlSocket
        self.stopGracePeriod = stopGracePeriod
    }
}

/// The supervisor's timings, from the configuration.
public struct SupervisionSettings: Sendable {
    /// Time between pings.
    public var pingInterval: Duration
    /// Time a child has to answer a ping.
    public var pingTimeout: Duration
    /// Consecutive missed pings after which a running child is killed.
    public var maxMissedPings: Int
    /// Time a new process has to answer its first ping.
    public var startTimeout: Duration
    /// Time a child has to exit after SIGTERM before SIGKILL.
    public var stopGracePeriod: Duration
    /// When to restart and when to give up.
    public var restartPolicy: RestartPolicy

    /// Creates settings; the defaults are those of the configuration keys (`supervisor.ping_interval`,
    /// `supervisor.ping_timeout`, `supervisor.max_missed_pings`, `supervisor.start_timeout`,
    /// `supervisor.stop_grace`).
    public init(pingInterval: Duration = .seconds(1), pingTimeout: Duration = .milliseconds(500),
                maxMissedPings: Int = 3, startTimeout: Duration = .seconds(30),
                stopGracePeriod: Duration = .seconds(5), restartPolicy: RestartPolicy = RestartPolicy()) {
        self.pingInterval = pingInterval
        self.pingTimeout = pingTimeout
        self.maxMissedPings = maxMissedPings
        self.startTimeout = startTimeout
        self.stopGracePeriod = stopGracePeriod
        self.restartPolicy = restartPolicy
    }
}

/// Runs one child: spawns it, notices its exit at once (a thread blocked in `waitpid`), pings
/// it, kills it when it stops answering, restarts it by its ``RestartPolicy``, waits in FATAL
/// until revived, and stops it with SIGTERM, a grace period, then SIGKILL.
actor ChildRunner {
    nonisolated let spec: ChildSpec
    private let spawner: ChildSpawner
    private let settings: SupervisionSettings
    private let environment: [String: String]
    private let controlEndpoint: Endpoint
    /// The client for the current process's control socket: a new one for each process, made
    /// once the previous process is gone. With NNG 1.5 a dialer that reaches a dying process's
    /// socket can give up for good; a fresh one never meets the old process at all.
    private var control: RequestClient
    private let events: Publisher?
    private var logger: Logger

    private var policy: RestartPolicy
    private(set) var state: ChildState = .stopped
    private var process: SpawnedProcess?
    private var startedAt: ContinuousClock.Instant?
    private var heartbeat: HeartbeatTracker?
    private var restarts = 0
    private var lastExit: String?
    private var stopRequested = false
    /// A restart asked for by an operator: the exit that follows is not a failure.
    private var restartRequested = false
    private var wake: CheckedContinuation<Void, Never>?
    /// Whether the child has answered a ping saying it is ready, at least once.
    private(set) var hasBeenReady = false

    init(spec: ChildSpec, runtime: RuntimeDirectory, spawner: ChildSpawner, settings: SupervisionSettings,
         environment: [String: String], events: Publisher?, logger: Logger) throws(BusError) {
        self.spec = spec
        self.spawner = spawner
        self.settings = settings
        self.environment = environment
        self.events = events
        self.policy = settings.restartPolicy
        self.controlEndpoint = runtime.endpoint(spec.controlSocket)
        self.control = try RequestClient(dialing: controlEndpoint)
        var logger = logger
        logger[metadataKey: "child"] = "\(spec.name)"
        self.logger = logger
    }

    /// Starts the child and keeps it running until ``stop(grace:)``.
    func run() async {
        while !stopRequested {
            state = .starting
            let spawned: SpawnedProcess
            do {
                spawned = try await spawner.spawn(executable: spec.executable, arguments: spec.arguments,
                                                  environment: environment)
            } catch {
                lastExit = "\(error)"
                logger.error("cannot start \(spec.name): \(error)")
                await afterFailure(uptime: 0)
                continue
            }
            process = spawned
            let started = ContinuousClock.now
            startedAt = started
            heartbeat = HeartbeatTracker(startedAt: started.uptimeSeconds, maximumMissed: settings.maxMissedPings,
                                         startTimeout: settings.startTimeout.seconds)
            logger.info("\(spec.name) started", metadata: ["child.pid": "\(spawned.pid)"])
            publish(.started, pid: spawned.pid, reason: nil)

            let pinging = Task { [control] in await self.ping(pid: spawned.pid, over: control) }
            let status = await ExitWatcher.waitForExit(of: spawned.pid)
            pinging.cancel()
            ChildSpawner.closeLifeline(of: spawned)
            // Anything the child left in its process group goes with it: no orphans.
            kill(-spawned.pid, SIGKILL)
            process = nil
            lastExit = status.description
            let uptime = (ContinuousClock.now - started).seconds
            publish(.exited, pid: spawned.pid, reason: status.description)

            if stopRequested {
                state = .exited
                logger.info("\(spec.name) stopped: \(status)", metadata: ["child.pid": "\(spawned.pid)"])
                return
            }
            renewControlClient()
            if restartRequested {
                restartRequested = false
                logger.notice("\(spec.name) restarted on request (\(status))", metadata: ["child.pid": "\(spawned.pid)"])
                continue
            }
            logger.error("\(spec.name) \(status) after \(String(format: "%.1f", uptime)) s",
                         metadata: ["child.pid": "\(spawned.pid)"])
            await afterFailure(uptime: uptime)
        }
        state = .exited
    }

    /// Applies the restart policy after an unexpected exit: back off, or go FATAL and wait
    /// until revived (``restart()``) or stopped.
    private func afterFailure(uptime: Double) async {
        switch policy.childFailed(at: ContinuousClock.now.uptimeSeconds, uptime: uptime) {
        case .giveUp:
            state = .fatal
            logger.critical("\(spec.name) failed too often (more than \(policy.intensity) times in \(policy.period) s); it stays down until `aperture restart \(spec.name)`")
            publish(.fatal, pid: nil, reason: lastExit)
            await sleep(seconds: nil)
            if !stopRequested {
                policy.reset()
                logger.notice("\(spec.name) revived on request")
            }
        case .restart(let delay):
            state = .backoff
            restarts += 1
            publish(.restarting, pid: nil, reason: lastExit)
            if delay > 0 {
                logger.notice("restarting \(spec.name) in \(delay) s")
                await sleep(seconds: delay)
            }
        }
    }

    /// Sleeps until the delay passes (nil: for ever) or ``stop(grace:)``/``restart()`` wakes it.
    private func sleep(seconds: Double?) async {
        await withCheckedContinuation { continuation in
            wake = continuation
            if let seconds {
                Task {
                    try? await Task.sleep(for: .seconds(seconds))
                    self.wakeUp()
                }
            }
        }
    }

    private func wakeUp() {
        wake?.resume()
        wake = nil
    }

    /// Pings the child every interval; kills a process that stops answering (a wedged SDK
    /// call, a SIGSTOP) so that it is restarted.
    private func ping(pid: Int32, over control: RequestClient) async {
        while !Task.isCancelled {
            let began = ContinuousClock.now
            do {
                let reply = try await control.call(Ping.self, timeout: settings.pingTimeout)
                if reply.pid == pid { answered(ready: reply.ready) }
            } catch {
                if Task.isCancelled { return }
                if case .unresponsive(let reason) = heartbeat?.missedPing(at: ContinuousClock.now.uptimeSeconds) {
                    logger.error("\(spec.name) \(reason) (\(error.message)); killing it", metadata: ["child.pid": "\(pid)"])
                    publish(.unresponsive, pid: pid, reason: "\(reason): \(error.message)")
                    kill(pid, SIGKILL)
                    return
                }
            }
            // Until the new process says it is ready, ask often so that readiness shows at once
            // (a first answer often comes before the child is ready: a camera still connecting).
            // A child that never gets ready is asked at the normal pace after the start timeout.
            let starting = state == .starting && (startedAt.map { ContinuousClock.now - $0 < settings.startTimeout } ?? false)
            let pause = starting ? .milliseconds(20) : settings.pingInterval
            try? await Task.sleep(until: began + pause, clock: .continuous)
        }
    }

    /// Replaces the control client after a process exited (see ``control``).
    private func renewControlClient() {
        do {
            let fresh = try RequestClient(dialing: controlEndpoint)
            control.close()
            control = fresh
        } catch {
            logger.error("cannot open a new control client for \(spec.name): \(error.message); keeping the old one")
        }
    }

    private func answered(ready: Bool) {
        heartbeat?.answered(at: ContinuousClock.now.uptimeSeconds)
        if ready {
            hasBeenReady = true
            if state == .starting { state = .running }
        }
    }

    /// Restarts the child on an operator's request: a running one is stopped gracefully and
    /// started again at once (not counted as a failure); a FATAL one is revived with a fresh
    /// failure history; one backing off starts now.
    /// - Returns: what was done, for the reply.
    func restart() async -> String {
        if stopRequested { return "\(spec.name) is stopping; not restarted" }
        switch state {
        case .fatal, .backoff:
            let wasFatal = state == .fatal
            policy.reset()
            wakeUp()
            return wasFatal ? "\(spec.name) revived from FATAL" : "\(spec.name) starting now"
        default:
            guard let process else { return "\(spec.name) is starting" }
            restartRequested = true
            state = .stopping
            await terminate(process, grace: spec.stopGracePeriod ?? settings.stopGracePeriod)
            return "\(spec.name) restarted"
        }
    }

    /// Stops the child: SIGTERM, up to `grace` to exit, then SIGKILL; no restart follows.
    /// - Parameter grace: the time allowed between SIGTERM and SIGKILL.
    func stop(grace: Duration) async {
        stopRequested = true
        wakeUp()
        guard let process else {
            if state != .fatal { state = .exited }
            return
        }
        state = .stopping
        await terminate(process, grace: grace)
    }

    private func terminate(_ process: SpawnedProcess, grace: Duration) async {
        logger.info("stopping \(spec.name)", metadata: ["child.pid": "\(process.pid)"])
        kill(process.pid, SIGTERM)
        kill(process.pid, SIGCONT)
        let deadline = ContinuousClock.now + grace
        while self.process == process, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
        }
        if self.process == process {
            logger.warning("\(spec.name) did not exit within \(grace) of SIGTERM; sending SIGKILL",
                           metadata: ["child.pid": "\(process.pid)"])
            kill(-process.pid, SIGKILL)
            kill(process.pid, SIGKILL)
            while self.process == process {
                try? await Task.sleep(for: .milliseconds(5))
            }
        }
    }

    /// The child as `status` reports it.
    func status() -> ChildStatus {
        let now = ContinuousClock.now
        let pongAge = heartbeat?.lastAnswer.map { now.uptimeSeconds - $0 }
        let window = (settings.pingInterval + settings.pingTimeout).seconds
        return ChildStatus(
            name: spec.name, state: state, pid: process?.pid,
            uptime: process == nil ? nil : startedAt.map { (now - $0).seconds },
            restarts: restarts, lastExit: lastExit,
            responding: process != nil && (heartbeat?.isResponding(at: now.uptimeSeconds, window: window) ?? false),
            lastPingAge: process == nil ? nil : pongAge)
    }

    private func publish(_ event: ChildLifecycle, pid: Int32?, reason: String?) {
        try? events?.publish(event.topic, ChildLifecycleEvent(
            child: spec.name, event: event, pid: pid, reason: reason, restarts: restarts))
    }
}

extension ContinuousClock.Instant {
    /// Seconds on the continuous clock, for ``RestartPolicy``.
    var uptimeSeconds: Double {
        (self - ContinuousClock.Instant.processStart).seconds
    }
    static let processStart = ContinuousClock.now
}
