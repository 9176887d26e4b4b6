import Bus
import Foundation
import Testing

/// Request/reply over real NNG sockets.
@Suite struct RequestReplyTests {
    @Test func roundTripOverIPCWithTypedPayloads() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let server = try ReplyServer(listening: runtime.endpoint("t.ctl"), router: echoRouter(), logger: testLogger)
        let serving = Task { await server.run() }
        defer { server.close(); serving.cancel() }
        let client = try RequestClient(dialing: runtime.endpoint("t.ctl"))
        defer { client.close() }

        let result = try await client.call(Echo.self, .init(text: "hello"), timeout: .seconds(60))
        #expect(result == Echo.Result(text: "hello"))
        let ping = try await client.call(Ping.self, timeout: .seconds(5))
        #expect(ping.ready)
    }

    @Test func roundTripOverTCP() async throws {
        let port = 20000 + Int(getpid() % 20000)
        let endpoint = Endpoint.tcp(host: "127.0.0.1", port: port)
        let server = try ReplyServer(listening: endpoint, router: echoRouter(), logger: testLogger)
        let serving = Task { await server.run() }
        defer { server.close(); serving.cancel() }
        let client = try RequestClient(dialing: endpoint)
        defer { client.close() }
        let result = try await client.call(Echo.self, .init(text: "tcp"), timeout: .seconds(60))
        #expect(result.text == "tcp")
    }

    @Test func socketsAreOwnerOnlyInAnOwnerOnlyDirectory() throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let server = try ReplyServer(listening: runtime.endpoint("perm.ctl"), router: echoRouter(), logger: testLogger)
        defer { server.close() }
        var info = stat()
        #expect(stat(runtime.directory.path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
        #expect(stat(runtime.directory.path + "/perm.ctl", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
    }

    @Test func runtimeDirectoryThatCannotBeCreatedNamesPathAndReason() throws {
        let file = "/tmp/aperture-not-a-dir-\(getpid())"
        FileManager.default.createFile(atPath: file, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: file) }
        let error = #expect(throws: BusError.self) { try RuntimeDirectory.prepare(file + "/run") }
        #expect(error?.message.contains(file) == true)
        #expect(error?.message.contains("Not a directory") == true)
    }

    @Test func existingDirectoryIsTightenedTo0700() throws {
        let path = "/tmp/aperture-loose-\(getpid())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: path) }
        _ = try RuntimeDirectory.prepare(path)
        var info = stat()
        #expect(stat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
    }

    @Test func requestToAbsentPeerTimesOutInBoundedTime() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let client = try RequestClient(dialing: runtime.endpoint("nobody.ctl"))
        defer { client.close() }
        let error = try await withDeadline(30, "request to an absent peer") {
            do {
                _ = try await client.call(Ping.self, timeout: .milliseconds(300))
                return BusError(.internal, "no error")
            } catch {
                return (error as? BusError) ?? BusError(.internal, "\(error)")
            }
        }
        #expect(error.code == .timeout)
        #expect(error.message.contains("nobody.ctl"))
        // Bounded: withDeadline fails the test if the 300 ms timeout did not end the call within
        // 30 s. No tighter bound in seconds: the suite runs beside CPU-heavy tests on two cores.
    }

    @Test func requestToWedgedPeerTimesOutAndIsNotResent() async throws {
        let peer = try await EchoPeer()
        defer { peer.close() }
        let client = peer.client
        let counter = peer.counter

        let error = await #expect(throws: BusError.self) {
            _ = try await client.call(Echo.self, .init(text: "slow", delayMilliseconds: 3_000), timeout: .milliseconds(300))
        }
        #expect(error?.code == .timeout)
        try await Task.sleep(for: .milliseconds(500))
        #expect(counter.value == 1)
    }

    /// NNG's req socket resends a pending request on another connection when the peer's
    /// connection drops; a camera restarted mid-command would then run the command twice. The
    /// bus fails the request instead.
    @Test func requestIsNotResentToARestartedPeer() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let first = Counter()
        let endpoint = runtime.endpoint("restart.ctl")
        let server = try ReplyServer(listening: endpoint, router: echoRouter(counter: first), logger: testLogger)
        let serving = Task { await server.run() }
        let client = try RequestClient(dialing: endpoint)
        defer { client.close() }
        _ = try await client.call(Ping.self, timeout: .seconds(60))

        let pending = Task {
            try await client.call(Echo.self, .init(text: "once", delayMilliseconds: 2_000), timeout: .seconds(4))
        }
        while first.value == 0 { try await Task.sleep(for: .milliseconds(10)) }
        server.close()
        serving.cancel()
        _ = await serving.value

        let second = Counter()
        let replacement = try ReplyServer(listening: endpoint, router: echoRouter(counter: second), logger: testLogger)
        let replacementServing = Task { await replacement.run() }
        defer { replacement.close(); replacementServing.cancel() }

        let outcome = await pending.result
        #expect(throws: BusError.self) { try outcome.get() }
        #expect(second.value == 0)
    }

    @Test func cancellingTheTaskCancelsTheRequest() async throws {
        let peer = try await EchoPeer()
        defer { peer.close() }
        let client = peer.client

        let call = Task {
            try await client.call(Echo.self, .init(text: "x", delayMilliseconds: 10_000), timeout: .seconds(30))
        }
        try await Task.sleep(for: .milliseconds(100))
        call.cancel()
        let outcome = try await withDeadline(30, "cancelled request") { await call.result }
        #expect(throws: BusError.self) { try outcome.get() }
        // Cancelled, not answered: the echo would have answered (a success) after its 10 s.
        if case .failure(let error as BusError) = outcome { #expect(error.code == .cancelled) }
    }

    @Test func alreadyCancelledTaskFailsAtOnce() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let client = try RequestClient(dialing: runtime.endpoint("never.ctl"))
        defer { client.close() }
        let call = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.call(Ping.self, timeout: .seconds(30))
        }
        let outcome = try await withDeadline(30, "request from a cancelled task") { await call.result }
        #expect(throws: BusError.self) { try outcome.get() }
    }

    @Test func closingTheClientWithRequestsInFlightNeverDeadlocks() async throws {
        let peer = try await EchoPeer()
        defer { peer.close() }
        let client = peer.client

        let calls = (0..<6).map { index in
            Task {
                try await client.call(Echo.self, .init(text: "\(index)", delayMilliseconds: 5_000), timeout: .seconds(30))
            }
        }
        try await Task.sleep(for: .milliseconds(200))
        client.close()
        for call in calls {
            let outcome = try await withDeadline(30, "request on a closed client") { await call.result }
            if case .failure(let error as BusError) = outcome {
                #expect(error.code == .closed)
            } else {
                Issue.record("a request on a closed client succeeded")
            }
        }
    }

    @Test func closingTheServerWithHandlersRunningNeverDeadlocks() async throws {
        let peer = try await EchoPeer()
        defer { peer.close() }
        let client = peer.client
        let pending = Task {
            try await client.call(Echo.self, .init(text: "late", delayMilliseconds: 500), timeout: .seconds(2))
        }
        try await Task.sleep(for: .milliseconds(100))
        peer.server.close()
        try await withDeadline(30, "server run() after close") { await peer.serving.value }
        _ = await pending.result
    }

    @Test func concurrentCallsDoNotQueueBehindASlowOne() async throws {
        let peer = try await EchoPeer()
        defer { peer.close() }
        let client = peer.client
        let slow = Task {
            try await client.call(Echo.self, .init(text: "slow", delayMilliseconds: 60_000), timeout: .seconds(90))
        }
        try await Task.sleep(for: .milliseconds(100))
        // A ping while the slow command runs is answered long before the slow one could finish:
        // queued behind it, it would time out.
        _ = try await client.call(Ping.self, timeout: .seconds(15))
        slow.cancel()
    }

    /// Issue 11: eight slow commands (a shutdown, a homing, a restart...) used to take every
    /// worker of a control socket, so pings went unanswered and the supervisor killed a
    /// healthy child. Each command now runs in a task of its own.
    @Test func eightSlowCommandsLeavePingsAndOtherCommandsAnswered() async throws {
        let peer = try await EchoPeer()
        defer { peer.close() }
        let client = peer.client
        let slow = (0..<8).map { index in
            Task { try await client.call(Echo.self, .init(text: "slow \(index)", delayMilliseconds: 60_000), timeout: .seconds(90)) }
        }
        defer { slow.forEach { $0.cancel() } }
        try await waitUntil(10, "eight slow commands running") { peer.counter.value == 8 }
        // Queued behind them, these would wait a minute; the timeouts are far shorter (20 s: a
        // machine loaded by other work once took more than 5 s to answer).
        for _ in 0..<5 {
            _ = try await client.call(Ping.self, timeout: .seconds(20))
        }
        #expect(try await client.call(Echo.self, .init(text: "quick"), timeout: .seconds(20)).text == "quick")
    }

    /// A server running its most commands answers another with `busy` at once, and still
    /// answers ping.
    @Test func aFullServerRefusesWithBusyButAnswersPing() async throws {
        let peer = try await EchoPeer(maxInFlight: 3)
        defer { peer.close() }
        let client = peer.client
        let slow = (0..<3).map { index in
            Task { try await client.call(Echo.self, .init(text: "slow \(index)", delayMilliseconds: 60_000), timeout: .seconds(90)) }
        }
        defer { slow.forEach { $0.cancel() } }
        try await waitUntil(10, "three slow commands running") { peer.counter.value == 3 }
        let refused = await #expect(throws: BusError.self) {
            try await client.call(Echo.self, .init(text: "one more"), timeout: .seconds(5))
        }
        #expect(refused?.code == .busy)
        #expect(refused?.message.contains("3 commands are running") == true)
        _ = try await client.call(Ping.self, timeout: .seconds(5))
        #expect(peer.counter.value == 3)
    }
}
