import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Children reaped by ``Foundation/Process/exitStatusIfEnded`` (pid to wait status): Foundation
/// does not know they ended.
private let reapedHere = Mutex<[Int32: Int32]>([:])

extension Process {
    /// The exit status once the process has ended (a signal's number when one ended it, as
    /// `terminationStatus`; -1 for a process never started), nil while it runs.
    ///
    /// Foundation reaps its children on a manager thread of its own, and one test run saw it
    /// never reap one: `fitsverify` stayed a zombie for minutes and `waitUntilExit` waited for
    /// ever. So a child that Foundation has not reaped is reaped here, with `waitpid(WNOHANG)`.
    public var exitStatusIfEnded: Int32? {
        waitStatusIfEnded?.code
    }

    /// Whether a signal ended the process (`terminationReason == .uncaughtSignal`); false while it runs.
    public var endedBySignal: Bool { waitStatusIfEnded?.signalled ?? false }

    /// Whether the process has ended (``exitStatusIfEnded``).
    public var hasEnded: Bool { waitStatusIfEnded != nil }

    /// Waits for the process to end, polling every 10 ms; its exit status (``exitStatusIfEnded``).
    @discardableResult
    public func waitForExit() -> Int32 {
        while true {
            if let status = exitStatusIfEnded { return status }
            usleep(10_000)
        }
    }

    /// The exit code or signal, and whether it was a signal; nil while the process runs.
    private var waitStatusIfEnded: (code: Int32, signalled: Bool)? {
        let pid = processIdentifier
        // Never started (no pid): nothing runs, and nothing is to be killed or waited for.
        // `terminationStatus` would trap, and `waitpid(0)` would reap another test's child.
        guard pid > 0 else { return (-1, false) }
        if let status = reapedHere.withLock({ $0[pid] }) { return Self.decode(status) }
        if !isRunning { return (terminationStatus, terminationReason == .uncaughtSignal) }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        reapedHere.withLock { $0[pid] = status }
        return Self.decode(status)
    }

    private static func decode(_ status: Int32) -> (code: Int32, signalled: Bool) {
        status & 0x7f == 0 ? ((status >> 8) & 0xff, false) : (status & 0x7f, true)
    }
}

/// Runs a program to its end: its exit status (``Foundation/Process/exitStatusIfEnded``), stdout
/// and stderr (with `mergingErrors`, both in `stdout`, in order).
///
/// The output goes to files, not pipes, and the wait is for the exit, not for an end of file: a
/// daemon another test starts meanwhile (PostgreSQL, nats-server, a service) inherits the
/// descriptors open at that moment, and a pipe whose write end it holds never ends (a CI run
/// waited on the `aperture` command line's pipe, held open by postgres). Foundation's pipe
/// reading also traps on EINTR, which other tests' signals can cause. The caller's thread waits:
/// call it from a thread of its own when the program runs long.
/// - Parameters:
///   - executable: the program's path.
///   - arguments: its arguments.
///   - environment: its environment; nil for this process's.
///   - mergingErrors: stderr into the same file as stdout.
public func runToExit(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                      mergingErrors: Bool = false) throws -> (status: Int32, stdout: String, stderr: String) {
    let stamp = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    let outPath = NSTemporaryDirectory() + "aperture-run-\(stamp).out"
    let errPath = NSTemporaryDirectory() + "aperture-run-\(stamp).err"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    defer {
        try? out.close()
        try? err.close()
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = out
    process.standardError = mergingErrors ? out : err
    try process.run()
    let status = process.waitForExit()
    let read = { (path: String) in (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
    return (status, read(outPath), read(errPath))
}
