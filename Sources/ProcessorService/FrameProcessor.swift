import ApertureConfig
import Bus
import CameraCore
import FrameAnalysis
import Foundation
import Logging
import Synchronization

/// The processor's brain: reads each new frame from the camera's shared-memory ring (only a
/// small notice arrives on the bus), analyses it in place, publishes and keeps the result.
///
/// It never blocks the camera: the camera never waits for it, the notice subscription keeps
/// only the newest few notices, and a frame overwritten before it was analysed is counted as
/// dropped. Nothing queues without bound.
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
        var results: [ProcessorResult] = []
        /// (completion time, latency) of recent frames, for the rate and mean latency.
        var recent: [(time: Double, latency: Double)] = []
    }

    static let resultLimit = 200
    private let state: Mutex<State>
    private let runtime: RuntimeDirectory
    private let events: Publisher
    private let logger: Logger

    init(runtime: RuntimeDirectory, events: Publisher, autostart: Bool, logger: Logger) {
        self.runtime = runtime
        self.events = events
        self.logger = logger
        self.state = Mutex(State(processing: autostart, startTime: autostart ? Date().timeIntervalSince1970 : nil))
    }

    // MARK: Commands

    func setProcessing(_ on: Bool) -> ProcessorState {
        state.withLock { s in
            if on && !s.processing { s.startTime = Date().timeIntervalSince1970 }
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

    func setROI(_ which: ROIKind, _ values: [Int]?) throws(BusError) -> ROIReply {
        let field = "roi_\(which.rawValue)"
        let roi: ROI?
        do throws(AnalysisError) {
            roi = try ROI.parse(values, field: field)
        } catch {
            throw BusError(BusError.Code(error.code.rawValue), error.message)
        }
        try state.withLock { s throws(BusError) in
            if let roi, let size = s.lastSize, let reason = roi.validate(width: size.width, height: size.height, field: field) {
                throw BusError(.invalidArgument, reason)
            }
            if which == .background { s.configuration.backgroundROI = roi } else { s.configuration.signalROI = roi }
        }
        logger.info("\(field) = \(roi.map { "\($0)" } ?? "disabled")")
        return ROIReply(which: which, roi: roi?.array)
    }

    func configure(_ configuration: AnalysisConfiguration) throws(BusError) -> AnalysisConfiguration {
        do throws(AnalysisError) {
            try configuration.validate()
            if let size = state.withLock({ $0.lastSize }) {
                try configuration.validate(width: size.width, height: size.height)
            }
        } catch {
            throw BusError(BusError.Code(error.code.rawValue), error.message)
        }
        state.withLock { $0.configuration = configuration }
        return configuration
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
            throw BusError(.invalidArgument, "metric: must be hfd or fwhm (got '\(metric)')")
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
            throw BusError(BusError.Code(error.code.rawValue),
                "\(error.message) (\(samples.count) frame(s) with a focus position and focus metrics; take a series with comments 'focus: N' and focus metrics on)")
        }
    }

    // MARK: The frame loop

    /// Follows camera.frame notices and analyses each frame until the task is cancelled.
    func run() async {
        let notices: Subscriber
        do {
            notices = try Subscriber(dialing: runtime.endpoint(EndpointName.cameraEvents),
                                     topics: [CameraTopic.frame + "\n"], bufferSize: 2)
        } catch {
            logger.critical("cannot subscribe to camera.events: \(error.message)")
            return
        }
        defer { notices.close() }
        let analyzer = AnalyzerBox()
        var reader: FrameRingReader?
        var missedNotices = 0
        var lastSequence: (generation: UInt64, sequence: UInt64)?
        let ringPath = runtime.path + "/" + EndpointName.cameraFrames
        while !Task.isCancelled {
            guard let event = try? await notices.next(timeout: .seconds(1)) else {
                // No notice for a second: a notice may have been lost (one published before
                // this subscription was connected, say). Look in the ring for a newer frame.
                guard state.withLock({ $0.processing }) else { continue }
                if reader == nil || (try? reader?.reopenIfReplaced()) == nil { reader = try? FrameRingReader(path: ringPath) }
                if let reader, let location = reader.latestLocation(),
                   lastSequence.map({ $0.generation != location.generation || $0.sequence < location.sequence }) ?? true {
                    let notice = FrameNotice(exposureId: "", frame: 0, count: nil, sequence: 0, width: 0, height: 0,
                                             preview: false, path: nil, bytes: 0, ring: location)
                    process(notice, at: location, reader: reader, analyzer: analyzer)
                    lastSequence = (location.generation, location.sequence)
                }
                continue
            }
            let lost = notices.dropped - missedNotices
            missedNotices = notices.dropped
            guard state.withLock({ $0.processing }) else { continue }
            if lost > 0 { state.withLock { $0.dropped += lost } }
            guard let notice = try? event.decode(FrameNotice.self) else { continue }
            guard let location = notice.ring else {
                skip("frame \(notice.frame) of \(notice.exposureId) has no frame-ring location")
                continue
            }
            if let last = lastSequence, last.generation == location.generation, last.sequence >= location.sequence {
                continue
            }
            if reader?.generation != location.generation {
                do {
                    reader = try FrameRingReader(path: ringPath)
                } catch {
                    skip("cannot open the frame ring: \(error.message)")
                    reader = nil
                    continue
                }
                if reader?.generation != location.generation {
                    skip("the notice is for another camera process's frame ring")
                    continue
                }
            }
            process(notice, at: location, reader: reader!, analyzer: analyzer)
            lastSequence = (location.generation, location.sequence)
        }
    }

    private func process(_ notice: FrameNotice, at location: FrameLocation, reader: FrameRingReader, analyzer: AnalyzerBox) {
        let configuration = state.withLock { $0.configuration }
        let outcome: Result<(FrameMetadata, FrameAnalysis), AnalysisError>?
        outcome = reader.withFrame(location) { metadata, pixels -> Result<(FrameMetadata, FrameAnalysis), AnalysisError> in
            guard metadata.pixelType == .uint16 else {
                return .failure(AnalysisError(.invalidArgument, "pixel type \(metadata.pixelType) is not supported"))
            }
            do throws(AnalysisError) {
                var result = analyzer.scratch
                try analyzer.analyzer.analyze(pixels: pixels, width: metadata.width, height: metadata.height,
                                              configuration: configuration, into: &result)
                analyzer.scratch = result
                return .success((metadata, result))
            } catch {
                return .failure(error)
            }
        }
        switch outcome {
        case nil:
            state.withLock { $0.dropped += 1 }
        case .failure(let error)?:
            skip("frame \(notice.frame) of \(notice.exposureId) skipped: \(error.message)")
        case .success(let (metadata, analysis))?:
            let now = Date().timeIntervalSince1970
            let result = ProcessorResult(exposureId: metadata.exposureId, frame: metadata.frameNumber,
                                         sequence: location.sequence, focus: notice.focus,
                                         readoutTime: metadata.readoutTime, processedTime: now, analysis: analysis)
            state.withLock { s in
                s.processed += 1
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

/// The analyzer and its reusable result, used by the frame loop only.
private final class AnalyzerBox: @unchecked Sendable {
    let analyzer = FrameAnalyzer()
    var scratch = FrameAnalysis()
}
