import ApertureConfig
import ApertureProtocol
import Foundation
import Testing

/// `site.name` and `camera.name` (issue 16): the instance's facility-wide identity, held to
/// ``FacilityName``'s rule where it enters, from the file or the environment.
@Suite struct FacilityIdentityConfigurationTests {
    @Test func theDefaultsAreLocalAndCameraAndTheEnvironmentWins() throws {
        let defaults = try ApertureConfiguration.load(path: nil, environment: [:])
        #expect(defaults.site.name == "local" && defaults.camera.name == "camera")
        var fromFile = ApertureConfiguration()
        try fromFile.apply(text: "site.name = mro\ncamera.name = north", source: "north.conf")
        #expect(fromFile.site.name == "mro" && fromFile.camera.name == "north")
        // aperture@south.service sets APERTURE_CAMERA_NAME=south: it names the camera.
        let instance = try ApertureConfiguration.load(
            path: nil, environment: ["APERTURE_CAMERA_NAME": "south", "APERTURE_SITE_NAME": "mro"])
        #expect(instance.site.name == "mro" && instance.camera.name == "south")
    }

    @Test func anInstancesNameIsTheDefaultThatItsFileAndTheEnvironmentReplace() throws {
        let path = "/tmp/aperture-instance-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).conf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "site.name = mro\n".write(toFile: path, atomically: true, encoding: .utf8)
        // aperture@north.service: APERTURE_INSTANCE=north names the camera.
        let named = try ApertureConfiguration.load(path: path, environment: ["APERTURE_INSTANCE": "north"])
        #expect(named.camera.name == "north" && named.site.name == "mro")
        // The instance's file names it otherwise; APERTURE_CAMERA_NAME (a drop-in) wins over both.
        try "site.name = mro\ncamera.name = north-cam\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ApertureConfiguration.load(path: path, environment: ["APERTURE_INSTANCE": "north"]).camera.name == "north-cam")
        let dropIn = try ApertureConfiguration.load(path: path, environment: ["APERTURE_INSTANCE": "north",
                                                                              "APERTURE_CAMERA_NAME": "north-2"])
        #expect(dropIn.camera.name == "north-2")
        // An instance name outside the rule is refused as camera.name, saying where it came from.
        let refused = #expect(throws: ConfigurationError.self) {
            try ApertureConfiguration.load(path: nil, environment: ["APERTURE_INSTANCE": "north.2"])
        }
        #expect(refused?.key == "camera.name")
        #expect(refused?.message == "environment variable APERTURE_INSTANCE (aperture@north.2.service): camera.name = 'north.2': "
                + FacilityName.rule, "\(refused?.message ?? "")")
    }

    @Test func aNameOutsideTheRuleIsRefusedNamingTheKeyTheValueAndTheRule() {
        for (line, key, value) in [
            ("site.name = Manastash Ridge", "site.name", "Manastash Ridge"),
            ("camera.name = -north", "camera.name", "-north"),
            ("camera.name = north.2", "camera.name", "north.2"),
            ("camera.name = \(String(repeating: "c", count: 33))", "camera.name", String(repeating: "c", count: 33)),
            ("site.name = kamera-ä", "site.name", "kamera-ä"),
        ] {
            var configuration = ApertureConfiguration()
            let error = #expect(throws: ConfigurationError.self, "\(line)") {
                try configuration.apply(text: line, source: "north.conf")
            }
            #expect(error?.key == key)
            #expect(error?.message == "north.conf:1: \(key) = '\(value)': \(FacilityName.rule)", "\(error?.message ?? "")")
        }
        let fromEnvironment = #expect(throws: ConfigurationError.self) {
            try ApertureConfiguration.load(path: nil, environment: ["APERTURE_CAMERA_NAME": "north/2"])
        }
        #expect(fromEnvironment?.key == "camera.name")
        #expect(fromEnvironment?.message.contains("APERTURE_CAMERA_NAME") == true, "\(fromEnvironment?.message ?? "")")
        #expect(fromEnvironment?.message.contains("'north/2'") == true)
        // Every name the rule allows is taken: 32 characters, digits first, '_' and '-'.
        var longest = ApertureConfiguration()
        let name = "9" + String(repeating: "a_-", count: 10) + "Z"
        #expect(throws: Never.self) { try longest.apply(text: "camera.name = \(name)", source: "x") }
        #expect(longest.camera.name == name)
    }
}
