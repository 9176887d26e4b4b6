import ApertureProtocol
import Bus

/// How an exposure (one request: a single frame, a series, or a preview run) ended.
public enum ExposureOutcome: Sendable, Hashable {
    /// Every frame was taken (and saved, unless a preview).
    case completed
    /// Aborted: the frame in progress was discarded; frames saved before it remain.
    case aborted
    /// A failure ended it; the message names the cause.
    case failed(CameraError)
}

/// The exposure state machine as a value: events in, actions out, no clocks and no I/O, so
/// that every transition is tested without a camera (STYLE.md point 5).
///
/// One exposure request runs frame after frame: `exposing` → `reading` → `saving` (or, for a
/// preview, straight back to `exposing`), then `idle` after the last frame. An abort while
/// exposing or reading discards the frame at once; an abort while saving lets that complete
/// frame be written and stops the series after it.
public struct ExposureStateMachine: Sendable, Hashable {
    /// What the machine asks its driver loop to do.
    public enum Action: Sendable, Hashable {
        /// Start acquiring frame `index` (1-based).
        case startFrame(Int)
        /// Read the finished frame out of the camera.
        case readOut
        /// Write the frame just read (1-based index).
        case save(Int)
        /// Publish the frame just read without saving it (preview).
        case publishPreview(Int)
        /// Tell the driver to abort the acquisition.
        case abortAcquisition
        /// The request ended.
        case finish(ExposureOutcome)
    }

    /// What happened.
    public enum Event: Sendable, Hashable {
        /// A validated request: `count` frames (nil: preview until aborted), saved or preview.
        case start(count: Int?, preview: Bool)
        /// The driver says the acquisition ended.
        case acquisitionEnded
        /// The image was read out.
        case readoutFinished
        /// The frame was written.
        case saveFinished
        /// A client asked to abort.
        case abortRequested
        /// The driver confirmed the abort.
        case abortFinished
        /// Something failed (driver, storage); the request ends.
        case failed(CameraError)
        /// The camera became unusable (connection lost) or usable again.
        case connectionChanged(connected: Bool, reason: String?)
    }

    /// A refused event: the state does not allow it.
    public struct Refusal: Error, Sendable, Hashable {
        /// Why: `busy` (a request is running) or `not_connected` (the camera is in the error state).
        public let error: CameraError
    }

    /// The camera's state, as `status` and `camera.state` report it.
    public private(set) var state: CameraState
    /// The frame in progress (1-based), while a request runs.
    public private(set) var frame = 0
    /// The number of frames requested (nil: until aborted).
    public private(set) var count: Int?
    /// Whether the running request is a preview (frames are published, not saved).
    public private(set) var preview = false
    /// Whether the request stops after the frame being saved (an abort arrived while saving).
    public private(set) var stopAfterCurrentFrame = false
    /// Why the camera is in the error state.
    public private(set) var errorReason: String?

    /// Creates a machine.
    /// - Parameter connected: whether the camera starts usable (idle) or not (error).
    public init(connected: Bool = true) {
        state = connected ? .idle : .error
        errorReason = connected ? nil : "the camera is not connected"
    }

    /// Whether a request is running.
    public var isBusy: Bool { state != .idle && state != .error }

    /// Applies an event.
    /// - Parameter event: what happened.
    /// - Returns: the actions to carry out, in order.
    /// - Throws: ``Refusal`` with `busy` or `not_connected` when the state does not allow a
    ///   new request; other events that do not apply in the state are ignored (empty actions).
    public mutating func handle(_ event: Event) throws(Refusal) -> [Action] {
        switch (state, event) {
        case (.idle, .start(let count, let preview)):
            self.count = count
            self.preview = preview
            frame = 1
            stopAfterCurrentFrame = false
            state = .exposing
            return [.startFrame(1)]
        case (.error, .start):
            throw Refusal(error: CameraError(.notConnected, errorReason ?? "the camera is not usable"))
        case (_, .start):
            throw Refusal(error: CameraError(.busy, "the camera is \(state.rawValue) (frame \(frame)\(count.map { " of \($0)" } ?? "")); abort it or wait"))

        case (.exposing, .acquisitionEnded):
            state = .reading
            return [.readOut]

        case (.reading, .readoutFinished):
            if preview {
                return [.publishPreview(frame)] + nextFrameOrFinish()
            }
            state = .saving
            return [.save(frame)]

        case (.saving, .saveFinished):
            return nextFrameOrFinish()

        case (.exposing, .abortRequested), (.reading, .abortRequested):
            state = .aborting
            return [.abortAcquisition]
        case (.saving, .abortRequested):
            stopAfterCurrentFrame = true
            return []
        case (.aborting, .abortFinished):
            return finish(.aborted)

        case (.exposing, .failed(let error)), (.reading, .failed(let error)),
             (.saving, .failed(let error)), (.aborting, .failed(let error)):
            return finish(.failed(error))

        case (_, .connectionChanged(let connected, let reason)):
            if connected {
                if state == .error {
                    state = .idle
                    errorReason = nil
                }
                return []
            }
            let wasBusy = isBusy
            state = .error
            errorReason = reason ?? "the camera is not connected"
            frame = 0
            return wasBusy ? [.finish(.failed(CameraError(.notConnected, errorReason!)))] : []

        default:
            return []
        }
    }

    private mutating func nextFrameOrFinish() -> [Action] {
        if stopAfterCurrentFrame {
            return finish(.aborted)
        }
        if let count, frame >= count {
            return finish(.completed)
        }
        frame += 1
        state = .exposing
        return [.startFrame(frame)]
    }

    private mutating func finish(_ outcome: ExposureOutcome) -> [Action] {
        state = .idle
        frame = 0
        count = nil
        preview = false
        stopAfterCurrentFrame = false
        return [.finish(outcome)]
    }
}
