import Foundation
import ProcessSupport
import Testing

@Suite struct ProcessSupportTests {
    @Test func exitStatusDecodesCodesAndSignals() {
        #expect(ExitStatus(waitStatus: 3 << 8) == .exited(3))
        #expect(ExitStatus(waitStatus: 9) == .signaled(9))
        #expect(ExitStatus(waitStatus: 9).description == "killed by signal 9 (SIGKILL)")
        #expect(ExitStatus(waitStatus: 0).isSuccess)
    }

    @Test func spawnedChildIsReapedWithItsExitCode() async throws {
        let spawner = ChildSpawner()
        let child = try await spawner.spawn(executable: "/bin/sh", arguments: ["-c", "exit 7"], environment: [:])
        let status = await ExitWatcher.waitForExit(of: child.pid)
        ChildSpawner.closeLifeline(of: child)
        #expect(status == .exited(7))
    }

    @Test func childRunsInItsOwnProcessGroupWithTheLifelineOnFD3() async throws {
        let spawner = ChildSpawner()
        let output = "/tmp/aperture-spawn-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: output) }
        // The child reports its process group, its lifeline variables, and then blocks reading
        // fd 3 until the parent closes the write end.
        let script = "cut -d' ' -f5 /proc/$$/stat > \(output); echo \"$APERTURE_LIFELINE_FD $APERTURE_SUPERVISOR_PID\" >> \(output); cat <&3; echo eof >> \(output)"
        let child = try await spawner.spawn(executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"])
        try await Task.sleep(for: .milliseconds(300))
        let exitTask = Task { await ExitWatcher.waitForExit(of: child.pid) }
        ChildSpawner.closeLifeline(of: child)
        let status = await exitTask.value
        #expect(status == .exited(0))
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first?.trimmingCharacters(in: .whitespaces) == String(child.pid))
        #expect(lines.dropFirst().first == "3 \(getpid())")
        #expect(lines.last == "eof")
    }

    @Test func missingExecutableIsNamed() async {
        let spawner = ChildSpawner()
        let error = await #expect(throws: SpawnError.self) {
            _ = try await spawner.spawn(executable: "/nonexistent/aperture-camera", arguments: [], environment: [:])
        }
        #expect(error?.message.contains("/nonexistent/aperture-camera") == true)
    }
}
