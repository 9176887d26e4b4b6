/// The camera's states, as clients see them on `camera.events` and in `status`.
public enum CameraState: String, Sendable, Hashable, Codable {
    /// Connected, nothing running.
    case idle
    /// The shutter is open (or a dark/bias integrates).
    case exposing
    /// The image is being read out of the sensor.
    case reading
    /// The image is being written to its FITS file.
    case saving
    /// An abort was requested; the acquisition is being stopped.
    case aborting
    /// The camera is not usable (not connected, or the driver failed); the message says why.
    case error
}
