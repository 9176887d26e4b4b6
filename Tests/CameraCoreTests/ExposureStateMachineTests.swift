import ApertureProtocol
import Bus
import CameraCore
import Testing

/// The exposure state machine as a pure value: every transition, no camera, no sleeps.
@Suite struct ExposureStateMachineTests {
    typealias Machine = ExposureStateMachine

    @Test func aSingleFrameRunsExposingReadingSavingIdle() throws {
        var machine = Machine()
        #expect(try machine.handle(.start(count: 1, preview: false)) == [.startFrame(1)])
        #expect(machine.state == .exposing)
        #expect(try machine.handle(.acquisitionEnded) == [.readOut])
        #expect(machine.state == .reading)
        #expect(try machine.handle(.readoutFinished) == [.save(1)])
        #expect(machine.state == .saving)
        #expect(try machine.handle(.saveFinished) == [.finish(.completed)])
        #expect(machine.state == .idle)
        #expect(!machine.isBusy)
    }

    @Test func aSeriesTakesEveryFrameThenFinishes() throws {
        var machine = Machine()
        var started: [Int] = []
        var actions = try machine.handle(.start(count: 3, preview: false))
        while let action = actions.first {
            switch action {
            case .startFrame(let n):
                started.append(n)
                actions = try machine.handle(.acquisitionEnded)
            case .readOut: actions = try machine.handle(.readoutFinished)
            case .save: actions = try machine.handle(.saveFinished)
            case .finish(let outcome):
                #expect(outcome == .completed)
                actions = []
            default: Issue.record("unexpected \(action)"); actions = []
            }
        }
        #expect(started == [1, 2, 3])
        #expect(machine.state == .idle)
    }

    @Test func aSecondRequestWhileBusyIsRefusedAndChangesNothing() throws {
        var machine = Machine()
        _ = try machine.handle(.start(count: 5, preview: false))
        _ = try machine.handle(.acquisitionEnded)
        let before = machine
        let refusal = #expect(throws: Machine.Refusal.self) { try machine.handle(.start(count: 1, preview: false)) }
        #expect(refusal?.error.code == .busy)
        #expect(refusal?.error.message.contains("reading") == true)
        #expect(machine == before)
    }

    @Test func abortWhileExposingDiscardsTheFrame() throws {
        var machine = Machine()
        _ = try machine.handle(.start(count: 3, preview: false))
        #expect(try machine.handle(.abortRequested) == [.abortAcquisition])
        #expect(machine.state == .aborting)
        // The driver's late "acquisition ended" is ignored: nothing is read or saved.
        #expect(try machine.handle(.acquisitionEnded) == [])
        #expect(try machine.handle(.abortFinished) == [.finish(.aborted)])
        #expect(machine.state == .idle)
    }

    @Test func abortWhileReadingDiscardsTheFrame() throws {
        var machine = Machine()
        _ = try machine.handle(.start(count: 1, preview: false))
        _ = try machine.handle(.acquisitionEnded)
        #expect(try machine.handle(.abortRequested) == [.abortAcquisition])
        #expect(try machine.handle(.readoutFinished) == [])
        #expect(try machine.handle(.abortFinished) == [.finish(.aborted)])
    }

    @Test func abortWhileSavingKeepsThatFrameAndStopsTheSeries() throws {
        var machine = Machine()
        _ = try machine.handle(.start(count: 3, preview: false))
        _ = try machine.handle(.acquisitionEnded)
        _ = try machine.handle(.readoutFinished)
        #expect(try machine.handle(.abortRequested) == [])
        #expect(machine.state == .saving)
        #expect(try machine.handle(.saveFinished) == [.finish(.aborted)])
        #expect(machine.state == .idle)
    }

    @Test func abortWhenIdleDoesNothing() throws {
        var machine = Machine()
        #expect(try machine.handle(.abortRequested) == [])
        #expect(machine.state == .idle)
    }

    @Test func previewPublishesWithoutSavingUntilAborted() throws {
        var machine = Machine()
        #expect(try machine.handle(.start(count: nil, preview: true)) == [.startFrame(1)])
        _ = try machine.handle(.acquisitionEnded)
        #expect(try machine.handle(.readoutFinished) == [.publishPreview(1), .startFrame(2)])
        _ = try machine.handle(.acquisitionEnded)
        #expect(try machine.handle(.readoutFinished) == [.publishPreview(2), .startFrame(3)])
        #expect(try machine.handle(.abortRequested) == [.abortAcquisition])
        #expect(try machine.handle(.abortFinished) == [.finish(.aborted)])
    }

    @Test func aFailureEndsTheRequestAndTheCameraStaysUsable() throws {
        var machine = Machine()
        _ = try machine.handle(.start(count: 2, preview: false))
        _ = try machine.handle(.acquisitionEnded)
        _ = try machine.handle(.readoutFinished)
        let disk = CameraError(.storage, "No space left on device")
        #expect(try machine.handle(.failed(disk)) == [.finish(.failed(disk))])
        #expect(machine.state == .idle)
        #expect(try machine.handle(.start(count: 1, preview: false)) == [.startFrame(1)])
    }

    @Test func aLostConnectionFailsTheRequestAndRefusesNewOnesUntilReconnected() throws {
        var machine = Machine()
        _ = try machine.handle(.start(count: 1, preview: false))
        let actions = try machine.handle(.connectionChanged(connected: false, reason: "USB unplugged"))
        #expect(actions == [.finish(.failed(CameraError(.notConnected, "USB unplugged")))])
        #expect(machine.state == .error)
        let refusal = #expect(throws: Machine.Refusal.self) { try machine.handle(.start(count: 1, preview: false)) }
        #expect(refusal?.error.code == .notConnected)
        _ = try machine.handle(.connectionChanged(connected: true, reason: nil))
        #expect(machine.state == .idle)
    }

    @Test func aMachineStartsInErrorUntilConnected() throws {
        var machine = Machine(connected: false)
        #expect(machine.state == .error)
        #expect(throws: Machine.Refusal.self) { try machine.handle(.start(count: 1, preview: false)) }
    }
}
