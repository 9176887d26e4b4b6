import ApertureConfig
import Bus
import ChildRuntime
import Logging
import ServiceLifecycle

/// The camera process: the one owner of the camera. This part is the walking
/// skeleton: it answers `ping` on `camera.ctl` and reports ready; exposures, cooling and FITS
/// files arrive with issue 3.
public enum CameraApplication {
    /// Builds the camera process's commands and services.
    /// - Parameters:
    ///   - context: the child's context.
    ///   - commands: the control socket's router (`ping` is already there).
    /// - Returns: the services to run.
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        context.logger.info("camera driver: \(context.configuration.cameraDriver)")
        context.readiness.set(true)
        return []
    }
}
