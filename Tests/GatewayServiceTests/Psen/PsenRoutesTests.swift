import ApertureProtocol
import Bus
import Foundation
@testable import GatewayService
import HTTPTypes
import Testing

/// The pure parts of psen's face: which paths take psen's envelope, 405 for a known route,
/// the statistics psen's client reads, and Python's `str(datetime)` (the envelope itself is
/// checked through the real service: PsenClientEndToEndTests).
@Suite struct PsenRoutesTests {
    @Test func onlyPathsUnderPsenTakeItsEnvelope() {
        #expect(PsenRoutes.isPsen("/psen/start"))
        #expect(PsenRoutes.isPsen("/psen"))
        #expect(PsenRoutes.isPsen("/psen/no/such/route"))
        #expect(!PsenRoutes.isPsen("/psenx/start"))
        #expect(!PsenRoutes.isPsen("/v1/psen/start"))
        #expect(!PsenRoutes.isPsen("/"))
    }

    @Test func aKnownRouteWithAnotherMethodIs405WithAllow() throws {
        let error = try #require(PsenRoutes.methodNotAllowed(.get, "/psen/start"))
        #expect(error.status == .methodNotAllowed && error.code == .methodNotAllowed)
        #expect(error.allow == "POST")
        #expect(error.headers[.allow] == "POST")
        #expect(error.message == "GET is not allowed on /psen/start: use POST")
        #expect(PsenRoutes.methodNotAllowed(.put, "/psen/roi_signal")?.allow == "GET, POST")
        #expect(PsenRoutes.methodNotAllowed(.get, "/psen/roi_signal") == nil, "an allowed method is not 405")
        #expect(PsenRoutes.methodNotAllowed(.get, "/psen/nothing") == nil, "an unknown route stays 404")
        #expect(PsenRoutes.methodNotAllowed(.get, "/v1/processor/start") == nil)
    }

    func statistics(start: Double?, run: Int?, sequence: UInt64?, processed: Double?) -> ProcessorStatistics {
        ProcessorStatistics(status: "processing", processingStartTime: start, framesProcessed: 12, framesDropped: 1,
                            framesSkipped: 0, lastFrameId: "x/3", lastFrameTime: 1_800_000_000,
                            runFramesProcessed: run, lastSequence: sequence, lastProcessedTime: processed,
                            processingRate: 2, meanLatency: 0.01)
    }

    @Test func statisticsAreEmptyBeforeTheFirstStart() throws {
        #expect(try PsenRoutes.psenStatistics(statistics(start: nil, run: nil, sequence: nil, processed: nil)) == .object([:]))
    }

    @Test func statisticsHoldPsensKeysAndTypesBesideAperturesOwn() throws {
        guard case .object(let idle) = try PsenRoutes.psenStatistics(statistics(start: 1_800_000_000, run: 0, sequence: 7,
                                                                                  processed: 1_800_000_001)) else {
            Issue.record("not an object"); return
        }
        #expect(idle["n_processed_images"] == .number(0))
        #expect(idle["last_sent_pulse_id"] == .null && idle["last_sent_time"] == .null, "none yet in this run")
        guard case .object(let running) = try PsenRoutes.psenStatistics(statistics(start: 1_800_000_000, run: 5, sequence: 7,
                                                                                     processed: 1_800_000_001.5)) else {
            Issue.record("not an object"); return
        }
        #expect(running["n_processed_images"] == .number(5))
        #expect(running["last_sent_pulse_id"] == .number(6), "0-based: the ring's sequence 7 is frame 6")
        #expect(running["last_sent_time"] == .string(PsenRoutes.pythonDateTime(1_800_000_001.5)))
        #expect(running["processing_start_time"] == .string(PsenRoutes.pythonDateTime(1_800_000_000)))
        #expect(running["frames_processed"] == .number(12) && running["frames_dropped"] == .number(1))
        #expect(running["state"] == nil && running["status"] == nil, "the envelope's members are not statistics")
        // A sequence of 0 (no ring frame has it) is no pulse id rather than a trap.
        guard case .object(let odd) = try PsenRoutes.psenStatistics(statistics(start: 1, run: 1, sequence: 0, processed: 2)) else {
            Issue.record("not an object"); return
        }
        #expect(odd["last_sent_pulse_id"] == .null)
    }

    @Test func timesAreWrittenAsPythonsStrOfADatetime() throws {
        let pattern = try Regex(#"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$"#)
        let fractional = PsenRoutes.pythonDateTime(1_800_000_000.25)
        #expect(fractional.wholeMatch(of: pattern) != nil, "\(fractional)")
        #expect(fractional.hasSuffix(".250000"))
        #expect(PsenRoutes.pythonDateTime(1_800_000_000.000001).hasSuffix(".000001"))
        // Python leaves the fraction out when the microseconds are 0.
        let whole = PsenRoutes.pythonDateTime(1_800_000_000)
        #expect(whole.wholeMatch(of: pattern) != nil && !whole.contains("."), "\(whole)")
        // 0.9999996 s rounds up into the next second, not to ".1000000".
        #expect(PsenRoutes.pythonDateTime(1_800_000_000.9999996) == PsenRoutes.pythonDateTime(1_800_000_001))
    }
}
