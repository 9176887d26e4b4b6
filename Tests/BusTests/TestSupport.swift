import Bus
import Foundation
import Logging
import Testing

/// A fresh runtime directory for one test, removed by `cleanup()`.
struct TemporaryRuntime {
    let directory: RuntimeDirectory

    init() throws {
        let path = "/tmp/aperture-bus-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        directory = try RuntimeDirectory.prepare(path)
    }

    func endpoint(_ name: String) -> Endpoint { directory.endpoint(name) }

    func cleanup() { try? FileManager.default.removeItem(atPath: directory.path) }
}

/// Runs `body`, failing the test (instead of hanging the suite) if it takes longer than
/// `seconds`: a deadlock shows as a failure with a name. Callers give a generous deadline (30 s):
/// during a whole-suite run on 2 cores the cooperative pool can stall for 14 s, which is not a
/// deadlock.
func withDeadline<T: Sendable>(
    _ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            Issue.record("\(what) did not finish within \(seconds) s")
            throw CancellationError()
        }
        group.cancelAll()
        return value
    }
}

let testLogger = Logger(label: "bus-tests")

/// `echo`: returns its text, optionally after a delay; counts its invocations.
enum Echo: BusCommand {
    static let name = "echo"
    struct Arguments: Codable, Sendable {
        var text: String
        var delayMilliseconds: Int?
    }
    struct Result: Codable, Sendable, Equatable {
        var text: String
    }
}

/// A thread-safe counter for handlers.
final class Counter: Sendable {
    private let storage = Mutex(0)
    var value: Int { storage.withLock { $0 } }
    func increment() { storage.withLock { $0 += 1 } }
}

import Synchronization

func echoRouter(counter: Counter = Counter()) -> CommandRouter {
    var router = CommandRouter()
    router.register(Echo.self) { arguments in
        counter.increment()
        if let delay = arguments.delayMilliseconds {
            try await Task.sleep(for: .milliseconds(delay))
        }
        return Echo.Result(text: arguments.text)
    }
    router.register(Ping.self) { _ in PingReply(process: "test", pid: getpid(), uptime: 0, ready: true) }
    return router
}

/// An echo server and a client already connected to it, on a fresh runtime directory.
final class EchoPeer: Sendable {
    let runtime: TemporaryRuntime
    let counter = Counter()
    let server: ReplyServer
    let serving: Task<Void, Never>
    let client: RequestClient

    init(_ name: String = "echo.ctl", maxInFlight: Int = ReplyServer.defaultMaxInFlight) async throws {
        runtime = try TemporaryRuntime()
        let server = try ReplyServer(listening: runtime.endpoint(name), router: echoRouter(counter: counter),
                                     maxInFlight: maxInFlight, logger: testLogger)
        self.server = server
        serving = Task { await server.run() }
        client = try RequestClient(dialing: runtime.endpoint(name))
        // The first answer only shows the peer is up: a generous deadline, since a run of the
        // whole suite on 2 cores can keep the cooperative pool busy for seconds at its start.
        _ = try await client.call(Ping.self, timeout: .seconds(60))
    }

    func close() {
        client.close()
        server.close()
        serving.cancel()
        runtime.cleanup()
    }
}

/// Polls `condition` every 10 ms until it holds, failing the test after `seconds`.
func waitUntil(_ seconds: Double, _ what: String, _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() {
        guard ContinuousClock.now < deadline else {
            Issue.record("\(what): not within \(seconds) s")
            throw CancellationError()
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}
