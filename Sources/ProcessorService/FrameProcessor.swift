import ApertureConfig
import Bus
import ApertureProtocol
import FrameAnalysis
import Foundation
import Logging
import Synchronization

/// The processor's brain: reads each new frame from the camera's shared-memory ring (only a
/// small notice arrives on the bus), analyses it in place, publishes and keeps the result.
///
/// It never blocks the camera: the camera never waits for it, notices only wake it (the ring is
/// the queue, bounded by its slots), and a frame overwritten before it was analysed is counted
/// as dropped. Nothing queues without bound.
final class FrameProcessor: Sendable {
    struct State: Sendable {
        var processing: Bool
        var configuration = AnalysisConfiguration()
        var startTime: Double?
        var processed = 0
        var dropped = 0
        var skipped = 0
        var lastFrameId: String?
        var lastFrameTime: Double?
        var lastSize: (width: Int, height: Int)?
        /// The camera's sensor size in unbinned pixels, asked of the camera once (its `status`'s
        /// `info`) and kept: the size every ROI is checked against when it is set.
        var sensor: (width: Int, height: Int)?
        /// Frames analysed since processing last started (psen's `n_processed_images`).
        var runProcessed = 0
        /// The ring sequence number of the last frame analysed, from 1.
        var lastSequence: UInt64?
        /// Unix time the last frame's result was ready.
        var lastProcessedTime: Double?
        var results: [ProcessorResult] = []
        /// (completion time, latency) of recent frames, for the rate and mean latency.
        var recent: [(time: Double, latency: Double)] = []
    }

    static let resultLimit = 200
    /// The longest the processor waits for the camera's `status`, which may wait up to 2 s for a
    /// fresh temperature reading; below the gateway's deadline for an ROI
    /// (`Gateway.roiTimeout`), so that a camera that does not answer is reported as such.
    static let cameraTimeout: Duration = .seconds(4)
    private let state: Mutex<State>
    private let runtime: RuntimeDirectory
    private let events: Publisher
    private let logger: Logger
    /// `camera.ctl`, asked for the sensor's size; nil when the client could not be opened.
    private let camera: RequestClient?
    /// The calibrated quick look (`calibrate`).
    private let calibrator: QuickLookCalibrator

    init(runtime: RuntimeDirectory, events: Publisher, autostart: Bool, logger: Logger, dataRoot: String = ".") {
        self.runtime = runtime
        self.events = events
        self.logger = logger
        self.camera = try? RequestClient(dialing: runtime.endpoint(EndpointName.cameraControl))
        self.calibrator = QuickLookCalibrator(catalog: try? RequestClient(dialing: runtime.endpoint(EndpointName.catalogControl)),
                                              dataRoot: dataRoot)
        self.state = Mutex(State(processing: autostart, startTime: autostart ? Date().timeIntervalSince1970 : nil))
    }

    // MARK: Commands

    func setProcessing(_ on: Bool) -> ProcessorState {
        state.withLock { s in
            if on && !s.processing {
                s.startTime = Date().timeIntervalSince1970
                s.runProcessed = 0
            }
            s.processing = on
        }
        logger.info(on ? "processing started" : "processing stopped")
        return ProcessorState(processing: on)
    }

    var processingState: ProcessorState { ProcessorState(processing: state.withLock { $0.processing }) }

    func roi(_ which: ROIKind) -> ROIReply {
        let roi = state.withLock { which == .background ? $0.configuration.backgroundROI : $0.configuration.signalROI }
        return ROIReply(which: which, roi: roi?.array)
    }

    /// Sets one ROI after checking its form and that it lies within the camera's sensor (so an
    /// ROI is refused before any frame arrives); nil or `[]` disables it and needs no sensor.
    func setROI(_ which: ROIKind, _ values: [Int]?) async throws(BusError) -> ROIReply {
        let field = "roi_\(which.rawValue)"
        let roi: ROI?
        do throws(AnalysisError) {
            roi = try ROI.parse(values, field: field)
        } catch {
            throw BusError(error)
        }
        if let roi { try await checkAgainstSensor(roi, field: field) }
        state.withLock { s in
            if which == .background { s.configuration.backgroundROI = roi } else { s.configuration.signalROI = roi }
        }
        logger.info("\(field) = \(roi.map { "\($0)" } ?? "disabled")")
        return ROIReply(which: which, roi: roi?.array)
    }

