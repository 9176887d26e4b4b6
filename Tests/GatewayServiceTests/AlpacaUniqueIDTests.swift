import Foundation
@testable import GatewayService
import Logging
import Testing

/// The Alpaca devices' UniqueIDs (issue 16): derived from the instance's site and camera names
/// the first time, so that two instances on one host never show the same device, and kept after.
@Suite struct AlpacaUniqueIDTests {
    @Test func aNameGivesTheVersion5UUIDPythonsUuid5Gives() {
        // python3: uuid.uuid5(uuid.UUID('6f1d3b0e-5c2a-4e8b-9a41-2d7c0b5e8f13'), NAME)
        #expect(AlpacaManagement.nameBasedUUID("mro/north/camera/0") == "a8354368-53ba-589b-8afb-8d4e82c4c994")
        #expect(AlpacaManagement.nameBasedUUID("mro/south/camera/0") == "85390304-9a95-50f3-ab26-37685a8a7291")
        #expect(AlpacaManagement.nameBasedUUID("local/camera/filterwheel/0") == "1647dc65-0fbe-57a3-8427-4a3baa876442")
    }

    @Test func twoInstancesGetDifferentDevicesAndAKeptUniqueIDStays() throws {
        let root = "/tmp/aperture-uniqueid-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let logger = Logger(label: "test")
        let north = AlpacaManagement(stateDirectory: root + "/north", host: "127.0.0.1", site: "mro", camera: "north", logger: logger)
        let south = AlpacaManagement(stateDirectory: root + "/south", host: "127.0.0.1", site: "mro", camera: "south", logger: logger)
        #expect(Set([north.uniqueID, north.filterWheelID, south.uniqueID, south.filterWheelID]).count == 4)
        #expect(north.uniqueID == "a8354368-53ba-589b-8afb-8d4e82c4c994")
        let kept = try String(contentsOfFile: root + "/north/" + AlpacaManagement.uniqueIDFile, encoding: .utf8)
        #expect(kept == north.uniqueID + "\n")
        // An installation's UniqueID (a random one from before issue 16) stays, whatever the names.
        let earlier = "0d5a3c1e-7f0b-4a7e-8c55-3f1e2d9b6a70"
        try (earlier + "\n").write(toFile: root + "/south/" + AlpacaManagement.uniqueIDFile, atomically: true, encoding: .utf8)
        let again = AlpacaManagement(stateDirectory: root + "/south", host: "127.0.0.1", site: "mro", camera: "south", logger: logger)
        #expect(again.uniqueID == earlier && again.filterWheelID == south.filterWheelID)
    }
}
