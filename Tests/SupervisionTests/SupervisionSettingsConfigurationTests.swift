import ApertureConfig
import Supervision
import Testing

/// The supervisor's settings and children, built from the configuration in the library (not
/// copied field by field in the executable).
@Suite struct SupervisionSettingsConfigurationTests {
    @Test func theDefaultConfigurationGivesTheDefaultSettings() {
        let settings = SupervisionSettings(ApertureConfiguration())
        let defaults = SupervisionSettings()
        #expect(settings.pingInterval == defaults.pingInterval && settings.pingInterval == .seconds(1))
        #expect(settings.pingTimeout == defaults.pingTimeout && settings.pingTimeout == .milliseconds(500))
        #expect(settings.maxMissedPings == defaults.maxMissedPings && settings.maxMissedPings == 3)
        #expect(settings.startTimeout == defaults.startTimeout && settings.startTimeout == .seconds(30))
        #expect(settings.stopGracePeriod == defaults.stopGracePeriod && settings.stopGracePeriod == .seconds(5))
        #expect(settings.restartPolicy == defaults.restartPolicy)
        #expect(settings.restartPolicy == RestartPolicy(intensity: 5, period: 60, initialDelay: 0.1, maximumDelay: 10, stablePeriod: 60))
    }

    @Test func everySupervisorKeyReachesItsSetting() throws {
        let configuration = try ApertureConfiguration.load(path: nil, environment: [
            "APERTURE_SUPERVISOR_PING_INTERVAL": "2.5", "APERTURE_SUPERVISOR_PING_TIMEOUT": "0.25",
            "APERTURE_SUPERVISOR_MAX_MISSED_PINGS": "7", "APERTURE_SUPERVISOR_START_TIMEOUT": "45",
            "APERTURE_SUPERVISOR_STOP_GRACE": "12", "APERTURE_SUPERVISOR_RESTART_INTENSITY": "9",
            "APERTURE_SUPERVISOR_RESTART_PERIOD": "120", "APERTURE_SUPERVISOR_BACKOFF_INITIAL": "0.5",
            "APERTURE_SUPERVISOR_BACKOFF_MAX": "30", "APERTURE_SUPERVISOR_STABLE_PERIOD": "300",
        ])
        let settings = SupervisionSettings(configuration)
        #expect(settings.pingInterval == .milliseconds(2500))
        #expect(settings.pingTimeout == .milliseconds(250))
        #expect(settings.maxMissedPings == 7)
        #expect(settings.startTimeout == .seconds(45))
        #expect(settings.stopGracePeriod == .seconds(12))
        #expect(settings.restartPolicy == RestartPolicy(intensity: 9, period: 120, initialDelay: 0.5, maximumDelay: 30, stablePeriod: 300))
    }

    @Test func theCameraWaitsForItsWarmUpAndProgramsCanBeReplaced() throws {
        let defaults = ApertureChildren.specs(in: "/opt/aperture", arguments: ["--runtime-dir", "/run/x"],
                                              configuration: ApertureConfiguration())
        #expect(defaults.map(\.name) == ["camera", "processor", "catalog", "gateway"])
        #expect(defaults.map(\.executable) == ["/opt/aperture/aperture-camera", "/opt/aperture/aperture-processor",
                                               "/opt/aperture/aperture-catalog", "/opt/aperture/aperture-gateway"])
        #expect(defaults.allSatisfy { $0.arguments == ["--runtime-dir", "/run/x"] })
        // max(stop_grace 5 s, warmup_timeout 120 s + 5 s); the others use the supervisor's own.
        #expect(defaults.map(\.stopGracePeriod) == [.seconds(125), nil, nil, nil])

        var configuration = ApertureConfiguration()
        try configuration.apply(text: """
            supervisor.stop_grace = 200
            camera.warmup_timeout = 10
            gateway.executable = /usr/bin/my-gateway
            camera.executable = /usr/bin/my-camera
            catalog.executable = /usr/bin/my-catalog
            """, source: "test.conf")
        let changed = ApertureChildren.specs(in: "/opt/aperture", arguments: [], configuration: configuration)
        #expect(changed.map(\.executable) == ["/usr/bin/my-camera", "/opt/aperture/aperture-processor", "/usr/bin/my-catalog",
                                              "/usr/bin/my-gateway"])
        #expect(changed[0].stopGracePeriod == .seconds(200))
        configuration.supervisor.stopGrace = .seconds(1)
        #expect(ApertureChildren.cameraStopGrace(configuration) == .seconds(15))
    }
}
