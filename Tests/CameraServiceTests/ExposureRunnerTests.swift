import Bus
import ApertureProtocol
import CameraCore
@testable import CameraService
import Foundation
import Testing

/// Exposures through the controller on the in-process simulator: frames, their notices, the
/// ring, files, records, progress and abort.
@Suite(.serialized) struct ExposureRunnerTests {
    @Test func aSeriesOfThreeFramesGivesThreeFilesRingFramesAndNoticesWithTheCommentsFocus() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let subscriber = try await bench.subscribe([CameraTopic.frame])
        defer { subscriber.close() }

        let started = try await bench.controller.expose(ExposureRequest(
            type: .object, time: 1, count: 3, comment: "focus: 5150, seeing poor"))
        #expect(started.status == .running)
        #expect(started.mode == .series)
        let record = try await bench.finished(started.id)
        #expect(record.status == .completed)
        #expect(record.framesDone == 3)
        #expect(record.files.map(\.frame) == [1, 2, 3])
        for file in record.files {
            #expect(FileManager.default.fileExists(atPath: file.path), "\(file.path) missing")
            #expect(file.path.hasPrefix(bench.path + "/data/"))
        }

        let notices = try await bench.collect(CameraTopic.frame, as: FrameNotice.self, from: subscriber,
                                              seconds: 5) { $0.count >= 3 }
        #expect(notices.map(\.frame) == [1, 2, 3])
        #expect(notices.allSatisfy { $0.exposureId == started.id && $0.count == 3 && !$0.preview })
        #expect(notices.map(\.focus) == [5150, 5150, 5150])
        #expect(notices.map(\.path) == record.files.map(\.path))
        #expect(zip(notices, notices.dropFirst()).allSatisfy { $0.sequence + 1 == $1.sequence })

        // Each notice points at its frame in the shared-memory ring, with the focus in its header.
        let reader = try FrameRingReader(path: bench.runtime.path + "/" + EndpointName.cameraFrames)
        var pixels: [UInt16] = []
        for notice in notices {
            let location = try #require(notice.ring)
            guard case .frame(let metadata) = reader.read(location, into: &pixels) else {
                Issue.record("frame \(notice.frame) is not in the ring")
                continue
            }
            #expect(metadata.exposureId == started.id)
            #expect(metadata.frameNumber == notice.frame)
            #expect(metadata.focus == 5150)
            #expect(metadata.width == 64 && metadata.height == 64)
            #expect(pixels.count == 64 * 64)
        }

        // The simulator was told the focuser position (its star images follow it).
        #expect(bench.camera.focusPosition == 5150)

        // frame.latest is the last frame, its pixels read back from the ring.
        let latest = try bench.controller.latestFrame(includePixels: true)
        #expect(latest.exposureId == started.id)
        #expect(latest.frame == 3)
        #expect(latest.path == record.files.last?.path)
        #expect(latest.pixels.flatMap { Data(base64Encoded: $0) }?.count == 64 * 64 * 2)
    }

    @Test func withoutAFocusInTheCommentTheSimulatorKeepsItsFocusAndNoticesCarryNone() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let subscriber = try await bench.subscribe([CameraTopic.frame])
        defer { subscriber.close() }
        let before = bench.camera.focusPosition

        let started = try await bench.controller.expose(ExposureRequest(type: .object, time: 1, comment: "M13"))
        #expect(try await bench.finished(started.id).status == .completed)
        let notices = try await bench.collect(CameraTopic.frame, as: FrameNotice.self, from: subscriber,
                                              seconds: 5) { $0.count >= 1 }
        #expect(notices.count == 1)
        #expect(notices.first?.focus == nil)
        #expect(bench.camera.focusPosition == before)
    }

    @Test func progressCountsTheExposuresOwnSecondsWhenTheSimulatorRunsFast() async throws {
        // 20 simulated seconds in 1 real second: progress says how far into the 20 s it is.
        let bench = try CameraBench(timeScale: 0.05)
        defer { bench.close() }
        try await bench.controller.connect()
        let subscriber = try await bench.subscribe([CameraTopic.progress])
        defer { subscriber.close() }

        let started = try await bench.controller.expose(ExposureRequest(type: .dark, time: 20))
        let progress = try await bench.collect(CameraTopic.progress, as: ExposureProgressEvent.self,
                                               from: subscriber, seconds: 10) { $0.last?.percent == 100 }
        #expect(try await bench.finished(started.id).status == .completed)
        let during = progress.filter { $0.percent < 100 }
        #expect(!during.isEmpty, "no progress before the end")
        #expect(during.contains { $0.elapsed > 2 }, "elapsed \(during.map(\.elapsed)) is real time, not the exposure's")
        #expect(during.allSatisfy { $0.elapsed <= 20 && abs($0.percent - $0.elapsed / 20 * 100) < 0.001 })
        #expect(progress.last?.elapsed == 20)
    }

    @Test func abortEndsAPreviewAndKeepsNothingRunning() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let started = try await bench.controller.expose(ExposureRequest(type: .object, time: 1, mode: .preview))
        #expect(started.mode == .preview)
        try await bench.framesDone(2, of: started.id)

        let reply = await bench.controller.abort()
        #expect(reply.aborted)
        #expect(reply.state == .idle)
        #expect(reply.exposureId == started.id)
        let record = try await bench.finished(started.id)
        #expect(record.status == .aborted)
        #expect(record.files.isEmpty)
        #expect(await bench.controller.status().exposure == nil)

        let nothing = await bench.controller.abort()
        #expect(!nothing.aborted)
        #expect(nothing.message == "nothing to abort: the camera is idle")
    }

    /// The sequencer's abort names its exposure: another request is left running.
    @Test func anAbortNamingAnotherExposureLeavesTheRunningOneAlone() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let running = try await bench.controller.expose(ExposureRequest(type: .object, time: 1, mode: .preview))
        try await bench.framesDone(1, of: running.id)
        let missed = await bench.controller.abort(expecting: "20000101T000000-0001")
        #expect(!missed.aborted && missed.exposureId == nil)
        #expect(missed.message.contains("20000101T000000-0001 is not running"), "\(missed.message)")
        #expect(await bench.controller.status().exposure?.id == running.id, "the running exposure was touched")
        let hit = await bench.controller.abort(expecting: running.id)
        #expect(hit.aborted && hit.exposureId == running.id && hit.state == .idle)
        #expect(try await bench.finished(running.id).status == .aborted)
        // The next exposure is not hit by the abort aimed at the last one.
        let next = try await bench.controller.expose(ExposureRequest(type: .bias, time: 0, count: 3))
        #expect(try await bench.finished(next.id).status == .completed)
    }

    @Test func aSecondRequestWhileOneRunsIsRefusedAsBusy() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        try await bench.controller.connect()
        let first = try await bench.controller.expose(ExposureRequest(type: .object, time: 1, mode: .preview))
        let error = await #expect(throws: CameraError.self) {
            try await bench.controller.expose(ExposureRequest(type: .dark, time: 1))
        }
        #expect(error?.code == .busy)
        #expect(bench.controller.records().map(\.id) == [first.id])
        _ = await bench.controller.abort()
    }

    @Test func anExposureBeforeConnectingIsRefusedAsNotConnected() async throws {
        let bench = try CameraBench()
        defer { bench.close() }
        let error = await #expect(throws: CameraError.self) {
            try await bench.controller.expose(ExposureRequest(type: .dark, time: 1))
        }
        #expect(error?.code == .notConnected)
        #expect(bench.controller.records().isEmpty)
    }
}
