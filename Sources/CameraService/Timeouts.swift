import ApertureProtocol
import Bus
import CameraCore
import Synchronization

/// Runs an async operation with a deadline, failing with `timeout`. The operation keeps running
/// in the background if it overruns (an SDK call cannot be interrupted); the caller moves on.
/// - Parameters:
///   - limit: how long to wait for `body`.
///   - what: what is waited for, for the error's message ("temperature read").
///   - body: the operation.
/// - Returns: what `body` returns, if it returns within `limit`.
/// - Throws: ``CameraError`` `timeout` naming `what` after `limit`; what `body` throws before.
func withTimeout<T: Sendable>(_ limit: Duration, _ what: String,
                              _ body: @escaping @Sendable () async throws(CameraError) -> T) async throws(CameraError) -> T {
    let once = ResumeOnce<Result<T, CameraError>>()
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, CameraError>, Never>) in
        once.arm(continuation)
        let timer = Task {
            try? await Task.sleep(for: limit)
            once.resume(.failure(CameraError(.timeout, "\(what): no answer from the camera within \(limit)")))
        }
        Task {
            let outcome: Result<T, CameraError>
            do throws(CameraError) { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            once.resume(outcome)
            timer.cancel()
        }
    }
    return try result.get()
}

/// A continuation resumed by whichever of several racers comes first; the later ones are
/// ignored.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation = Mutex<CheckedContinuation<T, Never>?>(nil)

    /// Sets the continuation the first ``resume(_:)`` resumes.
    func arm(_ continuation: CheckedContinuation<T, Never>) { self.continuation.withLock { $0 = continuation } }

    /// Resumes the continuation with `value` if nothing resumed it yet.
    func resume(_ value: T) {
        let taken = continuation.withLock { c -> CheckedContinuation<T, Never>? in defer { c = nil }; return c }
        taken?.resume(returning: value)
    }
}
