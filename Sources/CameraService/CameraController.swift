import ApertureConfig
import Bus
import CameraCore
import FITSStorage
import Foundation
import Logging
import Synchronization

/// The camera process's brain: owns the driver (through its SDK thread), runs the exposure
/// state machine, writes FITS files, keeps exposure records, and publishes events.
final class CameraController: Sendable {
    /// The in-memory state, guarded by one lock.
    struct State: Sendable {
        var machine = ExposureStateMachine(connected: false)
        var info: CameraInfo?
        var records: [ExposureRecord] = []
        var currentId: String?
        var temperature: TemperatureStatus?
        var filterSlot: Int?
        var latest: LatestFrameStore.Frame?
        var sequence = 0
        var nextId = 1
        var lastPublished: CameraStateEvent?
        /// The shared-memory frame ring, created once the sensor size is known.
        var ring: FrameRingWriter?
    }

    let configuration: ApertureConfiguration
    let driverName: String
    private let sdk: SDKThread
    private let driver: DriverHandle<any CameraDriver>
    private let wheelThread: SDKThread
    private let wheel: DriverHandle<any FilterWheel>
    private let events: Publisher
    private let store: FrameStore
    private let logger: Logger
    private let state = Mutex(State())
    private let abortRequested = Atomic<Bool>(false)
    private let temperaturePending = Atomic<Bool>(false)
    private let latestFrames: LatestFrameStore
    /// Records kept for `exposures` and `exposure`.
    static let recordLimit = 200

    private let ringPath: String

    init(configuration: ApertureConfiguration, driverName: String, driver: any CameraDriver, wheel: any FilterWheel,
         events: Publisher, runtime: RuntimeDirectory, logger: Logger) {
        self.ringPath = runtime.path + "/" + EndpointName.cameraFrames
        self.latestFrames = LatestFrameStore(ringPath: runtime.path + "/" + EndpointName.cameraFrames)
        self.configuration = configuration
        self.driverName = driverName
        self.sdk = SDKThread(name: "aperture-sdk")
        self.driver = DriverHandle(driver)
        self.wheelThread = SDKThread(name: "aperture-wheel")
        self.wheel = DriverHandle(wheel)
        self.events = events
        // Records and events carry absolute paths, whatever directory the process started in.
        let root = configuration.dataRoot.hasPrefix("/")
            ? configuration.dataRoot
            : FileManager.default.currentDirectoryPath + "/" + configuration.dataRoot
        self.store = FrameStore(root: URL(fileURLWithPath: root).standardizedFileURL.path, prefix: configuration.filePrefix)
        self.logger = logger
    }

    /// Removes what crashed predecessors left: the frame ring's temporary files in the runtime
    /// directory and the hidden FITS temporary files under the data root (see
    /// ``FrameStore/removeStaleTemporaries()``). Called once at start-up, before connecting.
    func removeLeftovers() {
        let removed = FrameRingWriter.removeStaleTemporaries(of: ringPath) + store.removeStaleTemporaries()
        for file in removed {
            logger.notice("removed \(file), left by a process that ended while writing it")
        }
    }

    // MARK: Connection

    /// Connects the camera and reads the wheel; on failure the camera stays in the error state.
    func connect() async throws(CameraError) {
        let driver = self.driver
        let sdk = self.sdk
        do throws(CameraError) {
            let info = try await sdk.perform("connect") { () throws(CameraError) -> CameraInfo in
                try sdk.call("connect") { () throws(CameraError) -> CameraInfo in try driver.driver.connect() }
            }
            let temperature = try? await readTemperature()
            let ring = makeRing(info)
            transition(.connectionChanged(connected: true, reason: nil)) {
                $0.info = info
                $0.temperature = temperature
                if let ring { $0.ring = ring }
            }
            logger.info("camera connected: \(info.model), \(info.width)x\(info.height), set-point range \(info.minimumSetpoint)...\(info.maximumSetpoint) C")
        } catch {
            transition(.connectionChanged(connected: false, reason: error.message))
            logger.error("cannot connect the camera: \(error.message)")
            throw error
        }
        _ = try? await readFilter()
    }

