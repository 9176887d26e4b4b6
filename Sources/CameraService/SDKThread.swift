import ApertureProtocol
import Bus
import CameraCore
import Foundation
import Synchronization

/// The one thread that talks to a device driver (STYLE.md point 6: blocking C never runs on
/// the cooperative pool).
///
/// Async code submits jobs with ``perform(_:_:)``; they run in order on this thread. A long
/// job (an exposure) calls ``servePending()`` between its short SDK waits, so temperature reads
/// and other quick jobs are answered during an exposure. Every driver call goes through
/// ``call(_:_:)``, which records the call in progress, so that a call that never returns (a
/// wedged SDK) shows in ``stuckCall`` and the process stops answering pings.
final class SDKThread: Sendable {
    typealias Job = @Sendable () -> Void

    private final class Queue: Sendable {
        let jobs = Mutex<[Job]>([])
        let wakeup = DispatchSemaphore(value: 0)
    }

    private struct Activity: Sendable {
        var name: String
        var since: ContinuousClock.Instant
    }

    private let queue = Queue()
    private let activity = Mutex<Activity?>(nil)
    private let threadName: String

    /// Starts the thread.
    /// - Parameter name: the thread's name (visible in `top -H`, gdb).
    init(name: String) {
        threadName = name
        let queue = self.queue
        let thread = Thread {
            while true {
                queue.wakeup.wait()
                let next = queue.jobs.withLock { jobs -> Job? in jobs.isEmpty ? nil : jobs.removeFirst() }
                next?()
            }
        }
        thread.name = name
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    /// - Parameters:
    ///   - name: what the job does, for logs.
    ///   - body: the work; it runs on the SDK thread and may block.
    /// - Throws: what `body` throws.
    func perform<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws(CameraError) -> T) async throws(CameraError) -> T {
        let result: Result<T, CameraError> = await withCheckedContinuation { continuation in
            enqueue {
                do throws(CameraError) {
                    continuation.resume(returning: .success(try body()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }

    /// Runs `body` on the thread without waiting for it.
    func submit(_ body: @escaping Job) {
        enqueue(body)
    }

    /// Runs the jobs waiting now; called by a long job between short SDK calls. Only on the thread.
    func servePending() {
        while let next = queue.jobs.withLock({ jobs -> Job? in jobs.isEmpty ? nil : jobs.removeFirst() }) {
            _ = queue.wakeup.wait(timeout: .now())
            next()
        }
    }

    /// Makes one driver call, recording it so that a call that never returns is noticed.
    /// - Parameters:
    ///   - name: the SDK call, e.g. "GetStatus".
    ///   - body: the call.
    func call<T>(_ name: String, _ body: () throws(CameraError) -> T) throws(CameraError) -> T {
        activity.withLock { $0 = Activity(name: name, since: .now) }
        defer { activity.withLock { $0 = nil } }
        return try body()
    }

    /// The driver call in progress and for how long, if one is running.
    var currentCall: (name: String, seconds: Double)? {
        activity.withLock { current in
            current.map { ($0.name, (ContinuousClock.now - $0.since).seconds) }
        }
    }

    private func enqueue(_ job: @escaping Job) {
        queue.jobs.withLock { $0.append(job) }
        queue.wakeup.signal()
    }
}

/// A driver object handed between the controller and its SDK thread; only that thread uses it.
final class DriverHandle<Driver>: @unchecked Sendable {
    let driver: Driver
    init(_ driver: Driver) { self.driver = driver }
}
