import ApertureConfig
import Bus
import ApertureProtocol
import CameraCore
import FITSStorage
import Foundation
import Logging
import Synchronization

/// Runs exposures: admits a request and records it, then takes its frames on the SDK thread,
/// following the ``ExposureStateMachine``'s actions (start, wait in short slices, read out, save,
/// abort), hands each frame to the ``FramePublisher``, keeps the exposure's record up to date
/// and publishes `camera.progress` and, at the end, `camera.exposure`.
final class ExposureRunner: Sendable {
    private let session: CameraSession
    private let publisher: FramePublisher
    private let cooling: CoolingControl
    private let wheel: FilterWheelControl
    private let sdk: SDKThread
    private let driver: DriverHandle<any CameraDriver>
    private let events: Publisher
    private let configuration: ApertureConfiguration
    private let logger: Logger
    /// The exposure an abort was asked for: only that exposure's loop stops, so an abort that
    /// arrives as one exposure ends never reaches the next one.
    private let abortTarget = Mutex<String?>(nil)

    private func abortWanted(_ id: String) -> Bool { abortTarget.withLock { $0 == id } }

    /// - Parameters:
    ///   - session: the state the parts share (the machine and the records).
    ///   - publisher: where frames go.
    ///   - cooling: reads the temperature before each frame.
    ///   - wheel: moves the filter an exposure names.
    ///   - sdk: the thread that calls the driver.
    ///   - driver: the camera driver.
    ///   - events: where `camera.progress` and `camera.exposure` go.
    ///   - configuration: the limits a plan is checked against, and the FITS header's names.
    ///   - logger: for exposures and their frames.
    init(session: CameraSession, publisher: FramePublisher, cooling: CoolingControl, wheel: FilterWheelControl,
         sdk: SDKThread, driver: DriverHandle<any CameraDriver>, events: Publisher,
         configuration: ApertureConfiguration, logger: Logger) {
        self.session = session
        self.publisher = publisher
        self.cooling = cooling
        self.wheel = wheel
        self.sdk = sdk
        self.driver = driver
        self.events = events
        self.configuration = configuration
        self.logger = logger
    }

    /// Validates and starts a request.
    /// - Parameter request: the request.
    /// - Returns: its record, at once (the frames follow).
    /// - Throws: ``CameraError`` `not_connected`; `busy` while another runs; `invalid_argument`
    ///   naming the field the plan or the FITS header refuses.
    func expose(_ request: ExposureRequest) async throws(CameraError) -> ExposureRecord {
        // Accepted means saved: the header its frames get must pass the FITS writer's rule.
        let plan = try admit(request)
        let record: ExposureRecord
        let actions: [ExposureStateMachine.Action]
        do throws(ExposureStateMachine.Refusal) {
            (record, actions) = try session.begin(request, plan: plan, at: Date())
        } catch {
            throw error.error
        }
        session.publishState()
        logger.info("exposure \(record.id): \(request.type.rawValue) \(plan.settings.exposureTime) s x \(plan.count.map(String.init) ?? "until aborted") (\(plan.mode.rawValue))",
                    metadata: ["exposure.id": "\(record.id)"])
        Task { await self.run(plan, id: record.id, actions: actions) }
        return record
    }

    /// The plan `request` runs by, checked against the camera, the configuration and the FITS writer's rule.
    /// - Throws: ``CameraError`` `not_connected`, or `invalid_argument` naming the field.
    func admit(_ request: ExposureRequest) throws(CameraError) -> ExposurePlan {
        guard let info = session.info else {
            throw CameraError(.notConnected, session.state.withLock { $0.machine.errorReason } ?? "the camera is not connected")
        }
        return try ExposureAdmission.plan(request, info: info, configuration: configuration,
                                          defaultPointing: driver.driver.defaultPointing,
                                          focalLength: driver.driver.focalLength,
                                          electronsPerADUByGain: driver.driver.electronsPerADUByGain)
    }

