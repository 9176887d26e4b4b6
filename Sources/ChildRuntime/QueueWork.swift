import Dispatch

extension DispatchQueue {
    /// Runs `work` on this queue and waits for its result without holding a thread of Swift's
    /// cooperative pool (the threads that run the frame loop and answer `ping`).
    package func result<T: Sendable>(of work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            self.async { continuation.resume(returning: work()) }
        }
    }
}
