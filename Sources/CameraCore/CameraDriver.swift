import Foundation
import ApertureProtocol

/// The driver's view of an acquisition.
public enum AcquisitionStatus: Sendable, Hashable {
    /// No acquisition runs (none started, or the last one finished and its data wait).
    case idle
    /// Exposing or reading out.
    case acquiring
}

/// A camera driver: the one place that talks to the hardware or its SDK.
///
/// Threading contract: the camera process calls every method from **one dedicated thread**
/// (the "SDK thread"), never concurrently and never from Swift's cooperative pool; methods may
/// block (the SDK's calls do). An exposure is driven as: ``startAcquisition(_:)``, then
/// ``waitForAcquisition(timeout:)`` in short slices (between which the camera process serves
/// temperature reads and checks for an abort, calling ``abortAcquisition()`` on the same
/// thread), then ``readImage(into:)``.
public protocol CameraDriver: AnyObject {
    /// Connects and initialises the camera (Andor: Initialize, GetDetector...).
    /// - Returns: what the camera can do.
    /// - Throws: ``CameraError`` `driver_error` or `not_connected` naming the cause.
    func connect() throws(CameraError) -> CameraInfo

    /// Releases the camera (Andor: ShutDown). The caller warms the sensor up first.
    func disconnect() throws(CameraError)

    /// Starts one acquisition with validated settings.
    /// - Throws: ``CameraError`` (`busy` if one runs, `driver_error`).
    func startAcquisition(_ settings: AcquisitionSettings) throws(CameraError)

    /// Whether an acquisition is in progress.
    func acquisitionStatus() throws(CameraError) -> AcquisitionStatus

    /// Blocks until the running acquisition ends or `timeout` seconds pass.
    /// - Parameter timeout: the longest wait, in seconds (the caller passes ~10 ms slices).
    /// - Returns: true when the acquisition ended and its image can be read.
    func waitForAcquisition(timeout: Double) throws(CameraError) -> Bool

    /// Aborts the running acquisition; its data are discarded. No-op when idle.
    func abortAcquisition() throws(CameraError)

    /// Copies the finished acquisition's image (row-major, top row first, `imageWidth` x
    /// `imageHeight` of the settings it was started with) into `buffer`.
    func readImage(into buffer: UnsafeMutableBufferPointer<UInt16>) throws(CameraError)

    /// Switches the cooler on or off.
    func setCooler(on: Bool) throws(CameraError)

    /// Sets the cooler's target temperature (already range-checked by the caller).
    func setTemperatureSetpoint(_ celsius: Int) throws(CameraError)

    /// Reads the sensor temperature and cooler state; allowed during an acquisition.
    func temperature() throws(CameraError) -> TemperatureStatus

    // MARK: Optional capabilities (each has a default below, right for a hardware camera)

    /// How many real seconds one second of exposure takes: 1 for a hardware camera (the
    /// default); a simulator may run faster (less than 1) or slower. Exposure progress divides
    /// the real time elapsed by it, so that it reports the exposure's own seconds.
    var exposureTimeScale: Double { get }

    /// Tells the driver the focuser position the observer reports for the frames that follow
    /// (the `focus: N` of an exposure's comment), told before each frame starts. A hardware
    /// camera cannot see the focuser and ignores it (the default); the simulator's star images
    /// follow it.
    /// - Parameter position: the focuser position, as the observer wrote it.
    func focuserMoved(to position: Double)

    /// Where the telescope points when an exposure names no pointing: nil for a hardware camera
    /// (the default: it cannot know); the simulator's configured pointing. The camera service
    /// puts it in the acquisition settings, so the driver renders it and the header records it.
    var defaultPointing: SkyPointing? { get }

    /// The telescope's focal length in millimetres, for FITS FOCALLEN: nil for a hardware camera
    /// (the default), the simulator's configured one.
    var focalLength: Double? { get }

    /// Electrons per ADU at each gain setting (indexed as ``CameraInfo/gains``), for FITS EGAIN:
    /// nil when the driver does not know them (the default: a hardware camera's conversion gain
    /// is on its test sheet, not reported by the SDK), and the keyword is then left out.
    var electronsPerADUByGain: [Double]? { get }
}

extension CameraDriver {
    /// Real time: one second of exposure takes one second.
    public var exposureTimeScale: Double { 1 }

    /// Ignored: a hardware camera's frames do not depend on what it is told about the focuser.
    public func focuserMoved(to position: Double) {}

    /// None: a hardware camera does not know where the telescope points.
    public var defaultPointing: SkyPointing? { nil }

    /// Unknown to a hardware camera.
    public var focalLength: Double? { nil }

    /// Unknown to a hardware camera.
    public var electronsPerADUByGain: [Double]? { nil }
}
