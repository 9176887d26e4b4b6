import Bus
import Foundation
import Testing
import ProcessTestSupport

/// The frame ring (issue 5): a writer and readers, mostly in separate processes, the other
/// process being `aperture-ring-peer` built beside this test bundle.
@Suite(.serialized)
struct FrameRingTests {
    // MARK: Round trip

    @Test func aFrameWrittenIsReadBackWholeInThisProcessAndInAnother() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let writer = try FrameRingWriter(path: directory.ring, slots: 3, slotCapacity: 64 * 48 * 2)
        let metadata = FrameMetadata(
            exposureId: "exp-20261121-0042", frameNumber: 7, width: 64, height: 48, binningX: 2, binningY: 4,
            subframeX: 100, subframeY: 200, exposureTime: 1.5, exposureStart: 1_795_000_000.25,
            readoutTime: 1_795_000_001.875, imageType: "flat", preview: true, topDown: false)
        let pixels = (0..<(64 * 48)).map { UInt16(truncatingIfNeeded: $0 &* 977 &+ 13) }
        let location = try writer.write(metadata, pixels: pixels)
        #expect(location == FrameLocation(slot: 0, sequence: 1, generation: writer.generation))
        #expect(writer.lastLocation == location)

        let reader = try FrameRingReader(path: directory.ring)
        #expect(reader.generation == writer.generation)
        #expect(reader.slotCount == 3)
        #expect(reader.slotCapacity == 64 * 48 * 2)
        var buffer: [UInt16] = [1, 2, 3]
        #expect(reader.read(location, into: &buffer) == .frame(metadata))
        #expect(buffer == pixels)
        var latest: [UInt16] = []
        #expect(reader.latest(into: &latest) == FrameRingEntry(location: location, metadata: metadata))
        #expect(latest == pixels)
        let sum = reader.withFrame(location) { _, mapped in mapped.reduce(UInt64(0)) { $0 + UInt64($1) } }
        #expect(sum == pixels.reduce(UInt64(0)) { $0 + UInt64($1) })
        #expect(reader.counters == FrameRingReaderCounters(read: 3, dropped: 0, skipped: 0, invalid: 0))

