/// Decides from ping outcomes when a child is unresponsive (a value, tested with plain numbers
/// as the clock; see STYLE.md point 5).
///
/// A new process has ``startTimeout`` seconds to answer its first ping. Once it has answered,
/// ``maximumMissed`` consecutive failed pings mean it is wedged (a blocked SDK call, SIGSTOP).
public struct HeartbeatTracker: Sendable, Equatable {
    /// The verdict after a ping.
    public enum Verdict: Sendable, Equatable {
        /// Answering.
        case healthy
        /// Not answered yet, or missed a few; keep pinging.
        case waiting
        /// Kill and restart it; the reason is for the log.
        case unresponsive(String)
    }

    /// Consecutive missed pings that make a started child unresponsive.
    public var maximumMissed: Int
    /// Seconds a new process has for its first answer.
    public var startTimeout: Double
    /// When the process started (seconds on the caller's clock).
    public private(set) var startedAt: Double
    /// When it last answered.
    public private(set) var lastAnswer: Double?
    /// Consecutive failures since the last answer.
    public private(set) var missed = 0

    /// Creates a tracker for a process started at `startedAt`; a `maximumMissed` below 1 counts as 1.
    public init(startedAt: Double, maximumMissed: Int, startTimeout: Double) {
        self.startedAt = startedAt
        self.maximumMissed = max(1, maximumMissed)
        self.startTimeout = startTimeout
    }

    /// Records an answer.
    public mutating func answered(at now: Double) {
        lastAnswer = now
        missed = 0
    }

    /// Records a ping that failed or timed out.
    /// - Parameter now: the time of the failure.
    /// - Returns: whether the child should be killed.
    public mutating func missedPing(at now: Double) -> Verdict {
        if lastAnswer == nil {
            if now - startedAt > startTimeout {
                return .unresponsive("did not answer a ping within \(startTimeout) s of starting")
            }
            return .waiting
        }
        missed += 1
        if missed >= maximumMissed {
            return .unresponsive("missed \(missed) pings in a row")
        }
        return .waiting
    }

    /// Whether it answered within the last `window` seconds.
    public func isResponding(at now: Double, window: Double) -> Bool {
        guard let lastAnswer else { return false }
        return now - lastAnswer <= window
    }
}
