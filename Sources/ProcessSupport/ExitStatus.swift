import Foundation

/// How a process ended, as `waitpid` reports it.
public enum ExitStatus: Sendable, Hashable, CustomStringConvertible {
    /// It called `exit(code)`.
    case exited(Int32)
    /// A signal killed it.
    case signaled(Int32)

    /// Decodes a `waitpid` status word.
    /// - Parameter status: the status `waitpid` stored.
    public init(waitStatus status: Int32) {
        let signal = status & 0x7f
        if signal == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(signal)
        }
    }

    /// Whether it exited with code 0.
    public var isSuccess: Bool { self == .exited(0) }

    /// `exited with code N` or `killed by signal N (SIGNAME)`: the text of `last_exit` and of the
    /// `child.*` events' `reason`.
    public var description: String {
        switch self {
        case .exited(let code): return "exited with code \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(signalName(signal)))"
        }
    }
}

/// The conventional name of a signal number, e.g. `SIGKILL`.
/// - Parameter signal: the signal number.
public func signalName(_ signal: Int32) -> String {
    switch signal {
    case SIGHUP: return "SIGHUP"
    case SIGINT: return "SIGINT"
    case SIGQUIT: return "SIGQUIT"
    case SIGILL: return "SIGILL"
    case SIGTRAP: return "SIGTRAP"
    case SIGABRT: return "SIGABRT"
    case SIGBUS: return "SIGBUS"
    case SIGFPE: return "SIGFPE"
    case SIGKILL: return "SIGKILL"
    case SIGUSR1: return "SIGUSR1"
    case SIGSEGV: return "SIGSEGV"
    case SIGUSR2: return "SIGUSR2"
    case SIGPIPE: return "SIGPIPE"
    case SIGALRM: return "SIGALRM"
    case SIGTERM: return "SIGTERM"
    case SIGCHLD: return "SIGCHLD"
    case SIGCONT: return "SIGCONT"
    case SIGSTOP: return "SIGSTOP"
    case SIGTSTP: return "SIGTSTP"
    case SIGXCPU: return "SIGXCPU"
    case SIGXFSZ: return "SIGXFSZ"
    case SIGSYS: return "SIGSYS"
    default: return "signal \(signal)"
    }
}
