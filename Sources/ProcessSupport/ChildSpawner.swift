internal import CProcessSupport
import Foundation
import Synchronization

/// A child process started by ``ChildSpawner``.
public struct SpawnedProcess: Sendable, Hashable {
    /// Its process id, which is also its process group id.
    public let pid: Int32
    /// The write end of its lifeline pipe, held only by this process; close it after the
    /// child is reaped (``ChildSpawner/closeLifeline(of:)``).
    public let lifelineDescriptor: Int32
}

/// A failure to start a child; the message names the executable and the system's reason.
public struct SpawnError: Error, Sendable, CustomStringConvertible {
    /// What failed: the executable and the system's reason.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// Starts child processes with `posix_spawn` from one long-lived thread.
///
/// `PR_SET_PDEATHSIG`, which each child sets at start-up, fires when the *thread* that spawned
/// the child exits, not the process; spawning from a cooperative-pool thread, which may come and
/// go, would kill children at random. Every spawn therefore runs on this object's own thread,
/// which lives as long as the process. Each child also gets a lifeline pipe on descriptor 3
/// (EOF when this process is gone), the second way it notices that its parent died.
public final class ChildSpawner: Sendable {
    /// The environment variable naming the lifeline descriptor in the child.
    public static let lifelineVariable = "APERTURE_LIFELINE_FD"
    /// The environment variable carrying the parent's pid, checked by the child after it set
    /// its parent-death signal (the parent may have died before that).
    public static let parentPIDVariable = "APERTURE_SUPERVISOR_PID"
    /// The Swift runtime's crash backtrace settings.
    public static let backtraceVariable = "SWIFT_BACKTRACE"
    /// What a child gets unless the supervisor's environment sets ``backtraceVariable``: no
    /// interaction, fast symbolication (symbols, no line numbers), so a crash ends in well under a
    /// second with a backtrace on standard error (the journal).
    public static let childBacktraceSettings = "interactive=no,symbolicate=fast"

    private typealias Job = @Sendable () -> Void
    /// The jobs waiting for the spawning thread, and the semaphore that wakes it.
    private final class JobQueue: Sendable {
        let jobs = Mutex<[Job]>([])
        let wakeup = DispatchSemaphore(value: 0)
    }
    private let queue = JobQueue()

    /// Starts the spawning thread.
    public init() {
        let queue = self.queue
        let thread = Thread {
            while true {
                queue.wakeup.wait()
                let jobs = queue.jobs.withLock { jobs -> [Job] in
                    defer { jobs.removeAll() }
                    return jobs
                }
                jobs.forEach { $0() }
            }
        }
        thread.name = "aperture-spawner"
        thread.start()
    }

    /// Starts `executable` as a child in its own process group.
    /// - Parameters:
    ///   - executable: an absolute path.
    ///   - arguments: the arguments after the program name.
    ///   - environment: the child's whole environment; the lifeline and parent-pid variables
    ///     are added.
    /// - Returns: the pid and the lifeline's write end.
    /// - Throws: ``SpawnError`` naming the executable and the reason.
    public func spawn(executable: String, arguments: [String], environment: [String: String]) async throws -> SpawnedProcess {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SpawnedProcess, any Error>) in
            queue.jobs.withLock { jobs in
                jobs.append {
                    continuation.resume(with: Result {
                        try Self.spawnNow(executable: executable, arguments: arguments, environment: environment)
                    })
                }
            }
            queue.wakeup.signal()
        }
    }

    /// Closes the parent's end of a child's lifeline (once the child has been reaped).
    /// - Parameter process: the child.
    public static func closeLifeline(of process: SpawnedProcess) {
        close(process.lifelineDescriptor)
    }

    private static func spawnNow(executable: String, arguments: [String], environment: [String: String]) throws -> SpawnedProcess {
        var pipeEnds: [Int32] = [-1, -1]
        guard aperture_cloexec_pipe(&pipeEnds) == 0 else {
            throw SpawnError(message: "cannot create a lifeline pipe for \(executable): \(String(cString: strerror(errno)))")
        }
        var env = environment
        env[lifelineVariable] = "3"
        env[parentPIDVariable] = String(getpid())
        // A crash prints its backtrace with symbols but without line numbers and inlined frames:
        // full symbolication of a large binary takes seconds, during which the crashed child
        // answers no ping and the supervisor kills it instead of seeing the crash (and a camera
        // stays down that long). An operator's own SWIFT_BACKTRACE wins.
        if env[Self.backtraceVariable] == nil { env[Self.backtraceVariable] = Self.childBacktraceSettings }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
            close(pipeEnds[0])
        }
        var pid: Int32 = 0
        let status = aperture_spawn(executable, argv, envp, pipeEnds[0], &pid)
        guard status == 0 else {
            close(pipeEnds[1])
            throw SpawnError(message: "cannot start \(executable): \(String(cString: strerror(status)))")
        }
        return SpawnedProcess(pid: pid, lifelineDescriptor: pipeEnds[1])
    }
}

/// Waits for a child to exit and reaps it, without polling: a dedicated thread blocks in
/// `waitpid` for that one pid and wakes the waiting task the moment the child is gone.
public enum ExitWatcher {
    /// Waits until `pid` exits, reaps it and returns how it ended.
    /// - Parameter pid: a child of this process that nobody else waits for.
    public static func waitForExit(of pid: Int32) async -> ExitStatus {
        await withCheckedContinuation { (continuation: CheckedContinuation<ExitStatus, Never>) in
            let thread = Thread {
                var status: Int32 = 0
                while true {
                    let result = waitpid(pid, &status, 0)
                    if result == pid {
                        continuation.resume(returning: ExitStatus(waitStatus: status))
                        return
                    }
                    if result < 0 && errno != EINTR {
                        // Not our child (or already reaped): nothing more can be learnt.
                        continuation.resume(returning: .exited(-1))
                        return
                    }
                }
            }
            thread.name = "aperture-wait-\(pid)"
            thread.stackSize = 64 << 10
            thread.start()
        }
    }
}
