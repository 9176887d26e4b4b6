import Bus
import ApertureProtocol
import CameraCore
@testable import CameraService
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
}
