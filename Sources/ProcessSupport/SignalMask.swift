import Foundation

/// Signal-mask repair at start-up.
public enum SignalMask {
    /// Unblocks SIGTERM, SIGINT and SIGHUP in the calling thread (call it first thing in
    /// `main`, before other threads exist, so they inherit the mask). A parent that blocked them
    /// (some test runners and shells do) would otherwise make `systemctl stop`, Ctrl-C and the
    /// supervisor's SIGTERM silently ineffective, leaving only SIGKILL.
    public static func unblockTerminationSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, signal) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