    /// Replaces the analysis configuration after checking its numbers and its ROIs against the
    /// camera's sensor (as ``setROI(_:_:)``).
    func configure(_ configuration: AnalysisConfiguration) async throws(BusError) -> AnalysisConfiguration {
        do throws(AnalysisError) {
            try configuration.validate()
        } catch {
            throw BusError(error)
        }
        if let roi = configuration.signalROI { try await checkAgainstSensor(roi, field: "roi_signal") }
        if let roi = configuration.backgroundROI { try await checkAgainstSensor(roi, field: "roi_background") }
        state.withLock { $0.configuration = configuration }
        return configuration
    }

    /// Refuses an ROI that does not lie within the camera's sensor.
    ///
    /// A frame of another size later (binned, or a subframe) is analysed as before: an ROI that
    /// does not fit that frame is reported in the result's `roi_errors` and its profiles are left
    /// out; the rest of the analysis is unaffected.
    /// - Throws: ``BusError`` `invalid_argument` naming the field, the sum and the sensor's size;
    ///   `not_connected` when the camera has never connected (its size is unknown);
    ///   `camera_unavailable` when the camera process does not answer.
    private func checkAgainstSensor(_ roi: ROI, field: String) async throws(BusError) {
        let sensor = try await sensorSize(field: field)
        if let reason = roi.validate(width: sensor.width, height: sensor.height, field: field, subject: "sensor") {
            throw BusError(.invalidArgument, reason, field: field)
        }
    }

    /// The camera's sensor size: kept once known, else asked of the camera (`status`, whose
    /// `info` is present once the camera has connected).
    private func sensorSize(field: String) async throws(BusError) -> (width: Int, height: Int) {
        if let known = state.withLock({ $0.sensor }) { return known }
        let unknown = "so the sensor size that \(field) must fit is unknown: try again once it is up, or send [] or null to disable the ROI"
        guard let camera else {
            throw BusError(.unavailable(.camera), "\(field): the processor cannot reach camera.ctl, \(unknown)", field: field)
        }
        let report: CameraStatusReport
        do throws(BusError) {
            report = try await camera.call(CameraStatusCommand.self, timeout: Self.cameraTimeout)
        } catch {
            guard error.code.isNoAnswer else { throw error }
            throw BusError(.unavailable(.camera), "\(field): the camera process does not answer (\(error.message)), \(unknown)",
                           field: field)
        }
        guard let info = report.info else {
            throw BusError(.notConnected, "\(field): the camera has not connected yet (state \(report.state.rawValue)"
                           + "\(report.reason.map { ": \($0)" } ?? "")), \(unknown.replacingOccurrences(of: "once it is up", with: "once it is initialized"))",
                           field: field)
        }
        guard info.width > 0, info.height > 0 else {
            throw BusError(.internal, "\(field): the camera reports a sensor of \(info.width) x \(info.height) pixels", field: field)
        }
        state.withLock { $0.sensor = (info.width, info.height) }
        logger.info("sensor size \(info.width) x \(info.height) (from the camera): ROIs are checked against it")
        return (info.width, info.height)
    }

    var configuration: AnalysisConfiguration { state.withLock { $0.configuration } }

    func statistics() -> ProcessorStatistics {
        state.withLock { s in
            let now = Date().timeIntervalSince1970
            let lastTen = s.recent.filter { $0.time >= now - 10 }
            let latencies = s.recent.suffix(100).map(\.latency)
            return ProcessorStatistics(
                status: s.processing ? "processing" : "stopped", processingStartTime: s.startTime,
                framesProcessed: s.processed, framesDropped: s.dropped, framesSkipped: s.skipped,
                lastFrameId: s.lastFrameId, lastFrameTime: s.lastFrameTime,
                runFramesProcessed: s.runProcessed, lastSequence: s.lastSequence, lastProcessedTime: s.lastProcessedTime,
                processingRate: Double(lastTen.count) / 10,
                meanLatency: latencies.isEmpty ? nil : latencies.reduce(0, +) / Double(latencies.count))
        }
    }

    func results(count: Int?, exposureId: String?) -> [ProcessorResult] {
        state.withLock { s in
            let chosen = exposureId.map { id in s.results.filter { $0.exposureId == id } } ?? s.results
            return Array(chosen.suffix(max(0, min(count ?? Self.resultLimit, Self.resultLimit))))
        }
    }

