import ApertureProtocol
import CameraCore
import Testing
@testable import GatewayService

/// The waiters evora's `/capture` uses: woken by the `camera.exposure` event of their own
/// exposure, never by another's or by a running one, and back after their deadline otherwise.
@Suite struct ExposureWaitersTests {
    func record(_ id: String, _ status: ExposureRecord.Status) -> ExposureRecord {
        ExposureRecord(id: id, request: ExposureRequest(type: .dark, time: 1), mode: .single, status: status,
                       count: 1, started: 0)
    }

    @Test func anEventOfTheExposuresEndWakesItsWaiterOnly() async throws {
        let waiters = ExposureWaiters()
        let mine = waiters.register("a")
        let other = waiters.register("b")
        defer { mine.cancel(); other.cancel() }
        let waiting = Task { await mine.finished(within: .seconds(60)) }
        waiters.exposureChanged(record("a", .running))
        waiters.exposureChanged(record("b", .completed))
        try await Task.sleep(for: .milliseconds(50))
        waiters.exposureChanged(record("a", .aborted))
        let woken = await waiting.value
        #expect(woken?.id == "a" && woken?.status == .aborted)
        // b's event came before b waited: it is kept for it.
        #expect(await other.finished(within: .seconds(60))?.status == .completed)
    }

    @Test func withoutAnEventTheWaitEndsAtItsDeadlineAndCanBeResumed() async throws {
        let waiters = ExposureWaiters()
        let waiter = waiters.register("a")
        defer { waiter.cancel() }
        #expect(await waiter.finished(within: .milliseconds(20)) == nil)
        let again = Task { await waiter.finished(within: .seconds(60)) }
        try await Task.sleep(for: .milliseconds(20))
        waiters.exposureChanged(record("a", .failed))
        #expect(await again.value?.status == .failed)
    }

    @Test func aCancelledRequestStopsWaiting() async throws {
        let waiters = ExposureWaiters()
        let waiter = waiters.register("a")
        defer { waiter.cancel() }
        let waiting = Task { await waiter.finished(within: .seconds(60)) }
        waiting.cancel()
        #expect(await waiting.value == nil)
    }
}
