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