        // The other process sees the same frame.
        let peer = try RingPeer(["read", "--path", directory.ring])
        defer { peer.stop() }
        let report = try peer.report(timeout: 20)
        #expect(report.event == "frame")
        #expect(report.location == location)
        #expect(report.metadata == metadata)
        #expect(report.sum == sum)
    }

    @Test func aFrameWrittenInAnotherProcessIsReadHere() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let peer = try RingPeer(["write", "--path", directory.ring, "--slots", "4", "--width", "33", "--height", "17",
                                 "--count", "6", "--fill", "sequence"])
        defer { peer.stop() }
        let ready = try peer.report(timeout: 20)
        let done = try peer.report(timeout: 20)
        #expect(ready.event == "ready" && done.event == "done" && done.written == 6)
        let last = try #require(done.last)
        #expect(last == FrameLocation(slot: 1, sequence: 6, generation: try #require(ready.generation)))
        let reader = try FrameRingReader(path: directory.ring)
        var buffer: [UInt16] = []
        guard case .frame(let metadata) = reader.read(last, into: &buffer) else {
            Issue.record("frame 6 not readable")
            return
        }
        #expect(metadata.width == 33 && metadata.height == 17 && metadata.frameNumber == 6)
        #expect(metadata.exposureId == "peer-\(ready.pid)")
        #expect(buffer.count == 33 * 17 && Self.allEqual(buffer, 6))
    }

    @Test func theRingFileIsMode0600AndNoTemporaryFileIsLeft() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let first = try FrameRingWriter(path: directory.ring, slots: 2, slotCapacity: 1000)
        let second = try FrameRingWriter(path: directory.ring, slots: 2, slotCapacity: 1000)
        #expect(first.generation != second.generation)
        var info = stat()
        #expect(stat(directory.ring, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["camera.frames"])
    }

    @Test func locationsAndMetadataEncodeAsTheNoticeCarriesThem() throws {
        let location = FrameLocation(slot: 2, sequence: 11, generation: 9_007_199_254_740_991)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(location), as: UTF8.self)
        #expect(json == #"{"generation":9007199254740991,"sequence":11,"slot":2}"#)
        #expect(try JSONDecoder().decode(FrameLocation.self, from: Data(json.utf8)) == location)
        let metadata = FrameMetadata(exposureId: "e1", width: 2, height: 3)
        let encoded = String(decoding: try encoder.encode(metadata), as: UTF8.self)
        #expect(encoded.contains(#""exposure_id":"e1""#) && encoded.contains(#""pixel_type":1"#))
        #expect(try JSONDecoder().decode(FrameMetadata.self, from: Data(encoded.utf8)) == metadata)
    }

    // MARK: Bad input

    @Test func aFrameLargerThanASlotIsRefusedNamingBothSizes() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let writer = try FrameRingWriter(path: directory.ring, slots: 2, slotCapacity: 100)
        let pixels = [UInt16](repeating: 1, count: 100)
        let error = try #require(throws: BusError.self) {
            try writer.write(FrameMetadata(width: 10, height: 10), pixels: pixels)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("200 bytes") && error.message.contains("100 bytes"), "\(error)")

        let mismatch = try #require(throws: BusError.self) {
            try writer.write(FrameMetadata(width: 5, height: 5), pixels: Array(pixels.prefix(20)))
        }
        #expect(mismatch.code == .invalidArgument && mismatch.message.contains("25 pixels"), "\(mismatch)")
        let longId = try #require(throws: BusError.self) {
            try writer.write(FrameMetadata(exposureId: String(repeating: "x", count: 65), width: 1, height: 1),
                             pixels: [1])
        }
        #expect(longId.code == .invalidArgument && longId.message.contains("exposure id"), "\(longId)")
        #expect(writer.lastLocation == nil, "a refused frame must not take a slot")

        for (slots, capacity) in [(0, 100), (2, 0)] {
            let bad = try #require(throws: BusError.self) {
                try FrameRingWriter(path: directory.ring + "-bad", slots: slots, slotCapacity: capacity)
            }
            #expect(bad.code == .invalidArgument)
        }
    }

    @Test func aCorruptOrTruncatedRingIsRefusedNamingTheProblem() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let missing = try #require(throws: BusError.self) { try FrameRingReader(path: directory.ring) }
        #expect(missing.code == .frameRingMissing && missing.message.contains(directory.ring), "\(missing)")

        func makeRing() throws {
            let writer = try FrameRingWriter(path: directory.ring, slots: 2, slotCapacity: 8192)
            try writer.write(FrameMetadata(width: 2, height: 2), pixels: [1, 2, 3, 4])
        }
        func refusal() throws -> BusError {
            try #require(throws: BusError.self) { try FrameRingReader(path: directory.ring) }
        }
        func patch(_ bytes: [UInt8], at offset: Int) {
            let fd = open(directory.ring, O_WRONLY)
            defer { close(fd) }
            _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) }
        }

        try makeRing()
        patch(Array("NOTARING".utf8), at: 0)
        var error = try refusal()
        #expect(error.code == .frameRingCorrupt && error.message.contains("magic \"NOTARING\""), "\(error)")

        try makeRing()
        patch([9], at: 8)  // layout version
        error = try refusal()
        #expect(error.code == .frameRingCorrupt && error.message.contains("version 9"), "\(error)")

        try makeRing()
        patch([3], at: 24)  // slot count, without fixing the checksum
        error = try refusal()
        #expect(error.code == .frameRingCorrupt && error.message.contains("checksum"), "\(error)")

        try makeRing()
        #expect(truncate(directory.ring, 4096 + 8192) == 0)  // one slot of two
        error = try refusal()
        #expect(error.code == .frameRingCorrupt && error.message.contains("truncated")
                && error.message.contains("describes"), "\(error)")

        #expect(truncate(directory.ring, 100) == 0)
        error = try refusal()
        #expect(error.code == .frameRingCorrupt && error.message.contains("100 bytes")
                && error.message.contains("truncated"), "\(error)")
    }

    @Test func locationsThatCannotBeInTheRingAreInvalid() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let writer = try FrameRingWriter(path: directory.ring, slots: 4, slotCapacity: 8)
        let location = try writer.write(FrameMetadata(width: 2, height: 2), pixels: [1, 2, 3, 4])
        let reader = try FrameRingReader(path: directory.ring)
        var buffer: [UInt16] = []
        let generation = writer.generation
        let cases = [
            FrameLocation(slot: 4, sequence: 1, generation: generation),   // no such slot
            FrameLocation(slot: 1, sequence: 1, generation: generation),   // sequence 1 is in slot 0
            FrameLocation(slot: 1, sequence: 2, generation: generation),   // not written yet
        ]
        for bad in cases {
            guard case .invalid(let reason) = reader.read(bad, into: &buffer) else {
                Issue.record("\(bad) was not refused")
                continue
            }
            #expect(!reason.isEmpty)
        }
        #expect(reader.read(FrameLocation(slot: 0, sequence: 1, generation: generation &+ 1), into: &buffer)
                == .staleGeneration)
        #expect(reader.read(location, into: &buffer) == .frame(FrameMetadata(width: 2, height: 2)))
        #expect(reader.counters.invalid == 3 && reader.counters.read == 1)
    }

    /// A 2-slot ring of 8-byte slots holding one 2 x 2 frame, with `bytes` then written over the
    /// file at `offset` (the slot headers carry no checksum); its reader and the frame's location.
    static func damagedRing(_ directory: RingDirectory, _ bytes: [UInt8], at offset: Int) throws
        -> (FrameRingReader, FrameLocation) {
        let writer = try FrameRingWriter(path: directory.ring, slots: 2, slotCapacity: 8)
        let location = try writer.write(FrameMetadata(width: 2, height: 2), pixels: [1, 2, 3, 4])
        let fd = open(directory.ring, O_WRONLY)
        defer { close(fd) }
        #expect(bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(offset)) } == bytes.count)
        return (try FrameRingReader(path: directory.ring), location)
    }

    /// Found by `Benchmarks/fuzz.sh frame-ring` (Benchmarks/Fuzz/crashes/frame-ring/seqlock-all-ones):
    /// a slot whose seqlock word is all ones (a damaged or hostile ring file) trapped on
    /// arithmetic overflow when a location was read; it is a newer frame being written, so the
    /// location's frame is gone.
    @Test func aSeqlockOfAllOnesIsAnOverwriteNotACrash() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let (reader, location) = try Self.damagedRing(directory, [UInt8](repeating: 0xFF, count: 8), at: 4096)
        var buffer: [UInt16] = []
        #expect(reader.read(location, into: &buffer) == .overwritten)
        #expect(reader.latestLocation() == nil)
        #expect(reader.counters.dropped == 1)
    }

    /// Found by `Benchmarks/fuzz.sh frame-ring` (Benchmarks/Fuzz/crashes/frame-ring/slot-size-overflow):
    /// a slot header whose width and height are both near 2^32 trapped on arithmetic overflow
    /// (width x height x 2 bytes exceeds Int); it is a header that does not fit its slot.
    @Test func aSlotHeaderWhoseSizeOverflowsIsInvalidNotACrash() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        // Slot 0's width and height.
        let (reader, location) = try Self.damagedRing(directory, [UInt8](repeating: 0xFF, count: 8), at: 4096 + 24)
        var buffer: [UInt16] = []
        guard case .invalid(let reason) = reader.read(location, into: &buffer) else {
            Issue.record("a 4294967295 x 4294967295 frame in an 8-byte slot was not refused")
            return
        }
        #expect(reason.contains("4294967295 x 4294967295") && reason.contains("8 bytes"), "\(reason)")
        #expect(reader.latest(into: &buffer) == nil)
    }

    // MARK: Overwrites, skipping

    /// Whether every pixel equals `value` (memcmp of the buffer against itself shifted by one
    /// pixel: fast even in a debug build).
    static func allEqual(_ pixels: [UInt16], _ value: UInt16) -> Bool {
        guard let first = pixels.first, first == value else { return pixels.isEmpty }
        return pixels.withUnsafeBytes { bytes in
            memcmp(bytes.baseAddress!, bytes.baseAddress! + 2, bytes.count - 2) == 0
        }
    }

    @Test func aSlotOverwrittenWhileBeingReadIsDroppedNeverReturnedTorn() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        // Two slots, 2 MiB frames, frame s filled with the constant s: a frame mixing two
        // writes shows as pixels that differ from each other or from its frame number.
        let peer = try RingPeer(["write", "--path", directory.ring, "--slots", "2", "--width", "1024",
                                 "--height", "1024", "--fill", "sequence"])
        defer { peer.stop() }
        _ = try peer.report(timeout: 20)
        let reader = try FrameRingReader(path: directory.ring)
        var buffer: [UInt16] = []
        var torn = 0
        var consistent = 0
        var overwritten = 0
        let deadline = Date().addingTimeInterval(20)
        var attempt = 0
        while Date() < deadline, consistent < 200 || overwritten < 20 {
            guard let newest = reader.latestLocation(), newest.sequence > 1 else { continue }
            // Every other read goes to the older slot, the one the writer fills next.
            attempt += 1
            let location = attempt % 2 == 0 ? newest
                : FrameLocation(slot: 1 - newest.slot, sequence: newest.sequence - 1, generation: newest.generation)
            switch reader.read(location, into: &buffer) {
            case .frame(let metadata):
                let expected = UInt16(truncatingIfNeeded: location.sequence)
                if UInt64(metadata.frameNumber) != location.sequence || !Self.allEqual(buffer, expected) {
                    torn += 1
                } else {
                    consistent += 1
                }
            case .overwritten: overwritten += 1
            case .staleGeneration, .invalid: Issue.record("unexpected result for \(location)")
            }
        }
        #expect(torn == 0)
        #expect(consistent >= 1)
        #expect(overwritten >= 1, "the writer never overwrote a slot being read in 20 s")
        #expect(reader.counters.dropped >= overwritten)

        // Zero-copy: a body that takes its time is always overtaken by the writer, and its
        // result is discarded; a body that sees a whole frame sees one value everywhere (checked
        // at three places, so that the body is quick enough to finish between two writes even
        // in a debug build).
        var discarded = 0
        var viewed = 0
        for attempt in 0..<1000 where discarded < 3 || viewed < 3 {
            guard let location = reader.latestLocation() else { continue }
            let slow = attempt % 2 == 1
            let seen = reader.withFrame(location) { metadata, pixels -> (UInt16, UInt16, UInt16, Int) in
                if slow { usleep(20_000) }
                return (pixels[0], pixels[pixels.count / 2], pixels[pixels.count - 1], metadata.frameNumber)
            }
            if let (first, middle, last, number) = seen {
                let expected = UInt16(truncatingIfNeeded: location.sequence)
                #expect(first == expected && middle == expected && last == expected && UInt64(number) == location.sequence)
                viewed += 1
            } else {
                discarded += 1
            }
        }
        #expect(viewed >= 1 && discarded >= 1)
    }

    @Test func aReaderThatFellBehindSkipsToTheNewestAndCountsWhatItSkipped() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let peer = try RingPeer(["write", "--path", directory.ring, "--slots", "4", "--width", "8", "--height", "8",
                                 "--count", "10", "--fill", "sequence"])
        defer { peer.stop() }
        _ = try peer.report(timeout: 20)
        #expect(try peer.report(timeout: 20).written == 10)
        let reader = try FrameRingReader(path: directory.ring)
        var buffer: [UInt16] = []

        // Frame 3 was in slot 2, since overwritten by frame 7.
        let old = FrameLocation(slot: 2, sequence: 3, generation: reader.generation)
        #expect(reader.read(old, into: &buffer) == .overwritten)

        let next = try #require(reader.next(after: 2, into: &buffer))
        #expect(next.entry.location.sequence == 10 && next.entry.location.slot == 1)
        #expect(next.skipped == 7)
        #expect(Self.allEqual(buffer, 10))
        #expect(reader.next(after: 10, into: &buffer) == nil)
        let zeroCopy = reader.withNext(after: 9) { _, pixels in pixels.allSatisfy { $0 == 10 } }
        #expect(zeroCopy?.next.skipped == 0 && zeroCopy?.value == true)
        #expect(reader.counters == FrameRingReaderCounters(read: 2, dropped: 1, skipped: 7, invalid: 0))
    }

    @Test func theOldestUnreadFrameComesFirstAndTheFocusPositionTravelsWithIt() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let writer = try FrameRingWriter(path: directory.ring, slots: 4, slotCapacity: 8 * 8 * 2)
        let reader = try FrameRingReader(path: directory.ring)
        #expect(reader.oldestLocation(after: 0) == nil)
        for number in 1...6 {
            let metadata = FrameMetadata(exposureId: "focus", frameNumber: number, width: 8, height: 8,
                                         focus: number == 6 ? nil : 4800 + 100 * Double(number))
            _ = try writer.write(metadata, pixels: [UInt16](repeating: UInt16(number), count: 64))
        }
        // Frames 1 and 2 were overwritten by 5 and 6: the oldest still there is 3.
        let oldest = try #require(reader.oldestLocation(after: 0))
        #expect(oldest.sequence == 3)
        #expect(reader.oldestLocation(after: 4)?.sequence == 5)
        #expect(reader.oldestLocation(after: 6) == nil)
        var buffer: [UInt16] = []
        guard case .frame(let third) = reader.read(oldest, into: &buffer) else {
            Issue.record("frame 3 could not be read")
            return
        }
        #expect(third.focus == 5100)
        #expect(reader.latest(into: &buffer)?.metadata.focus == nil)
        // A focus position that is not a number is refused before the ring is touched.
        let bad = FrameMetadata(exposureId: "focus", frameNumber: 7, width: 8, height: 8, focus: .nan)
        #expect(throws: BusError.self) { try writer.write(bad, pixels: [UInt16](repeating: 7, count: 64)) }
        #expect(reader.latestLocation()?.sequence == 6)
    }

    // MARK: The writer's life

    @Test func aRestartedWriterReplacesTheRingAndOldReadersReopen() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let first = try RingPeer(["write", "--path", directory.ring, "--slots", "4", "--width", "16", "--height", "16",
                                  "--count", "3", "--linger"])
        defer { first.stop() }
        let firstGeneration = try #require(try first.report(timeout: 20).generation)
        let firstLast = try #require(try first.report(timeout: 20).last)
        let reader = try FrameRingReader(path: directory.ring)
        var buffer: [UInt16] = []
        #expect(reader.latest(into: &buffer)?.location == firstLast)
        #expect(!reader.isReplaced)
        #expect(try reader.reopenIfReplaced() == false)
        first.stop()

        // The new camera process: a new file under the same name, a new generation.
        let second = try RingPeer(["write", "--path", directory.ring, "--slots", "4", "--width", "16", "--height", "16",
                                   "--count", "5"])
        defer { second.stop() }
        let secondGeneration = try #require(try second.report(timeout: 20).generation)
        let secondLast = try #require(try second.report(timeout: 20).last)
        #expect(secondGeneration != firstGeneration)
        #expect(secondLast.sequence == 5)

        // The old mapping still holds the old frames, and knows the new locations are not its own.
        #expect(reader.read(secondLast, into: &buffer) == .staleGeneration)
        guard case .frame = reader.read(firstLast, into: &buffer) else {
            Issue.record("the old mapping lost its frame")
            return
        }
        #expect(Self.allEqual(buffer, 3))
        #expect(reader.isReplaced)
        #expect(try reader.reopenIfReplaced() == true)
        #expect(reader.generation == secondGeneration)
        #expect(reader.read(firstLast, into: &buffer) == .staleGeneration)
        guard case .frame(let metadata) = reader.read(secondLast, into: &buffer) else {
            Issue.record("the new ring's frame is not readable after reopening")
            return
        }
        #expect(metadata.frameNumber == 5 && Self.allEqual(buffer, 5))
        #expect(try reader.reopenIfReplaced() == false)
    }

    @Test func aReaderSurvivesTheWriterBeingKilled() throws {
        let directory = try RingDirectory()
        defer { directory.cleanup() }
        let peer = try RingPeer(["write", "--path", directory.ring, "--slots", "3", "--width", "40", "--height", "30",
                                 "--count", "4", "--linger"])
        defer { peer.stop() }
        _ = try peer.report(timeout: 20)
        let last = try #require(try peer.report(timeout: 20).last)
        let reader = try FrameRingReader(path: directory.ring)
        #expect(reader.writerPID == peer.pid)
        peer.kill9()

        var buffer: [UInt16] = []
        let entry = try #require(reader.latest(into: &buffer))
        #expect(entry.location == last && entry.metadata.frameNumber == 4)
        #expect(buffer.count == 1200 && Self.allEqual(buffer, 4))
        #expect(try reader.reopenIfReplaced() == false)
        // A reader that starts after the crash finds the last frames too.
        let late = try FrameRingReader(path: directory.ring)
        #expect(late.latest(into: &buffer)?.location == last)
    }
}

