import Supervision
import Testing

@Suite struct RestartPolicyTests {
    @Test func firstRestartIsImmediateThenDelaysDouble() {
        var policy = RestartPolicy(intensity: 10, period: 60, initialDelay: 0.1, maximumDelay: 0.5, stablePeriod: 30)
        #expect(policy.childFailed(at: 0, uptime: 1) == .restart(after: 0))
        #expect(policy.childFailed(at: 1, uptime: 1) == .restart(after: 0.1))
        #expect(policy.childFailed(at: 2, uptime: 1) == .restart(after: 0.2))
        #expect(policy.childFailed(at: 3, uptime: 1) == .restart(after: 0.4))
        #expect(policy.childFailed(at: 4, uptime: 1) == .restart(after: 0.5))
    }

    @Test func tooManyFailuresInThePeriodGiveUp() {
        var policy = RestartPolicy(intensity: 3, period: 10)
        for time in 0..<3 {
            #expect(policy.childFailed(at: Double(time), uptime: 0.5) != .giveUp)
        }
        #expect(policy.childFailed(at: 3, uptime: 0.5) == .giveUp)
    }

    @Test func failuresOutsideThePeriodAreForgotten() {
        var policy = RestartPolicy(intensity: 2, period: 10)
        #expect(policy.childFailed(at: 0, uptime: 1) != .giveUp)
        #expect(policy.childFailed(at: 5, uptime: 1) != .giveUp)
        #expect(policy.childFailed(at: 16, uptime: 1) != .giveUp)
        #expect(policy.childFailed(at: 17, uptime: 1) != .giveUp)
    }

    @Test func aStableRunResetsHistoryAndDelay() {
        var policy = RestartPolicy(intensity: 2, period: 1000, stablePeriod: 60)
        _ = policy.childFailed(at: 0, uptime: 1)
        _ = policy.childFailed(at: 1, uptime: 1)
        #expect(policy.childFailed(at: 100, uptime: 99) == .restart(after: 0))
    }

    @Test func resetRevivesAFatalChild() {
        var policy = RestartPolicy(intensity: 0, period: 10)
        #expect(policy.childFailed(at: 0, uptime: 0) == .giveUp)
        policy.reset()
        var fresh = RestartPolicy(intensity: 1, period: 10)
        #expect(fresh.childFailed(at: 0, uptime: 0) == .restart(after: 0))
    }
}
