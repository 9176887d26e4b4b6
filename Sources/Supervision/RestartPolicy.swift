/// When to restart a child that exited unexpectedly, and when to give up (a value, tested
/// without processes or sleeps; see STYLE.md point 5).
///
/// OTP-style intensity: more than ``intensity`` failures within ``period`` seconds means the
/// child is FATAL. Between restarts the delay doubles from ``initialDelay`` up to
/// ``maximumDelay``; the first restart after a stable run is immediate. A child that ran for
/// ``stablePeriod`` seconds has its failure history forgotten.
public struct RestartPolicy: Sendable, Equatable {
    /// Failures tolerated within ``period``.
    public var intensity: Int
    /// The window, in seconds, over which failures count.
    public var period: Double
    /// The delay before the second consecutive restart, in seconds.
    public var initialDelay: Double
    /// The longest delay between restarts, in seconds.
    public var maximumDelay: Double
    /// A run at least this long (seconds) resets the failure history.
    public var stablePeriod: Double

    /// What to do after a failure.
    public enum Decision: Sendable, Equatable {
        /// Start the child again after this many seconds.
        case restart(after: Double)
        /// Too many failures: stop trying (FATAL).
        case giveUp
    }

    private var failureTimes: [Double] = []
    private var consecutiveFailures = 0

    /// Creates a policy.
    public init(intensity: Int = 5, period: Double = 60, initialDelay: Double = 0.1,
                maximumDelay: Double = 10, stablePeriod: Double = 60) {
        self.intensity = intensity
        self.period = period
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.stablePeriod = stablePeriod
    }

    /// Records an unexpected exit and decides what follows.
    /// - Parameters:
    ///   - now: the time of the exit, in seconds on any monotonic clock.
    ///   - uptime: how long the process had run, in seconds.
    /// - Returns: restart after a delay, or give up.
    public mutating func childFailed(at now: Double, uptime: Double) -> Decision {
        if uptime >= stablePeriod {
            failureTimes.removeAll()
            consecutiveFailures = 0
        }
        failureTimes.append(now)
        failureTimes.removeAll { $0 < now - period }
        if failureTimes.count > intensity {
            return .giveUp
        }
        let delay = consecutiveFailures == 0
            ? 0
            : min(maximumDelay, initialDelay * Double(1 << min(consecutiveFailures - 1, 30)))
        consecutiveFailures += 1
        return .restart(after: delay)
    }

    /// Forgets every failure (after a manual restart of a FATAL child).
    public mutating func reset() {
        failureTimes.removeAll()
        consecutiveFailures = 0
    }
}