    /// Creates the frame ring for the sensor's full frame (a new file, so readers of a previous
    /// camera process notice the new generation).
    private func makeRing(_ info: CameraInfo) -> FrameRingWriter? {
        if let existing = state.withLock({ $0.ring }), existing.slotCapacity >= info.width * info.height * 2 {
            return existing
        }
        do throws(BusError) {
            let ring = try FrameRingWriter(path: ringPath, slots: configuration.ringSlots,
                                           slotCapacity: info.width * info.height * 2)
            logger.info("frame ring \(ringPath): \(ring.slotCount) slots of \(ring.slotCapacity) bytes")
            return ring
        } catch {
            logger.error("no frame ring, frames reach readers through frame.latest only: \(error.message)")
            return nil
        }
    }

    /// Whether the camera is connected and usable.
    var isConnected: Bool { state.withLock { $0.machine.state != .error } }

    /// A driver call running longer than the configured limit: the camera is wedged.
    var wedgedCall: (name: String, seconds: Double)? {
        guard let call = sdk.currentCall, call.seconds > configuration.sdkCallTimeout else { return nil }
        return call
    }

    // MARK: Status

    func status() async -> CameraStatusReport {
        let temperature = try? await readTemperature(timeout: .seconds(2))
        let filter = try? await readFilter()
        return state.withLock { s in
            CameraStatusReport(
                state: s.machine.state, connected: s.machine.state != .error, reason: s.machine.errorReason,
                driver: driverName, info: s.info, temperature: temperature ?? s.temperature, filter: filter,
                exposure: s.currentId.flatMap { id in s.records.last { $0.id == id } },
                frame: s.machine.isBusy ? s.machine.frame : nil, count: s.machine.isBusy ? s.machine.count : nil)
        }
    }

    func record(id: String) throws(CameraError) -> ExposureRecord {
        guard let record = state.withLock({ s in s.records.last { $0.id == id } }) else {
            throw CameraError(.notFound, "id: no exposure '\(id)' (the camera keeps the last \(Self.recordLimit))")
        }
        return record
    }

    func records() -> [ExposureRecord] { state.withLock { $0.records } }

    func latestFrame(includePixels: Bool) throws(CameraError) -> LatestFrame {
        try latestFrames.reply(includePixels: includePixels)
    }

    // MARK: Temperature and cooling

    /// Reads the temperature on the SDK thread (served between exposure slices).
    func readTemperature(timeout: Duration = .seconds(5)) async throws(CameraError) -> TemperatureStatus {
        // While one read waits on a busy or wedged SDK thread, do not queue more behind it.
        guard temperaturePending.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else {
            if let last = state.withLock({ $0.temperature }) { return last }
            throw CameraError(.timeout, "a temperature read is already waiting for the camera")
        }
        defer { temperaturePending.store(false, ordering: .releasing) }
        let driver = self.driver
        let sdk = self.sdk
        let reading = try await withTimeout(timeout, "temperature read") { () async throws(CameraError) -> TemperatureStatus in
            try await sdk.perform("temperature") { () throws(CameraError) -> TemperatureStatus in
                try sdk.call("GetTemperatureF") { () throws(CameraError) -> TemperatureStatus in try driver.driver.temperature() }
            }
        }
        state.withLock { $0.temperature = reading }
        return reading
    }