    func focusFit(exposureIds: [String]?, metric: String?) throws(BusError) -> FocusFitCommand.Result {
        let useFWHM = metric?.lowercased() == "fwhm"
        if let metric, !["hfd", "fwhm"].contains(metric.lowercased()) {
            throw BusError.invalid("metric", "must be hfd or fwhm (got '\(metric)')")
        }
        let samples = state.withLock { s in
            s.results.compactMap { result -> FocusSample? in
                guard let position = result.focus, exposureIds.map({ $0.contains(result.exposureId) }) ?? true,
                      let focus = result.analysis.focus,
                      let value = useFWHM ? focus.medianFWHM : focus.medianHFD else { return nil }
                return FocusSample(position: position, metric: value)
            }
        }
        do throws(AnalysisError) {
            return .init(fit: try FocusFit.fit(samples), samples: samples)
        } catch {
            var failure = BusError(error)
            failure.message += " (\(samples.count) frame(s) with a focus position and focus metrics; take a series with comments 'focus: N' and focus metrics on)"
            throw failure
        }
    }

    // MARK: The frame loop

    /// Analyses the frames the camera writes to its ring until the task is cancelled.
    ///
    /// A `camera.frame` notice only wakes the loop (and says which ring generation is current);
    /// the ring itself is the queue: every frame read out since processing started that is
    /// still in the ring is analysed, in order, so a notice lost (published before this
    /// subscription connected, or while the processor was busy) loses no frame. A processor
    /// that falls so far behind that its next frame is about to be overwritten (more than the
    /// ring's slots less two) jumps to the newest frame instead of chasing it, and counts what it
    /// passed over as dropped.
    func run() async {
        let notices: Subscriber
        do {
            notices = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents),
                                     topics: [CameraTopic.frame + "\n"], bufferSize: 4)
        } catch {
            logger.critical("cannot subscribe to camera.events: \(error.message)")
            return
        }
        defer { notices.close() }
        let analyzer = AnalyzerBox()
        var cursor = RingCursor(path: runtime.path + "/" + EndpointName.cameraFrames)
        while !Task.isCancelled {
            // Without a notice for a second, look in the ring anyway.
            let event = try? await notices.next(timeout: .seconds(1))
            guard state.withLock({ $0.processing }) else { continue }
            if let notice = event.flatMap({ try? $0.decode(FrameNotice.self) }) {
                calibrator.noted(notice)
                guard let location = notice.ring else {
                    skip("frame \(notice.frame) of \(notice.exposureId) has no frame-ring location")
                    continue
                }
                if let problem = cursor.follow(location.generation) {
                    skip(problem)
                    continue
                }
            } else if cursor.reopenIfReplaced() == nil {
                continue
            }
            await drain(&cursor, analyzer: analyzer)
        }
    }

    /// Analyses the frames in the ring after the cursor's last one, oldest first.
    private func drain(_ cursor: inout RingCursor, analyzer: AnalyzerBox) async {
        guard let reader = cursor.reader else { return }
        // Behind by more than this, the oldest unread frame is about to be overwritten.
        let reach = UInt64(max(1, reader.slotCount - 2))
        while !Task.isCancelled, let newest = reader.latestLocation(), newest.sequence > cursor.last {
            guard let (configuration, since) = state.withLock({ s in s.processing ? (s.configuration, s.startTime ?? 0) : nil }) else { return }
            // Processing (re)started: what came while it was stopped is not a loss.
            if since != cursor.since {
                cursor.since = since
                cursor.counting = false
            }
            let location = newest.sequence - cursor.last > reach
                ? newest : (reader.oldestLocation(after: cursor.last) ?? newest)
            // Frames between the last one and this one were overwritten before they were read, or
            // passed over to catch up; before the first frame of a ring nothing was expected.
            if cursor.counting, location.sequence > cursor.last + 1 {
                let passed = Int(clamping: location.sequence - cursor.last - 1)
                state.withLock { $0.dropped += passed }
            }
            cursor.last = location.sequence
            cursor.counting = true
            // The calibrated quick look: the masters for this frame, found before it is read
            // (the catalog is asked at most once per kind of frame in a while; see QuickLookCalibrator).
            var plan: QuickLookCalibrator.Plan?
            if configuration.calibrate, let metadata = reader.withFrame(location, { metadata, _ in metadata }) {
                plan = await calibrator.plan(for: metadata)
            }
            process(at: location, reader: reader, analyzer: analyzer, configuration: configuration, since: since, plan: plan)
        }
    }

    private func process(at location: FrameLocation, reader: FrameRingReader, analyzer: AnalyzerBox,
                         configuration: AnalysisConfiguration, since: Double, plan: QuickLookCalibrator.Plan?) {
        let outcome: Result<(FrameMetadata, FrameAnalysis), AnalysisError>??
        var calibration: QuickLookCalibration?
        outcome = reader.withFrame(location) { metadata, pixels -> Result<(FrameMetadata, FrameAnalysis), AnalysisError>? in
            // Read out before processing (re)started: not this run's to analyse.
            guard metadata.readoutTime >= since else { return nil }
            guard metadata.pixelType == .uint16 else {
                return .failure(AnalysisError(.invalidArgument, "pixel type \(metadata.pixelType) is not supported"))
            }
            func analyze(_ source: UnsafeBufferPointer<UInt16>) -> Result<(FrameMetadata, FrameAnalysis), AnalysisError> {
                do throws(AnalysisError) {
                    var result = analyzer.scratch
                    try analyzer.analyzer.analyze(pixels: source, width: metadata.width, height: metadata.height,
                                                  configuration: configuration, into: &result)
                    analyzer.scratch = result
                    return .success((metadata, result))
                } catch {
                    return .failure(error)
                }
            }
            guard let plan else { return analyze(pixels) }
            // The calibrated copy is analysed instead of the frame (the ring's pixels are only read).
            if analyzer.calibrated.count != pixels.count { analyzer.calibrated = [UInt16](repeating: 0, count: pixels.count) }
            calibration = analyzer.calibrated.withUnsafeMutableBufferPointer { output in
                QuickLookCalibrator.apply(plan, to: pixels, width: metadata.width, height: metadata.height, into: output)
            }
            guard calibration?.applied == true else { return analyze(pixels) }
            return analyzer.calibrated.withUnsafeBufferPointer { analyze($0) }
        }
        switch outcome {
        case nil:
            state.withLock { $0.dropped += 1 }
        case .some(nil):
            break
        case .some(.failure(let error)?):
            skip("frame \(location) skipped: \(error.message)")
        case .some(.success(let (metadata, analysis))?):
            let now = Date().timeIntervalSince1970
            var result = ProcessorResult(exposureId: metadata.exposureId, frame: metadata.frameNumber,
                                         sequence: location.sequence, focus: metadata.focus,
                                         readoutTime: metadata.readoutTime, processedTime: now, analysis: analysis)
            result.calibration = calibration
            state.withLock { s in
                s.processed += 1
                s.runProcessed += 1
                s.lastSequence = location.sequence
                s.lastProcessedTime = now
                s.lastFrameId = "\(metadata.exposureId)/\(metadata.frameNumber)"
                s.lastFrameTime = metadata.readoutTime
                s.lastSize = (metadata.width, metadata.height)
                s.results.append(result)
                if s.results.count > Self.resultLimit { s.results.removeFirst(s.results.count - Self.resultLimit) }
                s.recent.append((now, max(0, now - metadata.readoutTime)))
                if s.recent.count > 1000 { s.recent.removeFirst(s.recent.count - 1000) }
            }
            try? events.publish(ProcessorTopic.result, result.summary)
        }
    }

    private func skip(_ reason: String) {
        state.withLock { $0.skipped += 1 }
        logger.warning("\(reason)")
    }
}

