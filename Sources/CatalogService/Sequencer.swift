import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import Logging
import ServiceLifecycle

/// The sequencer: takes the plans of the queue one at a time, driving the camera over the bus.
///
/// It lives in the catalog process because what it must know to resume without a duplicate or a
/// gap is what the catalog knows: which frames of a step are saved. A step's frames carry PLAN,
/// PLANSTEP and PLANIDX; before each series the sequencer asks the catalog which PLANIDX values
/// it holds and asks the camera only for the first run of missing ones. A frame whose exposure
/// was cut short (camera killed, hung, aborted) has no file, so it is taken again; a saved frame
/// has a row, so it is never taken twice. The queue and the frames are in the same database,
/// written by the same process. The camera process is never part of it: a crashed or hung
/// camera is restarted by the supervisor while the sequencer waits for it.
actor Sequencer {
    let catalog: FrameCatalog
    let camera: RequestClient
    let events: Publisher
    let site: ApertureConfiguration.Site
    let logger: Logger
    private var database: CatalogDatabase { catalog.database }

    /// The exposure the sequencer started and is waiting for, by plan.
    private var running: (plan: String, exposure: String)?
    /// Exposures that ended, from `camera.exposure` (lossy; polled as well).
    private var ended: [String: ExposureRecord] = [:]
    /// Bumped by every command that changes the queue: the loop looks again at once.
    private var generation = 0

    /// The most plans the queue holds that are not over.
    static let maximumQueued = 100

    /// How often the loop looks at the camera and the queue while waiting.
    static let tick: Duration = .milliseconds(20)

    init(catalog: FrameCatalog, camera: RequestClient, events: Publisher, site: ApertureConfiguration.Site, logger: Logger) {
        self.catalog = catalog
        self.camera = camera
        self.events = events
        self.site = site
        self.logger = logger
    }

    // MARK: - Commands

    /// Checks a plan entirely and queues it.
    /// - Throws: ``BusError`` `invalid_argument` naming the step and field; `camera_unavailable`
    ///   when the camera cannot check the exposures.
    func submit(_ document: PlanDocument) async throws -> PlanRecord {
        let steps = try PlanExpansion.expand(document)
        guard try await database.activePlanCount() < Self.maximumQueued else {
            throw BusError(.busy, "the queue holds \(Self.maximumQueued) plans that are not over; cancel some first")
        }
        let id = try await newId()
        var checked: Set<ExposureRequest> = []
        for step in steps {
            if let wait = step.wait, wait.sunBelow != nil, site.latitude == nil || site.longitude == nil {
                throw BusError.invalid("\(step.source).wait.sun_below",
                                       "the sun's altitude needs site.latitude and site.longitude in the configuration")
            }
            guard var request = step.exposure, checked.insert(request).inserted else { continue }
            // As the camera will get it: the whole header, PLAN cards included.
            request.plan = PlanFrameTag(id: id, step: step.step, first: 1)
            do {
                _ = try await camera.call(ExposureCheckCommand.self, request, timeout: .seconds(5))
            } catch let error where error.code == ErrorCode.invalidArgument || error.code == ErrorCode.badRequest {
                let field = "\(step.source).exposure" + (error.field.map { ".\($0)" } ?? "")
                let message = error.field.map { error.message.hasPrefix("\($0): ") ? String(error.message.dropFirst($0.count + 2)) : error.message }
                    ?? error.message
                throw BusError.invalid(field, message)
            } catch {
                throw BusError(.unavailable(.camera), "the plan's exposures cannot be checked against the camera: \(error.message)")
            }
        }
        let stored = try await database.insertPlan(id: id, document: document, steps: steps)
        logger.info("plan \(id) '\(document.name)' queued: \(steps.count) step(s), \(steps.reduce(0) { $0 + ($1.exposure == nil ? 0 : $1.count) }) frame(s)",
                    metadata: ["plan.id": "\(id)"])
        generation += 1
        return try await publish(stored)
    }

    /// Builds the calibration set of a night's or a plan's object frames and queues it.
    /// - Throws: ``BusError`` `invalid_argument` naming the field; `not_found` when there are no
    ///   object frames; `busy` when their settings are no longer the camera's.
    func calibrationSet(_ request: CalibrationSetRequest) async throws -> PlanRecord {
        try request.validate()
        var parameters = [("imagetyp", "object"), ("missing", "false")]
        if let night = request.night { parameters.append(("night", night)) }
        if let plan = request.plan { parameters.append(("plan", plan)) }
        let settings = try await database.settings(try FrameQuery(parameters: parameters))
        let scope = request.night.map { "the night of \($0)" } ?? "plan \(request.plan ?? "")"
        guard !settings.isEmpty else { throw BusError(.notFound, "no object frames on \(scope) to calibrate") }
        let status: CameraStatusReport
        do {
            status = try await camera.call(CameraStatusCommand.self, timeout: .seconds(5))
        } catch {
            throw BusError(.unavailable(.camera), "the camera's gains and readout modes are needed: \(error.message)")
        }
        guard let info = status.info else { throw BusError(.notConnected, "the camera is not connected") }
        func index(_ name: String?, in names: [String], _ what: String) throws(BusError) -> Int? {
            guard let name else { return nil }
            guard let found = names.firstIndex(of: name) else {
                throw BusError(.busy, "the frames of \(scope) used \(what) '\(name)', which the camera no longer offers (\(names.joined(separator: ", ")))")
            }
            return found
        }
        struct Detector: Hashable { var binX, binY: Int; var readout, gain: Int? }
        var detectors: [Detector] = [], darks: [(Double, Detector)] = [], flats: [(String, Detector)] = []
        for setting in settings {
            let detector = Detector(binX: setting.binX, binY: setting.binY,
                                    readout: try index(setting.readoutMode, in: info.readoutModes, "readout mode"),
                                    gain: try index(setting.gain, in: info.gains, "gain"))
            if !detectors.contains(detector) { detectors.append(detector) }
            if let time = setting.exptime, time > 0, !darks.contains(where: { $0.0 == time && $0.1 == detector }) {
                darks.append((time, detector))
            }
            if let filter = setting.filter, !flats.contains(where: { $0.0 == filter && $0.1 == detector }) {
                flats.append((filter, detector))
            }
        }
        func exposure(_ type: ImageType, _ time: Double, _ count: Int, _ detector: Detector, filter: String? = nil) -> PlanStep {
            .exposure(ExposureRequest(type: type, time: time, count: count, filter: filter, binX: detector.binX,
                                      binY: detector.binY, readoutMode: detector.readout, gain: detector.gain))
        }
        var steps: [PlanStep] = []
        let biases = request.biases ?? CalibrationSetRequest.defaultCount
        let darkCount = request.darks ?? CalibrationSetRequest.defaultCount
        let flatCount = request.flats ?? CalibrationSetRequest.defaultCount
        if biases > 0 { steps += detectors.map { exposure(.bias, 0, biases, $0) } }
        if darkCount > 0 { steps += darks.sorted { $0.0 < $1.0 }.map { exposure(.dark, $0.0, darkCount, $0.1) } }
        if flatCount > 0 {
            steps += flats.sorted { $0.0 < $1.0 }.map { exposure(.flat, request.flatTime ?? 1, flatCount, $0.1, filter: $0.0) }
        }
        guard !steps.isEmpty else { throw BusError.invalid("flats", "the frames of \(scope) need no frame of the kinds asked for") }
        return try await submit(PlanDocument(name: request.name ?? "calibration for \(scope)", steps: steps))
    }

    /// The plans (the queue in order, then finished ones).
    func list(_ arguments: PlanListCommand.Arguments) async throws -> [PlanRecord] {
        let limit = arguments.limit ?? 50
        guard (1...1000).contains(limit) else { throw BusError.invalid("limit", "must be from 1 to 1000 (got \(limit))") }
        var records: [PlanRecord] = []
        for plan in try await database.plans(finished: limit, state: arguments.state) {
            records.append(try await record(plan))
        }
        return records
    }

    /// One plan.
    func get(_ id: String) async throws -> PlanRecord {
        try await record(try await stored(id))
    }

    /// Pauses a queued or running plan (aborting its exposure).
    func pause(_ id: String) async throws -> PlanRecord {
        try await stop(id, as: .paused, reason: "paused by a client")
    }

    /// Cancels a plan that is not over (aborting its exposure).
    func cancel(_ id: String) async throws -> PlanRecord {
        try await stop(id, as: .cancelled, reason: "cancelled by a client")
    }

    /// Queues a paused or failed plan again.
    func resume(_ id: String) async throws -> PlanRecord {
        let plan = try await stored(id)
        switch plan.state {
        case .queued, .running: return try await record(plan)
        case .paused, .failed:
            // One statement: a failed plan goes back last, a paused one keeps its place.
            guard try await database.resumePlan(id) else {
                throw BusError(.busy, "plan \(id) changed meanwhile; only a paused or failed plan can be resumed")
            }
        case .done, .cancelled:
            throw BusError(.busy, "plan \(id) is \(plan.state.rawValue); only a paused or failed plan can be resumed")
        }
        generation += 1
        return try await publish(try await stored(id))
    }

    /// Moves a plan within the queue.
    func move(_ id: String, to position: Int) async throws -> PlanRecord {
        guard position >= 0 else { throw BusError.invalid("position", "must be 0 (the head) or more (got \(position))") }
        let plan = try await stored(id)
        if let refusal = try await database.movePlan(id, to: position) {
            throw BusError(.busy, "plan \(id) (\(plan.state.rawValue)) cannot be moved: \(refusal)")
        }
        generation += 1
        return try await publish(try await stored(id))
    }

    private func stop(_ id: String, as state: PlanState, reason: String) async throws -> PlanRecord {
        let plan = try await stored(id)
        let from: Set<PlanState> = state == .paused ? [.queued, .running, .paused] : [.queued, .running, .paused, .failed]
        if plan.state == state { return try await record(plan) }
        guard try await database.setPlanState(id, state, reason: reason, from: from) else {
            throw BusError(.busy, "plan \(id) is \(plan.state.rawValue); it cannot be \(state == .paused ? "paused" : "cancelled")")
        }
        if let running, running.plan == id {
            await abort(running.exposure)
        }
        logger.info("plan \(id) \(state.rawValue)", metadata: ["plan.id": "\(id)"])
        generation += 1
        return try await publish(try await stored(id))
    }

    private func stored(_ id: String) async throws -> CatalogDatabase.StoredPlan {
        guard PlanRecord.isPlanId(id), let plan = try await database.plan(id: id) else {
            throw BusError(.notFound, "no plan '\(id.prefix(40))'")
        }
        return plan
    }

    private func newId() async throws -> String {
        let day = FrameTime.day(Date()).replacingOccurrences(of: "-", with: "")
        let letters = Array("ABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        while true {
            let id = "P" + day + "-" + String((0..<4).map { _ in letters.randomElement()! })
            if try await database.plan(id: id) == nil { return id }
        }
    }

    /// The record users see: the stored plan with each step's progress from the catalog.
    private func record(_ plan: CatalogDatabase.StoredPlan) async throws -> PlanRecord {
        let held = try await database.heldCounts(plan: plan.id)
        let current = plan.currentStep ?? 1
        var steps = plan.steps
        var framesDone = 0, framesTotal = 0
        for index in steps.indices {
            if steps[index].exposure != nil {
                steps[index].done = min(held[steps[index].step] ?? 0, steps[index].count)
                framesDone += steps[index].done
                framesTotal += steps[index].count
            } else {
                steps[index].done = (steps[index].step < current || plan.state == .done) ? 1 : 0
            }
        }
        let active = plan.state == .running || plan.state == .paused
        return PlanRecord(id: plan.id, name: plan.name, state: plan.state, position: plan.position, submitted: plan.submitted,
                          started: plan.started, finished: plan.finished, reason: plan.reason,
                          currentStep: active ? current : nil, framesDone: framesDone, framesTotal: framesTotal,
                          steps: steps, document: plan.document)
    }

    /// Publishes the plan on `catalog.plan` and returns its record.
    @discardableResult
    private func publish(_ plan: CatalogDatabase.StoredPlan) async throws -> PlanRecord {
        let record = try await record(plan)
        do {
            try events.publish(CatalogTopic.plan, record)
        } catch {
            logger.warning("plan event not published: \(error.message)")
        }
        return record
    }

    private func publish(_ id: String) async {
        if let plan = try? await database.plan(id: id) { _ = try? await publish(plan) }
    }

    // MARK: - The loop

    /// Publishes the progress of plans whose frames were just catalogued, at most twice a
    /// second each (a plan's record may be large; its state changes are published at once).
    func framesCatalogued(_ plans: Set<String>) async {
        let now = ContinuousClock.now
        for plan in plans.sorted() where PlanRecord.isPlanId(plan) {
            if let last = progressPublished[plan], now - last < .milliseconds(500) { continue }
            progressPublished[plan] = now
            await publish(plan)
        }
        if progressPublished.count > 100 { progressPublished = progressPublished.filter { now - $0.value < .seconds(10) } }
    }

    private var progressPublished: [String: ContinuousClock.Instant] = [:]

    /// Notes an exposure that ended (`camera.exposure`).
    func exposureEnded(_ record: ExposureRecord) {
        ended[record.id] = record
        if ended.count > 64, let oldest = ended.min(by: { $0.value.started < $1.value.started })?.key {
            ended[oldest] = nil
        }
    }

    /// Runs the queue until the service stops: the head plan, unless it is paused.
    func run() async {
        // Frames saved while this process was down are found before anything resumes.
        await reconcile()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let seen = generation
            do {
                if let head = try await database.headPlan(), head.state == .queued || head.state == .running {
                    try await execute(head)
                    continue
                }
            } catch {
                logger.error("sequencer: \(error)")
            }
            await nap(.seconds(1), unless: seen)
        }
    }

    /// Sleeps for `duration`, or less once a command changed the queue after `seen`.
    private func nap(_ duration: Duration, unless seen: Int) async {
        let end = ContinuousClock.now + duration
        while generation == seen, ContinuousClock.now < end, !Task.isCancelled {
            try? await Task.sleep(for: Self.tick)
        }
    }

    private func reconcile() async {
        do {
            while try await catalog.reconcile() == nil {
                try await Task.sleep(for: .milliseconds(50))
            }
        } catch {
            logger.error("sequencer: reconcile failed: \(error)")
        }
    }

    /// The plan's state now, from the database.
    private func state(_ id: String) async -> PlanState? {
        try? await database.planState(id)
    }

    private enum Outcome {
        case complete
        case interrupted
        case failed(String)
    }

    /// Takes the plan's steps from its current one.
    private func execute(_ plan: CatalogDatabase.StoredPlan) async throws {
        let id = plan.id
        if plan.state == .queued {
            guard try await database.startPlan(id) else { return }
            logger.info("plan \(id) running from step \(plan.currentStep ?? 1)", metadata: ["plan.id": "\(id)"])
            await publish(id)
        }
        var step = max(plan.currentStep ?? 1, 1)
        while step <= plan.steps.count {
            guard await state(id) == .running else { return }
            let record = plan.steps[step - 1]
            let outcome: Outcome
            if let exposure = record.exposure {
                outcome = try await exposureStep(id, record, exposure)
            } else if let wait = record.wait {
                outcome = try await waitStep(id, record, wait)
            } else {
                outcome = .complete
            }
            switch outcome {
            case .interrupted:
                return
            case .failed(let reason):
                logger.error("plan \(id) failed at step \(step): \(reason)", metadata: ["plan.id": "\(id)"])
                try await database.setPlanState(id, .failed, reason: "step \(step): \(reason)", from: [.running])
                await publish(id)
                return
            case .complete:
                step += 1
                try await database.setCurrentStep(id, step)
                try await database.setPlanReason(id, nil)
                await publish(id)
            }
        }
        if try await database.setPlanState(id, .done, reason: nil, from: [.running]) {
            logger.info("plan \(id) done", metadata: ["plan.id": "\(id)"])
        }
        await publish(id)
    }

    /// Takes the frames of an exposure step the catalog does not hold, a run of missing ones at a time.
    private func exposureStep(_ id: String, _ record: PlanStepRecord, _ exposure: ExposureRequest) async throws -> Outcome {
        var failures = 0
        var reconcileFirst = false
        var lastHeld = -1
        while true {
            guard await state(id) == .running else { return .interrupted }
            if reconcileFirst {
                await reconcile()
                reconcileFirst = false
            }
            let held = try await database.heldIndexes(plan: id, step: record.step)
            if held.count > lastHeld {
                if lastHeld >= 0 { failures = 0 }
                lastHeld = held.count
            }
            guard let first = (1...record.count).first(where: { !held.contains($0) }) else { return .complete }
            var last = first
            while last < record.count, !held.contains(last + 1) { last += 1 }
            var request = exposure
            request.count = last - first + 1
            request.mode = .series
            request.plan = PlanFrameTag(id: id, step: record.step, first: first)
            var started: ExposureRecord
            do {
                started = try await camera.call(ExposeCommand.self, request, timeout: .seconds(10))
            } catch {
                if error.code == ErrorCode.invalidArgument || error.code == ErrorCode.badRequest {
                    return .failed("the camera refused the exposure: \(error.message)")
                }
                // Busy, or no answer in time: the camera may be running a series of this plan
                // (started by this process before it restarted, or by the request that timed
                // out). It is followed to its end, never asked for again beside it.
                guard let own = await runningSeries(of: id) else {
                    try await database.setPlanReason(id, "waiting for the camera: \(error.message)")
                    reconcileFirst = true
                    await nap(.seconds(1), unless: generation)
                    continue
                }
                logger.info("plan \(id): following its series \(own.id), already running in the camera", metadata: ["plan.id": "\(id)"])
                started = own
            }
            running = (id, started.id)
            try await database.setPlanReason(id, nil)
            await publish(id)
            // A pause or cancel that came while the camera was starting it.
            if await state(id) != .running { await abort(started.id) }
            let end = await awaitEnd(of: started.id)
            running = nil
            switch end {
            case .ended(let final):
                do {
                    try await catalog.ensureCatalogued(final.files.map(\.path))
                } catch {
                    logger.error("plan \(id): frames of \(final.id) not catalogued: \(error)")
                    reconcileFirst = true
                }
                await publish(id)
                switch final.status {
                case .completed, .running:
                    // Saved frames the catalog cannot hold (an unreadable file, a path outside
                    // the data root, a full state disk) would be asked for again and again.
                    let now = try await database.heldIndexes(plan: id, step: record.step)
                    if !final.files.isEmpty, now.count <= held.count {
                        failures += 1
                        logger.error("plan \(id): \(final.files.count) frame(s) saved but not catalogued", metadata: ["plan.id": "\(id)"])
                        if failures >= 5 {
                            return .failed("frames were saved but the catalog cannot hold them (5 series in a row); see the catalog's log")
                        }
                        reconcileFirst = true
                        await nap(.seconds(1), unless: generation)
                    }
                case .aborted:
                    // A client's abort pauses the plan; the camera stopping with the service
                    // (it aborts on its way out) does not: the plan resumes when it is back.
                    if await state(id) == .running, await cameraStaysUp(for: .seconds(2)),
                       !Task.isCancelled, !Task.isShuttingDownGracefully {
                        try await database.setPlanState(id, .paused, reason: "its exposure \(final.id) was aborted by a client; resume to go on",
                                                        from: [.running])
                        await publish(id)
                        return .interrupted
                    }
                    reconcileFirst = true
                case .failed:
                    failures += 1
                    let reason = final.error?.message ?? "the exposure failed"
                    logger.warning("plan \(id): exposure \(final.id) failed: \(reason)", metadata: ["plan.id": "\(id)"])
                    if failures >= 5 { return .failed("5 exposures in a row failed without a frame; the last: \(reason)") }
                    try await database.setPlanReason(id, "retrying after: \(reason)")
                    await nap(.seconds(1), unless: generation)
                }
            case .lost(let why):
                // The camera process was restarted (killed, crashed or hung): its frames saved
                // before are found by a reconcile, the one cut short is taken again.
                logger.warning("plan \(id): exposure \(started.id) lost: \(why)", metadata: ["plan.id": "\(id)"])
                try await database.setPlanReason(id, "waiting for the camera: \(why)")
                failures += 1
                if failures >= 20 { return .failed("the camera lost 20 exposures in a row without a frame; the last: \(why)") }
                reconcileFirst = true
            }
        }
    }

    private enum End {
        case ended(ExposureRecord)
        case lost(String)
    }

    /// Waits until the camera's exposure `id` ends: its event, or its record asked for every
    /// second; `lost` when the camera no longer knows it (a restarted camera process).
    private func awaitEnd(of id: String) async -> End {
        var nextQuery = ContinuousClock.now + .seconds(1)
        var unreachableSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            if let record = ended.removeValue(forKey: id) { return .ended(record) }
            if ContinuousClock.now >= nextQuery {
                do {
                    let record = try await camera.call(ExposureQueryCommand.self, .init(id: id), timeout: .seconds(2))
                    unreachableSince = nil
                    if record.status != .running { return .ended(record) }
                } catch {
                    switch error.code {
                    case ErrorCode.invalidArgument, ErrorCode.notFound:
                        return .lost("the camera no longer knows exposure \(id) (its process was restarted)")
                    default:
                        // Down or hung: the supervisor restarts it; then the id is unknown.
                        unreachableSince = unreachableSince ?? ContinuousClock.now
                    }
                }
                nextQuery = ContinuousClock.now + .seconds(1)
            }
            try? await Task.sleep(for: Self.tick)
        }
        return .lost("the sequencer is stopping")
    }

    /// The series the camera is running for plan `id`, if it is running one.
    private func runningSeries(of id: String) async -> ExposureRecord? {
        guard let status = try? await camera.call(CameraStatusCommand.self, timeout: .seconds(5)),
              let current = status.exposure, current.status == .running, current.request.plan?.id == id else { return nil }
        return current
    }

    /// Whether the camera answers `status` throughout `duration` (false once it does not: it is
    /// stopping or gone).
    private func cameraStaysUp(for duration: Duration) async -> Bool {
        let end = ContinuousClock.now + duration
        while ContinuousClock.now < end {
            guard (try? await camera.call(CameraStatusCommand.self, timeout: .seconds(1))) != nil, !Task.isCancelled else { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return true
    }

    /// Aborts the camera's exposure `id` if it is still running (never another client's: the
    /// camera checks the id and stops in one step).
    private func abort(_ id: String) async {
        do {
            let reply = try await camera.call(AbortExposureCommand.self, .init(exposureId: id), timeout: .seconds(10))
            logger.info("plan exposure \(id) aborted: \(reply.message)")
        } catch {
            logger.warning("plan exposure \(id) not aborted: \(error.message)")
        }
    }

    /// Waits for a time, the set-point or the sun.
    private func waitStep(_ id: String, _ record: PlanStepRecord, _ wait: PlanWait) async throws -> Outcome {
        let started = Date()
        let timeout = wait.timeout ?? (wait.setpoint != nil ? PlanWait.defaultSetpointTimeout
            : wait.sunBelow != nil ? PlanWait.defaultSunTimeout : .infinity)
        var lastReason: String?
        while true {
            guard await state(id) == .running else { return .interrupted }
            let reason: String
            if let until = wait.until.flatMap(FrameTime.parse) {
                if Date() >= until { return .complete }
                reason = "waiting until \(FrameTime.canonical(until))Z"
            } else if wait.setpoint != nil {
                let tolerance = wait.tolerance ?? PlanWait.defaultTolerance
                do {
                    let reading = try await camera.call(TemperatureCommand.self, timeout: .seconds(5))
                    let off = abs(reading.celsius - Double(reading.setpoint))
                    if reading.coolerOn && off <= tolerance { return .complete }
                    reason = reading.coolerOn
                        ? String(format: "waiting for the sensor at %.2f C to come within %.2f C of the set-point %d C",
                                 reading.celsius, tolerance, reading.setpoint)
                        : "waiting for the set-point: the cooler is off (turn it on with PUT /v1/camera/cooling)"
                } catch {
                    reason = "waiting for the set-point: the camera does not answer (\(error.message))"
                }
            } else if let below = wait.sunBelow, let latitude = site.latitude, let longitude = site.longitude {
                let altitude = SkyGeometry.sunAltitude(latitude: latitude, longitude: longitude, at: Date())
                if altitude < below { return .complete }
                reason = String(format: "waiting for the sun at %.2f degrees to set below %.2f", altitude, below)
            } else {
                return .failed("the sun's altitude needs site.latitude and site.longitude in the configuration")
            }
            if Date().timeIntervalSince(started) > timeout {
                return .failed("the wait timed out after \(Int(timeout)) s (\(reason))")
            }
            if reason != lastReason {
                try await database.setPlanReason(id, reason)
                await publish(id)
                lastReason = reason
            }
            await nap(.seconds(1), unless: generation)
        }
    }
}

/// Runs the sequencer. ``CatalogFollowService`` feeds it `camera.exposure`, from the catalog's
/// one subscription to the camera's events.
struct SequencerService: Service {
    let sequencer: Sequencer

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await sequencer.run()
        }
    }
}