    func cool(setpoint: Int?, cooler: Bool?) async throws(CameraError) -> TemperatureStatus {
        guard let info = state.withLock({ $0.info }), isConnected else {
            throw CameraError(.notConnected, "the camera is not connected")
        }
        if let setpoint, !(info.minimumSetpoint...info.maximumSetpoint).contains(setpoint) {
            throw CameraError(.invalidArgument,
                "setpoint: \(setpoint) C is outside the cooler's range \(info.minimumSetpoint)...\(info.maximumSetpoint) C")
        }
        if setpoint == nil && cooler == nil {
            throw CameraError(.invalidArgument, "setpoint or cooler: give a set-point, or cooler on/off")
        }
        let turnOn = cooler ?? true
        let driver = self.driver
        let sdk = self.sdk
        try await withTimeout(.seconds(configuration.sdkCallTimeout), "cool") { () async throws(CameraError) in
            try await sdk.perform("cool") { () throws(CameraError) in
                // Switch first, so that a refused switch leaves the set-point as it was.
                try sdk.call(turnOn ? "CoolerON" : "CoolerOFF") { () throws(CameraError) in try driver.driver.setCooler(on: turnOn) }
                if let setpoint {
                    try sdk.call("SetTemperature") { () throws(CameraError) in try driver.driver.setTemperatureSetpoint(setpoint) }
                }
            }
        }
        logger.info("cooler \(turnOn ? "on" : "off")\(setpoint.map { ", set-point \($0) C" } ?? "")")
        return try await readTemperature()
    }

    // MARK: Filter wheel

    func readFilter() async throws(CameraError) -> FilterStatus {
        let wheel = self.wheel
        let wheelThread = self.wheelThread
        let slot = try await withTimeout(.seconds(30), "filter wheel position") { () async throws(CameraError) -> Int in
            try await wheelThread.perform("filter position") { () throws(CameraError) -> Int in try wheel.driver.position() }
        }
        state.withLock { $0.filterSlot = slot }
        return filterStatus(slot)
    }

    func moveFilter(name: String?, slot: Int?, home: Bool) async throws(CameraError) -> FilterStatus {
        let names = configuration.filterNames
        if name == nil && slot == nil && !home {
            return try await readFilter()
        }
        if state.withLock({ $0.machine.isBusy }) {
            throw CameraError(.busy, "the filter wheel cannot move during an exposure")
        }
        let wheel = self.wheel
        if home {
            try await wheelThread.perform("filter home") { () throws(CameraError) in try wheel.driver.home() }
        } else {
            var target: Int
            if let name {
                guard let index = names.firstIndex(where: { $0.caseInsensitiveCompare(name) == .orderedSame }) else {
                    throw CameraError(.invalidArgument, "name: unknown filter '\(name)'; the wheel holds \(names.joined(separator: ", "))")
                }
                target = index
            } else if let slot {
                guard names.indices.contains(slot) else {
                    throw CameraError(.invalidArgument, "slot: \(slot) is not one of 0...\(names.count - 1)")
                }
                target = slot
            } else {
                return try await readFilter()
            }
            let destination = target
            try await wheelThread.perform("filter move") { () throws(CameraError) in try wheel.driver.move(to: destination) }
        }
        return try await readFilter()
    }

    private func filterStatus(_ slot: Int) -> FilterStatus {
        let names = configuration.filterNames
        return FilterStatus(slot: slot, name: names.indices.contains(slot) ? names[slot] : "slot \(slot)",
                            filters: names, driver: configuration.filterWheelDriver)
    }

    // MARK: Exposures

    /// Validates and starts a request; returns its record at once.
    func expose(_ request: ExposureRequest) async throws(CameraError) -> ExposureRecord {
        guard let info = state.withLock({ $0.info }) else {
            throw CameraError(.notConnected, state.withLock { $0.machine.errorReason } ?? "the camera is not connected")
        }
        // Accepted means saved: the header its frames get must pass the FITS writer's rule.
        let plan = try ExposureAdmission.plan(request, info: info, configuration: configuration)
        let now = Date()
        let record: ExposureRecord
        let actions: [ExposureStateMachine.Action]
        do throws(ExposureStateMachine.Refusal) {
            (record, actions) = try state.withLock { s throws(ExposureStateMachine.Refusal) in
                let actions = try s.machine.handle(.start(count: plan.count, preview: plan.mode == .preview))
                let id = Self.exposureId(now, s.nextId)
                s.nextId += 1
                let record = ExposureRecord(id: id, request: request, mode: plan.mode, status: .running,
                                            count: plan.count, started: now.timeIntervalSince1970)
                s.records.append(record)
                if s.records.count > Self.recordLimit { s.records.removeFirst(s.records.count - Self.recordLimit) }
                s.currentId = record.id
                return (record, actions)
            }
        } catch {
            throw error.error
        }
        abortRequested.store(false, ordering: .sequentiallyConsistent)
        publishState()
        logger.info("exposure \(record.id): \(request.type.rawValue) \(plan.settings.exposureTime) s x \(plan.count.map(String.init) ?? "until aborted") (\(plan.mode.rawValue))",
                    metadata: ["exposure.id": "\(record.id)"])
        Task { await self.run(plan, id: record.id, actions: actions) }
        return record
    }

