import Bus
import ApertureProtocol
import CameraCore
@testable import CameraService
import FITSStorage
import Foundation
import Testing

/// The filter wheel through the controller, with the simulated wheel (filters Ha, B, V, g, r, i).
@Suite(.serialized) struct FilterWheelControlTests {
    @Test func theWheelMovesByNameWhateverTheCaseAndBySlot() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let start = try await bench.controller.moveFilter(name: nil, slot: nil, home: false)
        #expect(start.slot == 0)
        #expect(start.name == "Ha")
        #expect(start.filters == ["Ha", "B", "V", "g", "r", "i"])
        #expect(start.driver == "simulator")

        let v = try await bench.controller.moveFilter(name: "v", slot: nil, home: false)
        #expect(v.slot == 2)
        #expect(v.name == "V")
        let i = try await bench.controller.moveFilter(name: nil, slot: 5, home: false)
        #expect(i.name == "i")
        #expect(try await bench.controller.readFilter() == i)
        let home = try await bench.controller.moveFilter(name: nil, slot: nil, home: true)
        #expect(home.slot == 0)
        #expect(await bench.controller.status().filter?.name == "Ha")
    }

    @Test func aFilterTheWheelDoesNotHoldIsRefusedNamingTheField() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let name = await #expect(throws: CameraError.self) {
            try await bench.controller.moveFilter(name: "U", slot: nil, home: false)
        }
        #expect(name?.code == .invalidArgument)
        #expect(name?.message == "name: unknown filter 'U'; the wheel holds Ha, B, V, g, r, i")
        let slot = await #expect(throws: CameraError.self) {
            try await bench.controller.moveFilter(name: nil, slot: 6, home: false)
        }
        #expect(slot?.code == .invalidArgument)
        #expect(slot?.message == "slot: 6 is not one of 0...5")
        #expect(try await bench.controller.readFilter().slot == 0)
    }

    @Test func theWheelDoesNotMoveDuringAnExposure() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let started = try await bench.controller.expose(ExposureRequest(type: .object, time: 1, mode: .preview))

        let refused = await #expect(throws: CameraError.self) {
            try await bench.controller.moveFilter(name: "r", slot: nil, home: false)
        }
        #expect(refused?.code == .busy)
        #expect(refused?.message == "the filter wheel cannot move during an exposure")
        let homing = await #expect(throws: CameraError.self) {
            try await bench.controller.moveFilter(name: nil, slot: nil, home: true)
        }
        #expect(homing?.code == .busy)
        // Reading the wheel is still allowed.
        #expect(try await bench.controller.readFilter().slot == 0)

        _ = await bench.controller.abort()
        _ = try await bench.finished(started.id)
        #expect(try await bench.controller.moveFilter(name: "r", slot: nil, home: false).slot == 4)
    }

    @Test func anExposureNamingAFilterMovesTheWheelThere() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let started = try await bench.controller.expose(ExposureRequest(type: .flat, time: 1, filter: "g"))
        #expect(try await bench.finished(started.id).status == .completed)
        #expect(try await bench.controller.readFilter().name == "g")
    }

    /// Alpaca's Position: `wait: false` answers at once with `target`; reads (the `filter`
    /// command without arguments, `status`) say the wheel moves until it is there, and
    /// `camera.filter` announces both ends; an exposure started meanwhile waits for the move,
    /// so its FILTER is the new filter.
    @Test func aMoveThatDoesNotWaitShowsItsTargetUntilTheWheelIsThereAndTheNextFileHasTheNewFilter() async throws {
        // 0.75 s per slot: slot 0 to slot 4 takes 3 s, more than a loaded machine needs for the
        // reads below (status reads the temperature too).
        let bench = try CameraBench(secondsPerSlot: 0.75)
        defer { bench.close() }
        try await bench.controller.connect()
        let events = try await bench.subscribe([CameraTopic.filter])
        let asked = ContinuousClock.now
        let reply = try await bench.controller.moveFilter(name: nil, slot: 4, home: false, wait: false)
        // Answered at once: the wheel was still at slot 0 (the move takes 3 s).
        #expect(reply.target == 4 && reply.slot == 0)
        let during = try await bench.controller.moveFilter(name: nil, slot: nil, home: false)
        #expect(during.target == 4)
        #expect(await bench.controller.status().filter?.target == 4)

        let started = try await bench.controller.expose(ExposureRequest(type: .object, time: 0.1))
        let record = try await bench.finished(started.id, within: 20)
        #expect(ContinuousClock.now - asked >= .milliseconds(2900))
        let path = try #require(record.files.first?.path)
        #expect(try FITSFile.read(path: path).header["FILTER"]?.trimmingCharacters(in: CharacterSet(charactersIn: "' ")) == "r")
        let after = try await bench.controller.moveFilter(name: nil, slot: nil, home: false)
        #expect(after.slot == 4 && after.name == "r" && after.target == nil)

        var announced: [FilterStatus] = []
        while announced.count < 2 {
            let event = try await events.next(timeout: .seconds(5))
            if event.topic == CameraTopic.filter { announced.append(try event.decode(FilterStatus.self)) }
        }
        #expect(announced[0].target == 4)
        #expect(announced[1] == after)
    }
}
