import Bus

/// Commands and events shared between Aperture's processes (see docs/protocol.md).

// MARK: - supervisor.ctl

/// `status` on `supervisor.ctl`: the supervisor and each child.
public enum SupervisorStatusCommand: BusCommand {
    /// The command's name: answered on `supervisor.ctl`; idempotent.
    public static let name = "status"
    /// The reply: the supervisor and each child (what `aperture status --json` prints).
    public typealias Result = SupervisorStatus
}

/// `stop` on `supervisor.ctl`: stop every child in reverse order, then the supervisor.
public enum SupervisorStopCommand: BusCommand {
    /// The command's name: answered on `supervisor.ctl`; sending it twice is harmless.
    public static let name = "stop"
    /// The reply, sent at once, before the children stop.
    public typealias Result = Acknowledgement
}

/// `restart` on `supervisor.ctl`: restart one child (revives a FATAL one).
public enum SupervisorRestartCommand: BusCommand {
    /// The command's name: answered on `supervisor.ctl` (`aperture restart CHILD`).
    public static let name = "restart"
    /// The request's `args`: `{"child": ...}`.
    public struct Arguments: Codable, Sendable, Hashable {
        /// `camera`, `processor` or `gateway`.
        public var child: String
        /// Creates the arguments for the child named `child`.
        public init(child: String) { self.child = child }
    }
    /// The reply, once the old process is gone; `invalid_argument` for an unknown child, `busy` while stopping.
    public typealias Result = Acknowledgement
}

/// A reply that carries only a confirmation and a message.
public struct Acknowledgement: Codable, Sendable, Hashable {
    /// Always true in a result (failures are error replies).
    public var accepted: Bool
    /// What happens next, for humans.
    public var message: String

    /// Creates an acknowledgement.
    public init(accepted: Bool = true, message: String) {
        self.accepted = accepted
        self.message = message
    }
}

/// The reply to ``SupervisorStatusCommand``.
public struct SupervisorStatus: Codable, Sendable, Hashable {
    /// The supervisor's pid.
    public var pid: Int32
    /// Seconds since the supervisor started.
    public var uptime: Double
    /// Whether every child has reported ready at least once since start.
    public var ready: Bool
    /// Whether the supervisor is stopping.
    public var stopping: Bool
    /// Seconds between heartbeat pings (`ping_interval`, `supervisor.ping_interval`).
    public var pingInterval: Double
    /// The children, in start order (camera, processor, gateway).
    public var children: [ChildStatus]

    enum CodingKeys: String, CodingKey {
        case pid, uptime, ready, stopping, children
        case pingInterval = "ping_interval"
    }

    /// Creates the reply.
    public init(pid: Int32, uptime: Double, ready: Bool, stopping: Bool, pingInterval: Double, children: [ChildStatus]) {
        self.pid = pid
        self.uptime = uptime
        self.ready = ready
        self.stopping = stopping
        self.pingInterval = pingInterval
        self.children = children
    }
}

/// The state of one supervised child, as supervisord names them (lower case on the wire).
public enum ChildState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Not started yet.
    case stopped
    /// Spawned, not yet answering its pings as ready.
    case starting
    /// Answering its pings.
    case running
    /// Waiting out the restart delay after an unexpected exit.
    case backoff
    /// Being stopped (SIGTERM, then SIGKILL after the grace period).
    case stopping
    /// Stopped on purpose (`stop`, or the service stopping); not restarted.
    case exited
    /// Failed too often too quickly: not restarted until `restart` revives it.
    case fatal
}

/// One supervised child as the supervisor sees it.
public struct ChildStatus: Codable, Sendable, Hashable {
    /// `camera`, `processor` or `gateway`.
    public var name: String
    /// Its state.
    public var state: ChildState
    /// The pid while a process exists.
    public var pid: Int32?
    /// Seconds since the current process started.
    public var uptime: Double?
    /// How many times it was restarted after an unexpected exit.
    public var restarts: Int
    /// How the previous process ended, e.g. "killed by signal 9 (SIGKILL)" (`last_exit`); nil
    /// until one has ended.
    public var lastExit: String?
    /// Whether a process exists and answered a ping within the ping interval plus the ping timeout.
    public var responding: Bool
    /// Seconds since it last answered a ping (`last_ping_age`); nil until the current process has
    /// answered one (a `fatal` child keeps its last process's age).
    public var lastPingAge: Double?

    enum CodingKeys: String, CodingKey {
        case name, state, pid, uptime, restarts, responding
        case lastExit = "last_exit"
        case lastPingAge = "last_ping_age"
    }

    /// Creates a child's status.
    public init(name: String, state: ChildState, pid: Int32?, uptime: Double?, restarts: Int,
                lastExit: String?, responding: Bool, lastPingAge: Double?) {
        self.name = name
        self.state = state
        self.pid = pid
        self.uptime = uptime
        self.restarts = restarts
        self.lastExit = lastExit
        self.responding = responding
        self.lastPingAge = lastPingAge
    }
}

/// What happened to a child: the topic `child.<raw value>` and the event's `event` member.
public enum ChildLifecycle: String, Sendable, Hashable, Codable, CaseIterable {
    /// A new process was spawned.
    case started
    /// The process ended (`reason` says how).
    case exited
    /// It will be restarted after the restart delay.
    case restarting
    /// It failed too often too quickly and will not be restarted.
    case fatal
    /// It stopped answering its pings and will be killed.
    case unresponsive

    /// The topic on `supervisor.events`.
    public var topic: String { "child." + rawValue }
}

/// `child.*` events on `supervisor.events`: a child started, exited, is backing off or FATAL.
public struct ChildLifecycleEvent: Codable, Sendable, Hashable {
    /// The child's name: `camera`, `processor` or `gateway`.
    public var child: String
    /// What happened: the topic without `child.`.
    public var event: ChildLifecycle
    /// The process concerned, for `started`, `exited` and `unresponsive`.
    public var pid: Int32?
    /// `exited`: how it ended; `restarting`, `fatal`: the last exit; `unresponsive`: the failed ping.
    public var reason: String?
    /// The child's restart count at that moment.
    public var restarts: Int

    /// Creates the event.
    public init(child: String, event: ChildLifecycle, pid: Int32?, reason: String?, restarts: Int) {
        self.child = child
        self.event = event
        self.pid = pid
        self.reason = reason
        self.restarts = restarts
    }
}

// MARK: - gateway.ctl

/// `status` on `gateway.ctl`: where the HTTP server listens.
public enum GatewayStatusCommand: BusCommand {
    /// The command's name: answered on `gateway.ctl`.
    public static let name = "status"
    /// The reply: the addresses the gateway listens on.
    public typealias Result = GatewayStatus
}

/// The reply to ``GatewayStatusCommand``.
public struct GatewayStatus: Codable, Sendable, Hashable {
    /// The bound HTTP address, `HOST:PORT`, once listening.
    public var http: String?
    /// The bound ASCOM Alpaca address, `HOST:PORT`, once listening (nil when off).
    public var alpaca: String?

    /// Creates the reply; nil for a listener not bound (or off).
    public init(http: String?, alpaca: String? = nil) {
        self.http = http
        self.alpaca = alpaca
    }
}
