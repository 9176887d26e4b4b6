internal import CNNG
import Synchronization

/// One NNG asynchronous I/O handle (`nng_aio`) bridged to Swift concurrency.
///
/// An operation is submitted with ``run(timeoutMilliseconds:_:)``, which suspends the task
/// (no thread blocks) until NNG calls the completion callback. Cancelling the task cancels the
/// aio. The race the other way round (a task cancelled before the aio was submitted, which
/// would otherwise wait forever) is closed by re-checking a flag under the lock after
/// submission. One handle runs one operation at a time.
final class AsyncIO: @unchecked Sendable {
    /// The state shared with NNG's callback thread; its address is the callback's argument.
    private final class Completion: Sendable {
        struct State {
            var continuation: CheckedContinuation<Void, Never>?
            var cancelled = false
            var submitted = false
        }
        let state = Mutex(State())

        func complete() {
            let continuation = state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.continuation = nil }
                return s.continuation
            }
            continuation?.resume()
        }
    }

    /// The `nng_aio *`; only touched through NNG calls, which are thread-safe.
    let handle: OpaquePointer
    private let completion: Completion

    init() throws(BusError) {
        let completion = Completion()
        var aio: OpaquePointer?
        let status = nng_aio_alloc(&aio, { argument in
            // Runs on an NNG thread: only resume the waiting task, never close or free here.
            Unmanaged<Completion>.fromOpaque(argument!).takeUnretainedValue().complete()
        }, Unmanaged.passUnretained(completion).toOpaque())
        try nngCheck(status, "cannot allocate an NNG aio")
        self.handle = aio!
        self.completion = completion
    }

    deinit {
        // nng_aio_free stops the aio and waits for a running callback; safe outside callbacks.
        nng_aio_free(handle)
    }

    /// Submits one operation and waits for it to finish.
    /// - Parameters:
    ///   - timeoutMilliseconds: the operation's deadline, or `NNG_DURATION_INFINITE`.
    ///   - submit: starts the operation on the aio (e.g. `nng_ctx_recv(ctx, aio)`).
    /// - Returns: the NNG result status: 0, `NNG_ETIMEDOUT`, `NNG_ECANCELED`, `NNG_ECLOSED`...
    func run(timeoutMilliseconds: Int32, _ submit: (OpaquePointer) -> Void) async -> Int32 {
        nng_aio_set_timeout(handle, timeoutMilliseconds)
        completion.state.withLock { $0 = Completion.State() }
        let aio = UnsafeAIO(pointer: handle)
        let completion = self.completion
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                completion.state.withLock { $0.continuation = continuation }
                submit(aio.pointer)
                let cancelled = completion.state.withLock { s -> Bool in
                    s.submitted = true
                    return s.cancelled
                }
                if cancelled { nng_aio_cancel(aio.pointer) }
            }
        } onCancel: {
            let submitted = completion.state.withLock { s -> Bool in
                s.cancelled = true
                return s.submitted
            }
            if submitted { nng_aio_cancel(aio.pointer) }
        }
        return nng_aio_result(handle)
    }
}

/// An `nng_aio *` handed to the cancellation handler; NNG's aio calls are thread-safe.
private struct UnsafeAIO: @unchecked Sendable {
    let pointer: OpaquePointer
}
