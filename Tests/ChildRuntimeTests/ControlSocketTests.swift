import Bus
import ChildRuntime
import Foundation
import Logging
import Testing

/// The control socket every child answers on: `ping` with its name, pid and readiness, and a
/// refusal while its health check reports a problem (so that the supervisor restarts it).
@Suite struct ControlSocketTests {
    /// Serves ``ChildProcessRuntime/controlRouter(process:readiness:health:startTime:)`` on a
    /// fresh runtime directory and runs `body` with a client of it.
    func withControlSocket(
        readiness: Readiness, health: HealthCheck, _ body: (RequestClient) async throws -> Void
    ) async throws {
        let directory = "/tmp/aperture-control-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let runtime = try RuntimeDirectory.prepare(directory)
        var logger = Logger(label: "control-socket-test")
        logger.logLevel = .critical
        let router = ChildProcessRuntime.controlRouter(process: "aperture-test", readiness: readiness, health: health)
        let server = try ReplyServer(listening: runtime.endpoint("test.ctl"), router: router, logger: logger)
        let serving = Task { await server.run() }
        let client = try RequestClient(dialing: runtime.endpoint("test.ctl"))
        do {
            try await body(client)
        } catch {
            client.close()
            server.close()
            await serving.value
            throw error
        }
        client.close()
        server.close()
        await serving.value
    }

    @Test func pingAnswersWithTheProcessAndItsReadiness() async throws {
        let readiness = Readiness()
        try await withControlSocket(readiness: readiness, health: HealthCheck()) { client in
            let before = try await client.call(Ping.self, timeout: .seconds(60))
            #expect(before.process == "aperture-test")
            #expect(before.pid == getpid())
            #expect(before.uptime >= 0)
            #expect(before.ready == false)
            readiness.set(true)
            let after = try await client.call(Ping.self, timeout: .seconds(5))
            #expect(after.ready == true)
            #expect(after.uptime >= before.uptime)
            readiness.set(false)
            #expect(try await client.call(Ping.self, timeout: .seconds(5)).ready == false)
        }
    }

    @Test func pingIsRefusedWithTheReasonWhileUnhealthy() async throws {
        let health = HealthCheck()
        try await withControlSocket(readiness: Readiness(), health: health) { client in
            _ = try await client.call(Ping.self, timeout: .seconds(60))
            health.install { "the camera SDK has not returned for 30 s" }
            let error = await #expect(throws: BusError.self) {
                try await client.call(Ping.self, timeout: .seconds(5))
            }
            #expect(error?.code == .internal)
            #expect(error?.message.contains("the camera SDK has not returned for 30 s") == true)
            health.install { nil }
            #expect(try await client.call(Ping.self, timeout: .seconds(5)).process == "aperture-test")
        }
    }
}
