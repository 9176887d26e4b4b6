import ApertureProtocol
import Bus
import Foundation
import Logging
@testable import ProcessorService
import Testing

/// The processor's frame loop against a real frame ring and a real camera.events publisher,
/// without the camera: the test writes frames and publishes (or withholds) the notices.
@Suite struct FrameLoopTests {
    /// A runtime directory with a frame ring, a camera.events publisher and a running frame
    /// loop.
    final class Bench: Sendable {
        let path: String
        let runtime: RuntimeDirectory
        let ring: FrameRingWriter
        let cameraEvents: Publisher
        let processorEvents: Publisher
        let processor: FrameProcessor
        let loop: Task<Void, Never>

        init(slots: Int = 8, autostart: Bool = true) throws {
            path = "/tmp/aperture-processor-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            runtime = try RuntimeDirectory.prepare(path)
            ring = try FrameRingWriter(path: runtime.path + "/" + EndpointName.cameraFrames, slots: slots,
                                       slotCapacity: 64 * 64 * 2)
            cameraEvents = try Publisher(listening: runtime.endpoint(EndpointName.cameraEvents))
            processorEvents = try Publisher(listening: runtime.endpoint(EndpointName.processorEvents))
            let processor = FrameProcessor(runtime: runtime, events: processorEvents, autostart: autostart,
                                           logger: Logger(label: "frame-loop-tests"))
            self.processor = processor
            loop = Task { await processor.run() }
        }

        /// Writes frame `number` of `exposure` (a 64x64 frame read out now) and returns where.
        @discardableResult
        func write(_ exposure: String, _ number: Int, focus: Double? = nil) throws -> FrameLocation {
            let metadata = FrameMetadata(exposureId: exposure, frameNumber: number, width: 64, height: 64,
                                         exposureTime: 0.1, exposureStart: Date().timeIntervalSince1970 - 0.1,
                                         readoutTime: Date().timeIntervalSince1970, focus: focus)
            return try ring.write(metadata, pixels: [UInt16](repeating: UInt16(100 * number), count: 64 * 64))
        }

        /// Publishes the notice of the frame at `location`.
        func notify(_ exposure: String, _ number: Int, at location: FrameLocation) throws {
            try cameraEvents.publish(CameraTopic.frame, FrameNotice(
                exposureId: exposure, frame: number, count: nil, sequence: Int(location.sequence), width: 64,
                height: 64, preview: false, path: nil, bytes: 64 * 64 * 2, ring: location))
        }

        func results(_ exposure: String) -> [ProcessorResult] {
            processor.results(count: nil, exposureId: exposure)
        }

