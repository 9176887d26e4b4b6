import Supervision
import Testing

@Suite struct HeartbeatTrackerTests {
    @Test func aNewProcessHasTheStartTimeoutForItsFirstAnswer() {
        var tracker = HeartbeatTracker(startedAt: 100, maximumMissed: 3, startTimeout: 10)
        #expect(tracker.missedPing(at: 101) == .waiting)
        #expect(tracker.missedPing(at: 109.9) == .waiting)
        guard case .unresponsive(let reason) = tracker.missedPing(at: 110.1) else {
            Issue.record("a process silent past its start timeout was not declared unresponsive")
            return
        }
        #expect(reason.contains("10.0 s"))
    }

    @Test func afterAnsweringConsecutiveMissesCount() {
        var tracker = HeartbeatTracker(startedAt: 0, maximumMissed: 3, startTimeout: 10)
        tracker.answered(at: 1)
        #expect(tracker.missedPing(at: 2) == .waiting)
        #expect(tracker.missedPing(at: 3) == .waiting)
        #expect(tracker.missedPing(at: 4) == .unresponsive("missed 3 pings in a row"))
    }

    @Test func anAnswerResetsTheCount() {
        var tracker = HeartbeatTracker(startedAt: 0, maximumMissed: 2, startTimeout: 10)
        tracker.answered(at: 1)
        #expect(tracker.missedPing(at: 2) == .waiting)
        tracker.answered(at: 3)
        #expect(tracker.missedPing(at: 4) == .waiting)
        #expect(tracker.missed == 1)
    }

    @Test func respondingMeansAnAnswerWithinTheWindow() {
        var tracker = HeartbeatTracker(startedAt: 0, maximumMissed: 3, startTimeout: 10)
        #expect(!tracker.isResponding(at: 0.5, window: 1.5))
        tracker.answered(at: 1)
        #expect(tracker.isResponding(at: 2.4, window: 1.5))
        #expect(!tracker.isResponding(at: 2.6, window: 1.5))
    }
}
