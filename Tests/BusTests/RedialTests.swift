import Bus
import Foundation
import Testing

/// A peer that restarts while a dialer connects to it must never leave the dialer for good.
///
/// NNG 1.5 (Debian 12's libnng) gives a dialer up for ever when its connection attempt reaches
/// a peer that is dying: the socket is still listening when the dialer connects, gone when the
/// dialer writes its handshake, and the write's EPIPE becomes NNG_ECLOSED, which the dialer takes
/// for its own closing. The supervisor met it after `kill -9` of the camera: a new camera
/// listening, and no ping ever sent to it.
@Suite struct RedialTests {
    /// Listens on `path` with a plain Unix socket until a connection is queued, then closes it
    /// without accepting: a peer that dies as the dialer reaches it.
    private static func dieOnConnection(at path: String, within seconds: Int32) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd); unlink(path) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { bytes in
            path.utf8CString.withUnsafeBytes { bytes.copyMemory(from: $0) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else { return false }
        var waiting = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&waiting, 1, seconds * 1000) == 1
    }

    /// Plays `count` dying peers in a row on a thread of its own (it blocks in `poll`, which
    /// must not hold up the test's other tasks); returns how many were reached.
    private static func dyingPeers(at path: String, count: Int) async -> Int {
        await withCheckedContinuation { continuation in
            Thread {
                var rounds = 0
                while rounds < count, dieOnConnection(at: path, within: 6) { rounds += 1 }
                continuation.resume(returning: rounds)
            }.start()
        }
    }

    @Test func aClientFindsItsPeerAfterManyPeersDiedAsItConnected() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let endpoint = runtime.endpoint("flaky.ctl")
        let path = try #require(endpoint.ipcPath)
        let client = try RequestClient(dialing: endpoint)
        defer { client.close() }

        // Each round: the client connects to a listener that then vanishes. A dialer that gave
        // up stops connecting (until the keeper replaces it, within 3 s), which would show as a
        // round with no connection within 6 s.
        let rounds = await Self.dyingPeers(at: path, count: 15)
        #expect(rounds == 15, "the client stopped dialling after \(rounds) dying peers")

        let server = try ReplyServer(listening: endpoint, router: echoRouter(), logger: testLogger)
        let serving = Task { await server.run() }
        defer { server.close(); serving.cancel() }
        let reply = try await client.call(Echo.self, .init(text: "still here"), timeout: .seconds(5))
        #expect(reply.text == "still here")
    }

    @Test func aSubscriberHearsItsPublisherAfterManyPublishersDiedAsItConnected() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let endpoint = runtime.endpoint("flaky.events")
        let path = try #require(endpoint.ipcPath)
        let subscriber = try Subscriber(dialing: endpoint, topics: ["camera."], bufferSize: 16)
        defer { subscriber.close() }

        let rounds = await Self.dyingPeers(at: path, count: 15)
        #expect(rounds == 15, "the subscriber stopped dialling after \(rounds) dying publishers")

        let publisher = try Publisher(listening: endpoint)
        defer { publisher.close() }
        try await PublishSubscribeTests().connect(publisher, subscriber, topic: "camera.state")
    }

    @Test func aConnectionInUseIsNeverReplaced() async throws {
        // A request that takes three times the keeper's patience, on a connection that stays up,
        // is answered: the keeper only acts on a socket without any connection.
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let server = try ReplyServer(listening: runtime.endpoint("steady.ctl"), router: echoRouter(), logger: testLogger)
        let serving = Task { await server.run() }
        defer { server.close(); serving.cancel() }
        let client = try RequestClient(dialing: runtime.endpoint("steady.ctl"))
        defer { client.close() }
        for delay in [0, 1_500] {
            let reply = try await client.call(Echo.self, .init(text: "steady", delayMilliseconds: delay), timeout: .seconds(30))
            #expect(reply.text == "steady")
        }
    }
}