    /// Aborts the running request; returns once the camera is idle (or after 5 s).
    /// - Returns: whether it was aborted, the state now and what happened to its frames.
    /// - Parameter expected: abort only this exposure (the sequencer's, never a client's that
    ///   started meanwhile); nil: whatever runs.
    func abort(expecting expected: String? = nil) async -> AbortReply {
        let started = ContinuousClock.now
        let (busy, id) = session.state.withLock { ($0.machine.isBusy, $0.currentId) }
        guard busy else {
            let current = session.cameraState
            return AbortReply(aborted: false, state: current, exposureId: nil, milliseconds: 0,
                              message: "nothing to abort: the camera is \(current.rawValue)")
        }
        if let expected, expected != id {
            return AbortReply(aborted: false, state: session.cameraState, exposureId: nil, milliseconds: 0,
                              message: "exposure \(expected) is not running (the camera runs \(id ?? "another")); nothing aborted")
        }
        abortTarget.withLock { $0 = id }
        let deadline = started + .seconds(5)
        while session.state.withLock({ $0.machine.isBusy && $0.currentId == id }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .microseconds(500))
        }
        let elapsed = (ContinuousClock.now - started).seconds * 1000
        let (now, saved) = session.state.withLock { s in
            (s.machine.state, s.records.last { $0.id == id }?.files.count ?? 0)
        }
        logger.info("abort: \(now.rawValue) after \(String(format: "%.1f", elapsed)) ms", metadata: ["exposure.id": "\(id ?? "")"])
        let idle = now == .idle
        let message = idle
            ? "aborted; \(saved) frame(s) saved before the abort are kept, a frame in progress was discarded"
            : "abort requested, but after 5 s the camera is still \(now.rawValue): the driver does not answer"
        return AbortReply(aborted: idle, state: now, exposureId: id, milliseconds: elapsed, message: message)
    }

    /// Moves the filter if asked, then runs the request's frames on the SDK thread.
    private func run(_ plan: ExposurePlan, id: String, actions: [ExposureStateMachine.Action]) async {
        var filterName: String?
        do throws(CameraError) {
            if let filter = plan.filter {
                filterName = try await wheel.moveForExposure(to: filter).name
            } else {
                filterName = (try? await wheel.read())?.name
            }
        } catch {
            finishWithFailure(id: id, error)
            return
        }
        let chosenFilter = filterName
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            sdk.submit {
                self.exposureLoop(plan, id: id, filter: chosenFilter, actions: actions)
                continuation.resume()
            }
        }
    }

    private func finishWithFailure(id: String, _ error: CameraError) {
        let actions = session.deliver(.failed(error))
        for case .finish(let outcome) in actions { finish(id: id, outcome) }
    }

    /// The frame loop, on the SDK thread: follows the state machine's actions.
    private func exposureLoop(_ plan: ExposurePlan, id: String, filter: String?, actions initial: [ExposureStateMachine.Action]) {
        let settings = plan.settings
        let info = session.info!
        var buffer = [UInt16](repeating: 0, count: settings.imageWidth * settings.imageHeight)
        var pending = initial
        var frameStart = Date()
        var readoutEnd = Date()
        var frameTemperature: TemperatureStatus?
        let driver = self.driver.driver
        /// The frame as its readers are told about it (the ring slot's header).
        func described(_ frame: Int, preview: Bool) -> FrameMetadata {
            FrameMetadata(
                exposureId: id, frameNumber: frame, width: settings.imageWidth, height: settings.imageHeight,
                binningX: settings.binX, binningY: settings.binY, subframeX: settings.subframe.x,
                subframeY: settings.subframe.y, exposureTime: settings.exposureTime,
                exposureStart: frameStart.timeIntervalSince1970, readoutTime: readoutEnd.timeIntervalSince1970,
                imageType: plan.request.type.rawValue, preview: preview, topDown: info.firstRowIsTop,
                focus: plan.request.focusFromComment)
        }

        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .startFrame(let frame):
                frameTemperature = cooling.readOnSDKThread()
                if let focus = plan.request.focusFromComment {
                    // A driver whose frames follow the focuser (the simulator) is told where it is.
                    driver.focuserMoved(to: focus)
                }
                frameStart = Date()
                do throws(CameraError) {
                    try sdk.call("StartAcquisition") { () throws(CameraError) in try driver.startAcquisition(settings) }
                } catch {
                    pending = session.deliver(.failed(error))
                    continue
                }
                session.publishState()
                pending = waitForFrame(id: id, frame: frame, count: plan.count, settings: settings, start: frameStart)

            case .readOut:
                do throws(CameraError) {
                    try buffer.withUnsafeMutableBufferPointer { pixels throws(CameraError) in
                        try sdk.call("GetAcquiredData16") { () throws(CameraError) in try driver.readImage(into: pixels) }
                    }
                } catch {
                    pending = session.deliver(.failed(error))
                    continue
                }
                readoutEnd = Date()
                if abortWanted(id) {
                    pending = session.deliver(.abortRequested)
                    continue
                }
                if plan.mode == .preview {
                    // Announce the frame before the state moves on to the next one.
                    let frame = session.state.withLock { $0.machine.frame }
                    frameDone(described(frame, preview: true), count: plan.count, pixels: buffer, file: nil)
                }
                pending = session.deliver(.readoutFinished)

            case .save(let frame):
                let header = FITSHeader.Context(
                    request: plan.request, settings: settings, info: info, start: frameStart,
                    temperature: frameTemperature, filter: filter, instrument: configuration.camera.instrument,
                    telescope: configuration.camera.telescope, observer: configuration.camera.observer,
                    exposureId: id, frame: frame, count: plan.count, focalLength: driver.focalLength,
                    site: configuration.site,
                    electronsPerADU: FITSHeader.electronsPerADU(driver.electronsPerADUByGain, gain: settings.gain),
                    camera: configuration.camera.name)
                let file: SavedFrame
                do throws(StorageError) {
                    file = try publisher.save(pixels: buffer, header: header)
                } catch {
                    logger.error("frame \(frame) of \(id) not saved: \(error.message)", metadata: ["exposure.id": "\(id)"])
                    pending = session.deliver(.failed(CameraError(.storage, error.message)))
                    continue
                }
                frameDone(described(frame, preview: false), count: plan.count, pixels: buffer, file: file)
                if abortWanted(id) {
                    session.deliver(.abortRequested)
                }
                pending = session.deliver(.saveFinished)

            case .publishPreview:
                // Already announced after the readout.
                if abortWanted(id) {
                    // A preview ends at an abort; the frame just shown is complete.
                    pending = pending.isEmpty ? [] : session.deliver(.abortRequested)
                }

            case .abortAcquisition:
                try? sdk.call("AbortAcquisition") { () throws(CameraError) in try driver.abortAcquisition() }
                pending = session.deliver(.abortFinished)

            case .finish(let outcome):
                finish(id: id, outcome)
                pending = []
            }
            sdk.servePending()
        }
    }

    /// Waits for the acquisition in short slices, serving other jobs and watching for an abort.
    private func waitForFrame(id: String, frame: Int, count: Int?, settings: AcquisitionSettings,
                              start: Date) -> [ExposureStateMachine.Action] {
        let driver = self.driver.driver
        var lastProgress = ContinuousClock.now
        // Progress is in the exposure's own seconds, also when the driver's clock runs faster.
        let scale = driver.exposureTimeScale
        while true {
            if abortWanted(id) {
                return session.deliver(.abortRequested)
            }
            let done: Bool
            do throws(CameraError) {
                done = try sdk.call("WaitForAcquisition") { () throws(CameraError) -> Bool in
                    try driver.waitForAcquisition(timeout: 0.005)
                }
            } catch {
                return session.deliver(.failed(error))
            }
            if done {
                publishProgress(id: id, frame: frame, count: count, elapsed: settings.exposureTime, exposure: settings.exposureTime)
                return session.deliver(.acquisitionEnded)
            }
            sdk.servePending()
            if ContinuousClock.now - lastProgress >= .milliseconds(250) {
                lastProgress = .now
                let elapsed = min(settings.exposureTime, Date().timeIntervalSince(start) / scale)
                publishProgress(id: id, frame: frame, count: count, elapsed: elapsed, exposure: settings.exposureTime)
            }
        }
    }

    /// Puts a frame in the ring, counts it in its record (with its file), then announces it.
    private func frameDone(_ frame: FrameMetadata, count: Int?, pixels: [UInt16], file: SavedFrame?) {
        let location = publisher.putInRing(frame, pixels: pixels)
        session.countFrame(frame.frameNumber, of: frame.exposureId, file: file)
        publisher.announce(frame, count: count, pixels: pixels, location: location, file: file)
    }

    /// Closes the exposure's record with its outcome and publishes `camera.exposure`.
    private func finish(id: String, _ outcome: ExposureOutcome) {
        let record = session.close(id, outcome)
        session.publishState()
        if let record {
            try? events.publish(CameraTopic.exposure, record)
            logger.info("exposure \(id) \(record.status.rawValue): \(record.files.count) file(s)\(record.error.map { "; \($0.message)" } ?? "")",
                        metadata: ["exposure.id": "\(id)"])
        }
    }

    private func publishProgress(id: String, frame: Int, count: Int?, elapsed: Double, exposure: Double) {
        let percent = exposure > 0 ? min(100, max(0, elapsed / exposure * 100)) : 100
        try? events.publish(CameraTopic.progress, ExposureProgressEvent(
            exposureId: id, frame: frame, count: count, percent: percent, elapsed: elapsed, exposureTime: exposure))
    }
}
