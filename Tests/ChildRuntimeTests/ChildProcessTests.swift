import Bus
import Foundation
import ProcessSupport
import Testing
import ProcessTestSupport

/// A real child, `aperture-processor` built beside this test bundle, started the way the
/// supervisor starts it: what a user sees when its options are wrong, and that it leaves when
/// the supervisor is gone (the parent watch cannot run in this process: it would end the tests).
@Suite(.serialized) struct ChildProcessTests {
    static let executable: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path + "/aperture-processor"
    }()

    @Test func unknownOptionStopsTheChildWith78AndAMessage() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable),
                     "\(Self.executable) is missing: build the package (swift build) before testing")
        let result = try runToExit(Self.executable, ["--runtime-dir", "/tmp/unused", "--verbose"],
                                   environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 78)
        #expect(result.stderr.hasPrefix("aperture-processor: unknown option '--verbose'"))
    }

    @Test func childLeavesWhenItsSupervisorIsGone() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.executable),
                     "\(Self.executable) is missing: build the package (swift build) before testing")
        let root = "/tmp/aperture-parent-watch-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let environment = [
            "PATH": "/usr/bin:/bin",
            "APERTURE_LOG_LEVEL": "error",
            "APERTURE_STATE_DIRECTORY": root + "/state",
            "APERTURE_DATA_ROOT": root + "/data",
        ]
        let child = try await ChildSpawner().spawn(executable: Self.executable,
                                                   arguments: ["--runtime-dir", root + "/run"], environment: environment)
        let exit = Task { await ExitWatcher.waitForExit(of: child.pid) }
        defer { kill(child.pid, SIGKILL) }

        // Up: its control socket answers.
        let client = try RequestClient(dialing: RuntimeDirectory(existing: root + "/run").endpoint(EndpointName.processorControl))
        defer { client.close() }
        var reply: PingReply?
        let deadline = ContinuousClock.now + .seconds(30)
        while reply == nil, ContinuousClock.now < deadline {
            reply = try? await client.call(Ping.self, timeout: .milliseconds(500))
        }
        #expect(reply?.process == "aperture-processor")
        #expect(reply?.pid == child.pid)

        // The supervisor is "gone": the lifeline's write end closes, as when the supervisor dies.
        let closed = ContinuousClock.now
        ChildSpawner.closeLifeline(of: child)
        let status = try await withThrowingTaskGroup(of: Optional<ProcessSupport.ExitStatus>.self) { group in
            group.addTask { await exit.value }
            group.addTask {
                try await Task.sleep(for: .seconds(20))
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        // A graceful shutdown exits 0 well before the 10 s fallback (`_exit(1)`).
        #expect(status == .exited(0))
        #expect(ContinuousClock.now - closed < .seconds(10))
    }
}