        func close() {
            loop.cancel()
            cameraEvents.close()
            processorEvents.close()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// Polls `condition` every 10 ms until it holds, failing the test after `seconds`. The tests
    /// give 60 s: a frame is analysed in milliseconds, but the suite starts beside every other
    /// suite on two cores, and a fresh-clone CI run once saw none within 10 s.
    func waitUntil(_ seconds: Double, _ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("\(what): not within \(seconds) s")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func framesWhoseNoticesNeverCameAreAnalysedFromTheRingWithTheirFocus() async throws {
        let bench = try Bench()
        defer { bench.close() }
        // A focus series written while no notice is published at all (a subscription not yet
        // connected, or notices lost): the ring is looked at within about a second anyway.
        for (number, position) in [4800.0, 5000, 5200].enumerated() {
            try bench.write("series", number + 1, focus: position)
        }
        try await waitUntil(60, "three results") { bench.results("series").count == 3 }
        let results = bench.results("series")
        #expect(results.map(\.frame) == [1, 2, 3])
        #expect(results.map(\.focus) == [4800, 5000, 5200])
        #expect(bench.processor.statistics().framesDropped == 0)
    }

    @Test func oneNoticeWakesTheLoopForEveryEarlierFrameStillInTheRing() async throws {
        let bench = try Bench()
        defer { bench.close() }
        var last: FrameLocation?
        for number in 1...5 { last = try bench.write("burst", number, focus: Double(number)) }
        // Only the last frame's notice is published (again until the subscription is connected).
        try await waitUntil(60, "five results") {
            try? bench.notify("burst", 5, at: last!)
            return bench.results("burst").count == 5
        }
        #expect(bench.results("burst").map(\.frame) == [1, 2, 3, 4, 5])
        #expect(bench.results("burst").map(\.sequence) == [1, 2, 3, 4, 5])
        #expect(bench.processor.statistics().framesDropped == 0)
    }

    @Test func framesReadOutBeforeProcessingStartedAreNotAnalysed() async throws {
        let bench = try Bench(autostart: false)
        defer { bench.close() }
        try bench.write("before", 1)
        try bench.write("before", 2)
        try await Task.sleep(for: .milliseconds(20))
        _ = bench.processor.setProcessing(true)
        let after = try bench.write("after", 1)
        try await waitUntil(60, "the frame after the start") {
            try? bench.notify("after", 1, at: after)
            return bench.results("after").count == 1
        }
        #expect(bench.results("before").isEmpty)
        #expect(bench.processor.statistics().framesDropped == 0)
    }

    @Test func framesTakenWhileProcessingWasStoppedAreNeitherAnalysedNorCountedAsDropped() async throws {
        let bench = try Bench(slots: 8)
        defer { bench.close() }
        let first = try bench.write("night", 1)
        try await waitUntil(60, "the first frame") {
            try? bench.notify("night", 1, at: first)
            return bench.results("night").count == 1
        }
        _ = bench.processor.setProcessing(false)
        for number in 2...21 { try bench.write("night", number) }
        try await Task.sleep(for: .milliseconds(20))
        _ = bench.processor.setProcessing(true)
        let after = try bench.write("night", 22)
        try await waitUntil(60, "the frame after the restart") {
            try? bench.notify("night", 22, at: after)
            return bench.results("night").last?.frame == 22
        }
        #expect(bench.results("night").map(\.frame) == [1, 22])
        #expect(bench.processor.statistics().framesDropped == 0)
    }

    @Test func aProcessorFarBehindJumpsToTheNewestFrameAndCountsThePassedOnesAsDropped() async throws {
        let bench = try Bench(slots: 8)
        defer { bench.close() }
        let first = try bench.write("run", 1)
        try await waitUntil(60, "the first frame") {
            try? bench.notify("run", 1, at: first)
            return bench.results("run").count == 1
        }
        // Twenty frames at once, more than the ring holds: twelve are overwritten before the
        // loop wakes, and so far behind it takes the newest.
        var last = first
        for number in 2...21 { last = try bench.write("run", number) }
        try await waitUntil(60, "the newest frame") {
            try? bench.notify("run", 21, at: last)
            return bench.results("run").last?.frame == 21
        }
        #expect(bench.results("run").map(\.frame) == [1, 21])
        #expect(bench.processor.statistics().framesDropped == 19)
    }

    @Test func aRingReplacedByARestartedCameraIsFollowed() async throws {
        let bench = try Bench()
        defer { bench.close() }
        let old = try bench.write("old", 1)
        try await waitUntil(60, "the old camera's frame") { bench.results("old").count == 1 }
        // The camera restarts: a new ring file (a new generation) replaces the old one.
        let replacement = try FrameRingWriter(path: bench.runtime.path + "/" + EndpointName.cameraFrames, slots: 8,
                                              slotCapacity: 64 * 64 * 2)
        let metadata = FrameMetadata(exposureId: "new", frameNumber: 1, width: 64, height: 64,
                                     readoutTime: Date().timeIntervalSince1970, focus: 7)
        let location = try replacement.write(metadata, pixels: [UInt16](repeating: 5, count: 64 * 64))
        #expect(location.generation != old.generation)
        try await waitUntil(60, "the new camera's frame") {
            try? bench.notify("new", 1, at: location)
            return bench.results("new").count == 1
        }
        #expect(bench.results("new").first?.focus == 7)
        #expect(bench.processor.statistics().framesDropped == 0)
    }
}