    /// Aborts the running request; returns once the camera is idle (or after 5 s).
    func abort() async -> AbortReply {
        let started = ContinuousClock.now
        let (busy, id) = state.withLock { ($0.machine.isBusy, $0.currentId) }
        guard busy else {
            let current = state.withLock { $0.machine.state }
            return AbortReply(aborted: false, state: current, exposureId: nil, milliseconds: 0,
                              message: "nothing to abort: the camera is \(current.rawValue)")
        }
        abortRequested.store(true, ordering: .sequentiallyConsistent)
        let deadline = started + .seconds(5)
        while state.withLock({ $0.machine.isBusy && $0.currentId == id }), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .microseconds(500))
        }
        let elapsed = (ContinuousClock.now - started).seconds * 1000
        let (now, saved) = state.withLock { s in
            (s.machine.state, s.records.last { $0.id == id }?.files.count ?? 0)
        }
        logger.info("abort: \(now.rawValue) after \(String(format: "%.1f", elapsed)) ms", metadata: ["exposure.id": "\(id ?? "")"])
        let idle = now == .idle
        let message = idle
            ? "aborted; \(saved) frame(s) saved before the abort are kept, a frame in progress was discarded"
            : "abort requested, but after 5 s the camera is still \(now.rawValue): the driver does not answer"
        return AbortReply(aborted: idle, state: now, exposureId: id, milliseconds: elapsed, message: message)
    }

    private static func exposureId(_ date: Date, _ number: Int) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02d-%04d", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, number)
    }

    /// Moves the filter if asked, then runs the request's frames on the SDK thread.
    private func run(_ plan: ExposurePlan, id: String, actions: [ExposureStateMachine.Action]) async {
        var filterName: String?
        do throws(CameraError) {
            if let filter = plan.filter {
                let status = try await moveFilterForExposure(filter)
                filterName = status.name
            } else {
                filterName = (try? await readFilter())?.name
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

    private func moveFilterForExposure(_ name: String) async throws(CameraError) -> FilterStatus {
        let names = configuration.filterNames
        guard let slot = names.firstIndex(of: name) else {
            throw CameraError(.invalidArgument, "filter: unknown filter '\(name)'")
        }
        let wheel = self.wheel
        try await wheelThread.perform("filter move") { () throws(CameraError) in
            if try wheel.driver.position() != slot { try wheel.driver.move(to: slot) }
        }
        return try await readFilter()
    }

    private func finishWithFailure(id: String, _ error: CameraError) {
        let actions = deliver(.failed(error))
        for case .finish(let outcome) in actions { finish(id: id, outcome) }
    }

    /// The frame loop, on the SDK thread: follows the state machine's actions.
    private func exposureLoop(_ plan: ExposurePlan, id: String, filter: String?, actions initial: [ExposureStateMachine.Action]) {
        let settings = plan.settings
        let info = state.withLock { $0.info }!
        var buffer = [UInt16](repeating: 0, count: settings.imageWidth * settings.imageHeight)
        var pending = initial
        var frameStart = Date()
        var readoutEnd = Date()
        var frameTemperature: TemperatureStatus?
        let driver = self.driver.driver

        while !pending.isEmpty {
            let action = pending.removeFirst()
            switch action {
            case .startFrame(let frame):
                frameTemperature = try? sdk.call("GetTemperatureF") { () throws(CameraError) -> TemperatureStatus in try driver.temperature() }
                if let frameTemperature { state.withLock { $0.temperature = frameTemperature } }
                if let focus = plan.request.focusFromComment {
                    // A driver whose frames follow the focuser (the simulator) is told where it is.
                    driver.focuserMoved(to: focus)
                }
                frameStart = Date()
                do throws(CameraError) {
                    try sdk.call("StartAcquisition") { () throws(CameraError) in try driver.startAcquisition(settings) }
                } catch {
                    pending = deliver(.failed(error))
                    continue
                }
                publishState()
                pending = waitForFrame(id: id, frame: frame, count: plan.count, settings: settings, start: frameStart)

            case .readOut:
                do throws(CameraError) {
                    try buffer.withUnsafeMutableBufferPointer { pixels throws(CameraError) in
                        try sdk.call("GetAcquiredData16") { () throws(CameraError) in try driver.readImage(into: pixels) }
                    }
                } catch {
                    pending = deliver(.failed(error))
                    continue
                }
                readoutEnd = Date()
                if abortRequested.load(ordering: .sequentiallyConsistent) {
                    pending = deliver(.abortRequested)
                    continue
                }
                if plan.mode == .preview {
                    // Announce the frame before the state moves on to the next one.
                    let frame = state.withLock { $0.machine.frame }
                    frameDone(id: id, frame: frame, count: plan.count, settings: settings, start: frameStart,
                              readout: readoutEnd, request: plan.request, pixels: buffer, file: nil)
                }
                pending = deliver(.readoutFinished)

            case .save(let frame):
                let header = FITSHeader.cards(FITSHeader.Context(
                    request: plan.request, settings: settings, info: info, start: frameStart,
                    temperature: frameTemperature, filter: filter, instrument: configuration.instrument,
                    telescope: configuration.telescope, observer: configuration.observer,
                    exposureId: id, frame: frame, count: plan.count))
                let saved: SavedFile
                do throws(StorageError) {
                    saved = try buffer.withUnsafeBufferPointer { pixels throws(StorageError) in
                        try store.save(pixels: pixels, width: settings.imageWidth, height: settings.imageHeight,
                                       cards: header.cards, comments: header.comments, date: frameStart)
                    }
                } catch {
                    logger.error("frame \(frame) of \(id) not saved: \(error.message)", metadata: ["exposure.id": "\(id)"])
                    pending = deliver(.failed(CameraError(.storage, error.message)))
                    continue
                }
                frameDone(id: id, frame: frame, count: plan.count, settings: settings, start: frameStart,
                          readout: readoutEnd, request: plan.request, pixels: buffer,
                          file: SavedFrame(frame: frame, path: saved.path, bytes: saved.bytes))
                if abortRequested.load(ordering: .sequentiallyConsistent) {
                    _ = deliver(.abortRequested)
                }
                pending = deliver(.saveFinished)

            case .publishPreview:
                // Already announced after the readout.
                if abortRequested.load(ordering: .sequentiallyConsistent) {
                    // A preview ends at an abort; the frame just shown is complete.
                    pending = pending.isEmpty ? [] : deliver(.abortRequested)
                }

            case .abortAcquisition:
                try? sdk.call("AbortAcquisition") { () throws(CameraError) in try driver.abortAcquisition() }
                pending = deliver(.abortFinished)

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
            if abortRequested.load(ordering: .sequentiallyConsistent) {
                return deliver(.abortRequested)
            }
            let done: Bool
            do throws(CameraError) {
                done = try sdk.call("WaitForAcquisition") { () throws(CameraError) -> Bool in
                    try driver.waitForAcquisition(timeout: 0.005)
                }
            } catch {
                return deliver(.failed(error))
            }
            if done {
                publishProgress(id: id, frame: frame, count: count, elapsed: settings.exposureTime, exposure: settings.exposureTime)
                return deliver(.acquisitionEnded)
            }
            sdk.servePending()
            if ContinuousClock.now - lastProgress >= .milliseconds(250) {
                lastProgress = .now
                let elapsed = min(settings.exposureTime, Date().timeIntervalSince(start) / scale)
                publishProgress(id: id, frame: frame, count: count, elapsed: elapsed, exposure: settings.exposureTime)
            }
        }
    }

    private func frameDone(id: String, frame: Int, count: Int?, settings: AcquisitionSettings, start: Date,
                           readout: Date, request: ExposureRequest, pixels: [UInt16], file: SavedFrame?) {
        let (ring, topDown) = state.withLock { ($0.ring, $0.info?.firstRowIsTop ?? true) }
        var location: FrameLocation?
        if let ring {
            let metadata = FrameMetadata(
                exposureId: id, frameNumber: frame, width: settings.imageWidth, height: settings.imageHeight,
                binningX: settings.binX, binningY: settings.binY, subframeX: settings.subframe.x,
                subframeY: settings.subframe.y, exposureTime: settings.exposureTime,
                exposureStart: start.timeIntervalSince1970, readoutTime: readout.timeIntervalSince1970,
                imageType: request.type.rawValue, preview: file == nil, topDown: topDown,
                focus: request.focusFromComment)
            do throws(BusError) {
                location = try pixels.withUnsafeBufferPointer { buffer throws(BusError) in try ring.write(metadata, pixels: buffer) }
            } catch {
                logger.error("frame \(frame) of \(id) not put in the frame ring: \(error.message)")
            }
        }
        let sequence = state.withLock { s -> Int in
            s.sequence += 1
            if let index = s.records.lastIndex(where: { $0.id == id }) {
                s.records[index].framesDone = frame
                if let file { s.records[index].files.append(file) }
            }
            return s.sequence
        }
        latestFrames.store(.init(exposureId: id, frame: frame, sequence: sequence, width: settings.imageWidth,
                                 height: settings.imageHeight, preview: file == nil, path: file?.path,
                                 time: start.timeIntervalSince1970, pixels: location.map { .ring($0) } ?? .copy(pixels),
                                 rowOrder: topDown ? "TOP-DOWN" : "BOTTOM-UP"))
        try? events.publish(CameraTopic.frame, FrameNotice(
            exposureId: id, frame: frame, count: count, sequence: sequence, width: settings.imageWidth,
            height: settings.imageHeight, preview: file == nil, path: file?.path,
            bytes: file?.bytes ?? pixels.count * 2, ring: location, focus: request.focusFromComment,
            exposureStart: start.timeIntervalSince1970, readoutTime: readout.timeIntervalSince1970))
        if let file {
            logger.info("saved \(file.path)", metadata: ["exposure.id": "\(id)", "frame": "\(frame)"])
        }
    }

    private func finish(id: String, _ outcome: ExposureOutcome) {
        let record = state.withLock { s -> ExposureRecord? in
            guard let index = s.records.lastIndex(where: { $0.id == id }) else { return nil }
            switch outcome {
            case .completed: s.records[index].status = .completed
            case .aborted: s.records[index].status = .aborted
            case .failed(let error):
                s.records[index].status = .failed
                s.records[index].error = .init(code: error.code.rawValue, message: error.message)
            }
            s.records[index].finished = Date().timeIntervalSince1970
            if s.currentId == id { s.currentId = nil }
            return s.records[index]
        }
        abortRequested.store(false, ordering: .sequentiallyConsistent)
        publishState()
        if let record {
            try? events.publish(CameraTopic.exposure, record)
            logger.info("exposure \(id) \(record.status.rawValue): \(record.files.count) file(s)\(record.error.map { "; \($0.message)" } ?? "")",
                        metadata: ["exposure.id": "\(id)"])
        }
    }

    // MARK: State machine and events

    /// Applies an event to the machine under the lock, publishing a state change.
    @discardableResult
    private func deliver(_ event: ExposureStateMachine.Event) -> [ExposureStateMachine.Action] {
        let (before, after, actions) = state.withLock { s -> (CameraState, CameraState, [ExposureStateMachine.Action]) in
            let before = s.machine.state
            let actions = (try? s.machine.handle(event)) ?? []
            return (before, s.machine.state, actions)
        }
        if before != after { publishState() }
        return actions
    }

    private func transition(_ event: ExposureStateMachine.Event, _ update: (inout State) -> Void = { _ in }) {
        state.withLock { s in
            _ = try? s.machine.handle(event)
            update(&s)
        }
        publishState()
    }

    /// Publishes `camera.state` when it differs from the last one published.
    func publishState() {
        let event = state.withLock { s -> CameraStateEvent? in
            let event = CameraStateEvent(state: s.machine.state, exposureId: s.machine.isBusy ? s.currentId : nil,
                                         frame: s.machine.isBusy ? s.machine.frame : nil,
                                         count: s.machine.isBusy ? s.machine.count : nil, reason: s.machine.errorReason)
            if event == s.lastPublished { return nil }
            s.lastPublished = event
            return event
        }
        if let event { try? events.publish(CameraTopic.state, event) }
    }

    private func publishProgress(id: String, frame: Int, count: Int?, elapsed: Double, exposure: Double) {
        let percent = exposure > 0 ? min(100, max(0, elapsed / exposure * 100)) : 100
        try? events.publish(CameraTopic.progress, ExposureProgressEvent(
            exposureId: id, frame: frame, count: count, percent: percent, elapsed: elapsed, exposureTime: exposure))
    }

    /// Publishes telemetry every interval until cancelled.
    func publishTelemetry() async {
        while !Task.isCancelled {
            let connected = isConnected
            let temperature = connected ? try? await readTemperature(timeout: .seconds(2)) : nil
            let cameraState = state.withLock { $0.machine.state }
            try? events.publish(CameraTopic.telemetry, TelemetryEvent(state: cameraState, connected: connected,
                                                                      temperature: temperature))
            try? await Task.sleep(for: .seconds(configuration.telemetryInterval))
        }
    }

    // MARK: Shutdown

    /// Cooler off, wait (bounded) until the sensor is at or above the warm-up temperature, then
    /// release the camera, as evora did. An exposure in progress is aborted first.
    func shutdown(reason: String) async {
        if state.withLock({ $0.machine.isBusy }) { _ = await abort() }
        guard isConnected else { return }
        let driver = self.driver
        let sdk = self.sdk
        let target = configuration.warmupTemperature
        let timeout = configuration.warmupTimeout
        let logger = self.logger
        if let wedged = wedgedCall {
            logger.error("not warming up: the SDK call \(wedged.name) has not returned for \(Int(wedged.seconds)) s")
            transition(.connectionChanged(connected: false, reason: reason))
            return
        }
        let final = try? await withTimeout(.seconds(timeout + 10), "shutdown") { () async throws(CameraError) -> Double? in
          try await sdk.perform("shutdown") { () throws(CameraError) -> Double? in
            try? sdk.call("CoolerOFF") { () throws(CameraError) in try driver.driver.setCooler(on: false) }
            let deadline = Date().addingTimeInterval(timeout)
            var reading = try? sdk.call("GetTemperatureF") { () throws(CameraError) in try driver.driver.temperature() }
            if let current = reading?.celsius, current < target {
                logger.notice("warming the sensor from \(String(format: "%.1f", current)) C to \(target) C before releasing the camera")
            }
            while let current = reading?.celsius, current < target, Date() < deadline {
                Thread.sleep(forTimeInterval: 0.2)
                sdk.servePending()
                reading = try? sdk.call("GetTemperatureF") { () throws(CameraError) in try driver.driver.temperature() }
            }
            try sdk.call("ShutDown") { () throws(CameraError) in try driver.driver.disconnect() }
            return reading?.celsius
          }
        }
        transition(.connectionChanged(connected: false, reason: reason)) { $0.temperature = nil }
        if let final {
            logger.info("camera released at \(String(format: "%.1f", final ?? .nan)) C")
        }
    }
}
