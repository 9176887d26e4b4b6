import ApertureConfig
import Bus

extension SupervisionSettings {
    /// The supervisor's timings and restart policy, from the configuration's `supervisor.*` keys.
    /// - Parameter configuration: a loaded configuration.
    public init(_ configuration: ApertureConfiguration) {
        let keys = configuration.supervisor
        self.init(
            pingInterval: keys.pingInterval, pingTimeout: keys.pingTimeout, maxMissedPings: keys.maxMissedPings,
            startTimeout: keys.startTimeout, stopGracePeriod: keys.stopGrace,
            restartPolicy: RestartPolicy(
                intensity: keys.restartIntensity, period: keys.restartPeriod.seconds,
                initialDelay: keys.backoffInitial.seconds, maximumDelay: keys.backoffMaximum.seconds,
                stablePeriod: keys.stablePeriod.seconds))
    }
}

extension ApertureChildren {
    /// The configured children: programs from `*.executable` (else `directory`), the camera's
    /// grace period from ``cameraStopGrace(_:)``.
    /// - Parameters:
    ///   - directory: the directory holding `aperture-camera` and its siblings.
    ///   - arguments: arguments every child gets (`--config`, `--runtime-dir`).
    ///   - configuration: a loaded configuration.
    public static func specs(in directory: String, arguments: [String],
                             configuration: ApertureConfiguration) -> [ChildSpec] {
        var overrides: [String: String] = [:]
        overrides["camera"] = configuration.camera.executable
        overrides["processor"] = configuration.processor.executable
        overrides["gateway"] = configuration.gateway.executable
        overrides["catalog"] = configuration.catalog.executable
        return specs(in: directory, arguments: arguments, cameraStopGrace: cameraStopGrace(configuration),
                     overrides: overrides)
    }

    /// The facility archive's one child (`aperture run --role archive`): `aperture-archive`, from
    /// `archive.executable` or else `directory`.
    /// - Parameters:
    ///   - directory: the directory holding `aperture-archive`.
    ///   - arguments: arguments the child gets (`--config`, `--runtime-dir`).
    ///   - configuration: a loaded configuration.
    public static func archiveSpecs(in directory: String, arguments: [String],
                                    configuration: ApertureConfiguration) -> [ChildSpec] {
        [ChildSpec(name: "archive", executable: configuration.archive.executable ?? directory + "/aperture-archive",
                   arguments: arguments, controlSocket: EndpointName.archiveControl)]
    }

    /// The camera's time to stop: `supervisor.stop_grace`, or the warm-up's time
    /// (`camera.warmup_timeout`) and 5 s more when that is longer.
    public static func cameraStopGrace(_ configuration: ApertureConfiguration) -> Duration {
        max(configuration.supervisor.stopGrace, configuration.camera.warmupTimeout + .seconds(5))
    }
}
