import ApertureProtocol
import Synchronization

/// Requests that wait for an exposure to end (evora's `/capture`), woken by the camera's
/// `camera.exposure` event (issue 12, "events, not polls"), not by asking the camera in a loop.
/// A waiter asks the camera once after registering (the exposure may have ended before), and
/// again only when no event came within its deadline (events are lossy; the camera may have
/// restarted).
final class ExposureWaiters: Sendable {
    private struct Waiting {
        var id: String
        var continuation: CheckedContinuation<ExposureRecord?, Never>?
        var record: ExposureRecord?
        /// The deadline passed (or the task was cancelled) before the wait began.
        var expired = false
    }

    private let waiting = Mutex<[Int: Waiting]>([:])
    private let nextToken = Atomic<Int>(0)

    /// A registration for one exposure's end.
    struct Waiter: Sendable {
        let token: Int
        let waiters: ExposureWaiters

        /// The record once an event says the exposure ended, or nil after `timeout` (or when the
        /// task is cancelled). Call it again after nil to keep waiting.
        func finished(within timeout: Duration) async -> ExposureRecord? {
            await waiters.wait(token, timeout: timeout)
        }

        /// Stops waiting (always call it, once the waiter is no longer needed).
        func cancel() { waiters.remove(token) }
    }

    /// Registers interest in the end of exposure `id` (before asking the camera, so that no
    /// event is missed between the answer and the wait).
    func register(_ id: String) -> Waiter {
        let token = nextToken.add(1, ordering: .relaxed).newValue
        waiting.withLock { $0[token] = Waiting(id: id) }
        return Waiter(token: token, waiters: self)
    }

    /// Called for each `camera.exposure` event: wakes the waiters of an exposure that ended.
    func exposureChanged(_ record: ExposureRecord) {
        guard record.status != .running else { return }
        let woken = waiting.withLock { waiting -> [CheckedContinuation<ExposureRecord?, Never>] in
            var woken: [CheckedContinuation<ExposureRecord?, Never>] = []
            for (token, entry) in waiting where entry.id == record.id {
                if let continuation = entry.continuation {
                    woken.append(continuation)
                    waiting[token]?.continuation = nil
                } else {
                    waiting[token]?.record = record
                }
            }
            return woken
        }
        for continuation in woken { continuation.resume(returning: record) }
    }

    private func wait(_ token: Int, timeout: Duration) async -> ExposureRecord? {
        let ready = waiting.withLock { waiting -> ExposureRecord? in
            waiting[token]?.expired = false
            return waiting[token]?.record
        }
        if let ready { return ready }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.resume(token, with: nil)
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate = waiting.withLock { waiting -> (Bool, ExposureRecord?) in
                    guard let entry = waiting[token] else { return (true, nil) }
                    if let record = entry.record { return (true, record) }
                    if entry.expired { return (true, nil) }
                    waiting[token]?.continuation = continuation
                    return (false, nil)
                }
                if immediate.0 { continuation.resume(returning: immediate.1) }
            }
        } onCancel: {
            self.resume(token, with: nil)
        }
    }

    private func resume(_ token: Int, with record: ExposureRecord?) {
        let continuation = waiting.withLock { waiting -> CheckedContinuation<ExposureRecord?, Never>? in
            guard let continuation = waiting[token]?.continuation else {
                waiting[token]?.expired = true
                return nil
            }
            waiting[token]?.continuation = nil
            return continuation
        }
        continuation?.resume(returning: record)
    }

    private func remove(_ token: Int) {
        let continuation = waiting.withLock { $0.removeValue(forKey: token)?.continuation }
        continuation?.resume(returning: nil)
    }
}
