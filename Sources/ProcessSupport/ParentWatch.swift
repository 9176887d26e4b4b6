internal import CProcessSupport
import Foundation

/// The child's side of "a child dies with its parent".
///
/// At start-up a child asks for SIGTERM when its parent goes (`PR_SET_PDEATHSIG`), then checks
/// that its parent is still the supervisor that started it (the parent may have died before
/// the request took effect), and watches its lifeline pipe: EOF means the supervisor is gone,
/// even if the signal was lost. A process started by hand, without the supervisor's
/// environment, is left alone.
public enum ParentWatch {
    /// Starts watching, if this process was started by a supervisor.
    /// - Parameters:
    ///   - environment: the process environment (carries the parent's pid and the lifeline).
    ///   - onParentGone: called once, from a background thread, when the parent is gone.
    /// - Returns: whether a supervisor started this process.
    @discardableResult
    public static func start(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        onParentGone: @escaping @Sendable () -> Void
    ) -> Bool {
        guard let expected = environment[ChildSpawner.parentPIDVariable].flatMap({ Int32($0) }) else {
            return false
        }
        _ = aperture_set_parent_death_signal(SIGTERM)
        let lifeline = environment[ChildSpawner.lifelineVariable].flatMap { Int32($0) }
        if let lifeline { _ = fcntl(lifeline, F_SETFD, FD_CLOEXEC) }
        let alreadyGone = getppid() != expected
        guard alreadyGone || lifeline != nil else { return true }
        // Always on a thread of its own, also when the parent is already gone: the caller is
        // starting up (on a thread of Swift's cooperative pool) and must go on to run its
        // services, which `onParentGone` then shuts down.
        let thread = Thread {
            if !alreadyGone, let lifeline {
                var byte: UInt8 = 0
                while true {
                    let count = read(lifeline, &byte, 1)
                    if count == 0 || (count < 0 && errno != EINTR) { break }
                }
            }
            onParentGone()
        }
        thread.name = "aperture-lifeline"
        thread.stackSize = 64 << 10
        thread.start()
        return true
    }
}