/// Where the frame loop is in the camera's ring: the mapped file and the last frame it took.
private struct RingCursor {
    let path: String
    var reader: FrameRingReader?
    /// The sequence of the last frame taken from this ring (0: none yet).
    var last: UInt64 = 0
    /// Whether a gap before the next frame is a loss (false until the first frame of a ring, and
    /// after processing was restarted).
    var counting = false
    /// The processing start time the cursor last saw.
    var since: Double = 0

    init(path: String) { self.path = path }

    /// Maps the ring of `generation` if it is not the one mapped; nil when it is, or the reason
    /// why it cannot be.
    mutating func follow(_ generation: UInt64) -> String? {
        if reader?.generation == generation { return nil }
        do {
            try open()
        } catch {
            return "cannot open the frame ring: \(error.message)"
        }
        return reader?.generation == generation ? nil : "the notice is for another camera process's frame ring"
    }

    /// Maps the ring if none is mapped or the camera replaced it; nil when there is none to read.
    mutating func reopenIfReplaced() -> FrameRingReader? {
        if reader == nil || reader!.isReplaced { try? open() }
        return reader
    }

    private mutating func open() throws(BusError) {
        reader = nil
        reader = try FrameRingReader(path: path)
        last = 0
        counting = false
    }
}

/// The analyzer and its reusable result, used by the frame loop only.
private final class AnalyzerBox: @unchecked Sendable {
    let analyzer = FrameAnalyzer()
    var scratch = FrameAnalysis()
    /// The calibrated copy of the frame (`calibrate`), reused.
    var calibrated: [UInt16] = []
}