// MARK: - Support

/// A fresh directory for one ring, removed by `cleanup()`.
struct RingDirectory {
    let path: String
    var ring: String { path + "/" + EndpointName.cameraFrames }

    init() throws {
        path = "/tmp/aperture-ring-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        _ = try RuntimeDirectory.prepare(path)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// One line of `aperture-ring-peer`'s output.
struct PeerReport: Decodable {
    var event: String
    var pid: Int32
    var generation: UInt64?
    var written: Int?
    var seconds: Double?
    var last: FrameLocation?
    var location: FrameLocation?
    var metadata: FrameMetadata?
    var sum: UInt64?
}

/// `aperture-ring-peer`, built beside this test bundle, running with a pipe on its standard
/// input (closed to stop it) and one on its standard output (JSON lines).
final class RingPeer {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()

    /// The directory holding the built executables (the test bundle's own directory).
    static let buildDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }()

    init(_ arguments: [String]) throws {
        let executable = Self.buildDirectory + "/aperture-ring-peer"
        try #require(FileManager.default.isExecutableFile(atPath: executable),
                     "\(executable) is missing: build the package (swift build) before testing")
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// The next JSON line, waiting at most `timeout` seconds.
    func report(timeout: Double) throws -> PeerReport {
        let fd = output.fileHandleForReading.fileDescriptor
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                return try JSONDecoder().decode(PeerReport.self, from: line)
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw BusError(.timeout, "aperture-ring-peer wrote no line within \(timeout) s")
            }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(left * 1000) + 1) > 0 else { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else {
                throw BusError(.closed, "aperture-ring-peer closed its output (exit status \(exitStatus()))")
            }
            pending.append(contentsOf: chunk[0..<count])
        }
    }

    private func exitStatus() -> String {
        !process.hasEnded ? "still running" : String(process.waitForExit())
    }

    /// Closes its standard input (it stops) and waits; SIGKILL after 10 s.
    func stop() {
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(10)
        while !process.hasEnded, Date() < deadline { usleep(10_000) }
        if !process.hasEnded { kill9() }
    }

    /// Sends SIGKILL and waits for the process to end.
    func kill9() {
        if !process.hasEnded { kill(pid, SIGKILL) }
        process.waitForExit()
    }
}

/// Issue 11: a camera killed while creating its ring left `camera.frames.new-*` behind for ever.
@Test func staleRingTemporariesOfDeadWritersAreRemoved() throws {
    let runtime = try TemporaryRuntime()
    defer { runtime.cleanup() }
    let path = runtime.directory.path + "/camera.frames"
    let dead = path + ".new-99999999-ab12", live = path + ".new-\(getpid())-cd34"
    for file in [dead, live, path + ".other"] {
        FileManager.default.createFile(atPath: file, contents: Data([1]))
    }
    #expect(FrameRingWriter.removeStaleTemporaries(of: path) == [dead])
    #expect(FileManager.default.fileExists(atPath: live))
    #expect(FileManager.default.fileExists(atPath: path + ".other"))
    #expect(!FileManager.default.fileExists(atPath: dead))
}
