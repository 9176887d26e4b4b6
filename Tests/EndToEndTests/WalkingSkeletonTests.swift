import Bus
import Foundation
import Testing
import ProcessTestSupport

/// The real `aperture` and its children, started as a user would.
@Suite(.serialized, .timeLimit(.minutes(5))) struct WalkingSkeletonTests {
    /// Polls /healthz until every child is running and answering pings.
    func waitUntilHealthy(_ address: String, timeout: Double = 60) async throws -> Health {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ""
        while Date() < deadline {
            if let (code, body) = try? await ServiceHarness.get(address, "/healthz") {
                last = "\(code) \(String(decoding: body, as: UTF8.self))"
                if code == 200, let health = try? JSONDecoder().decode(Health.self, from: body) {
                    return health
                }
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("/healthz never became healthy; last reply: \(last)")
        throw CancellationError()
    }

    @Test func healthzListsEveryChildAndSIGTERMLeavesNothingBehind() async throws {
        let service = try ServiceHarness("aperture")
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let health = try await waitUntilHealthy(address)

        #expect(health.status == "ok")
        #expect(health.children.map(\.name) == ["camera", "processor", "catalog", "gateway"])
        let pids = health.children.compactMap(\.pid)
        #expect(pids.count == 4)
        for child in health.children {
            #expect(child.state == "running")
            #expect(child.responding)
            #expect(ServiceHarness.isAlive(child.pid ?? -1), "\(child.name) is not alive")
        }

        kill(service.pid, SIGTERM)
        let status = await service.waitForExit(timeout: 30)
        #expect(status == 0, "aperture did not exit cleanly after SIGTERM:\n\(service.output)")
        for pid in pids {
            #expect(!ServiceHarness.isAlive(pid), "child \(pid) survived the supervisor")
        }
        #expect(ServiceHarness.processes(mentioning: service.runtime.path).isEmpty)
        // Children were stopped in reverse order.
        let output = service.output
        let order = ["gateway stopped", "catalog stopped", "processor stopped", "camera stopped"]
            .compactMap { output.range(of: $0)?.lowerBound }
        #expect(order.count == 4 && order == order.sorted(), "stop order wrong:\n\(output)")
    }

    @Test func aKilledChildIsReapedAndRestarted() async throws {
        let service = try ServiceHarness("aperture")
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let before = try await waitUntilHealthy(address)
        let camera = try #require(before.children.first { $0.name == "camera" }?.pid)

        kill(camera, SIGKILL)
        let deadline = Date().addingTimeInterval(30)
        var after: Health?
        while Date() < deadline {
            if let health = try? await waitUntilHealthy(address, timeout: 5),
               let newCamera = health.children.first(where: { $0.name == "camera" }),
               newCamera.pid != camera {
                after = health
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let restarted = try #require(after?.children.first { $0.name == "camera" })
        #expect(restarted.restarts == 1)
        #expect(restarted.last_exit == "killed by signal 9 (SIGKILL)")
        // The others were left alone.
        #expect(after?.children.first { $0.name == "gateway" }?.pid == before.children.first { $0.name == "gateway" }?.pid)
        kill(service.pid, SIGTERM)
        #expect(await service.waitForExit(timeout: 30) == 0)
    }

    @Test func aSupervisorKilledBySIGKILLTakesItsChildrenWithIt() async throws {
        let service = try ServiceHarness("aperture")
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        let health = try await waitUntilHealthy(address)
        let pids = health.children.compactMap(\.pid)
        #expect(pids.count == 4)

        kill(service.pid, SIGKILL)
        _ = await service.waitForExit(timeout: 10)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, pids.contains(where: ServiceHarness.isAlive) {
            try await Task.sleep(for: .milliseconds(50))
        }
        for pid in pids {
            #expect(!ServiceHarness.isAlive(pid), "child \(pid) outlived its supervisor")
        }
    }

    @Test func aChildWhoseParentIsAlreadyGoneExitsByItself() async throws {
        // A parent pid that is not this child's parent: as if the supervisor died before the
        // child set its parent-death signal.
        let child = try ServiceHarness("aperture-camera", environment: ["APERTURE_SUPERVISOR_PID": "999999999"])
        defer { child.cleanup() }
        let started = ContinuousClock.now
        let status = await child.waitForExit(timeout: 15)
        #expect(status != nil, "aperture-camera kept running without its supervisor")
        #expect(child.output.contains("the supervisor is gone"))
        // It shuts down as on SIGTERM (exit 0, "stopped"), not by the 10 s fallback's exit 1.
        #expect(status == 0, "\(child.output)")
        #expect(child.output.contains("stopped"), "\(child.output)")
        #expect(ContinuousClock.now - started < .seconds(9))
    }

    @Test func aRuntimeDirectoryThatCannotBeCreatedStopsStartUpNamingIt() async throws {
        let blocker = "/tmp/aperture-blocker-\(getpid())"
        FileManager.default.createFile(atPath: blocker, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: blocker) }
        let service = try ServiceHarness("aperture", runtimeDirectory: blocker + "/run")
        defer { service.cleanup() }
        let status = await service.waitForExit(timeout: 15)
        #expect(status != nil && status != 0)
        #expect(service.output.contains(blocker + "/run"), "\(service.output)")
        #expect(service.output.contains("Not a directory"), "\(service.output)")
    }

    @Test func anInvalidConfigurationStopsStartUpNamingTheKey() async throws {
        let service = try ServiceHarness("aperture", environment: ["APERTURE_GATEWAY_LISTEN": "everywhere"])
        defer { service.cleanup() }
        let status = await service.waitForExit(timeout: 15)
        #expect(status == 78)
        #expect(service.output.contains("APERTURE_GATEWAY_LISTEN"), "\(service.output)")
        #expect(service.output.contains("HOST:PORT"), "\(service.output)")
    }

    @Test func aSecondInstanceOnTheSameRuntimeDirectoryIsRefused() async throws {
        let first = try ServiceHarness("aperture")
        defer { first.cleanup() }
        _ = try await first.gatewayAddress()
        let second = try ServiceHarness("aperture", runtimeDirectory: first.runtime.path)
        defer { second.cleanup() }
        let status = await second.waitForExit(timeout: 15)
        #expect(status != nil && status != 0)
        #expect(second.output.contains("another aperture"), "\(second.output)")
        #expect(!first.process.hasEnded)
    }

    @Test func statusAndStopFromTheCommandLine() async throws {
        let service = try ServiceHarness("aperture")
        defer { service.cleanup() }
        let address = try await service.gatewayAddress()
        _ = try await waitUntilHealthy(address)

        let status = try ServiceHarness.runCLI(["status", "--runtime-dir", service.runtime.path])
        #expect(status.code == 0)
        for name in ["camera", "processor", "catalog", "gateway"] {
            #expect(status.output.contains(name))
        }
        #expect(status.output.contains("running"))

        let stop = try ServiceHarness.runCLI(["stop", "--runtime-dir", service.runtime.path])
        #expect(stop.code == 0)
        #expect(await service.waitForExit(timeout: 30) == 0)

        let after = try ServiceHarness.runCLI(["status", "--runtime-dir", service.runtime.path])
        #expect(after.code != 0)
        #expect(after.output.contains("is aperture running"))
    }
}
