// aperture-ring-peer: the other process of the frame ring's tests and benchmark.
//
//   aperture-ring-peer write --path P [--slots N] [--width W] [--height H] [--count C]
//                            [--seconds S] [--fill sequence|sources] [--wait-go] [--linger]
//                            [--notify URL]
//   aperture-ring-peer read --path P
//   aperture-ring-peer nng-pub --url U [--width W] [--height H] [--seconds S] [--wait-go]
//
// write    creates a ring (slot capacity W*H*2) and writes frames as fast as it can, until C
//          frames (0: no limit), S seconds, or end of standard input. `--fill sequence` fills
//          frame s with the constant UInt16(s) and sets its frame number to s, so that a torn
//          frame is visible; `--fill sources` copies one of four prepared frames (the camera
//          copying out of its SDK buffer). `--wait-go` waits for a line on standard input
//          before writing; `--linger` stays (holding nothing but the process) until standard
//          input ends, so that a test can SIGKILL a writer that has written. `--notify URL`
//          publishes each frame's FrameLocation as a `camera.frame` event on a Bus Publisher
//          listening on URL, as the camera does.
// read     prints the newest complete frame of the ring at P: location, metadata, pixel sum.
// nng-pub  publishes W*H*2-byte frames on an NNG pub0 socket listening on U, copying one of
//          four prepared frames into each message, for S seconds or until standard input ends.
//
// Every line on standard output is one JSON object with an "event" field: "ready" (with the
// ring's generation), "done" (frames written, seconds, the last location), "frame" (read).

import ArgumentParser
import BenchmarkSupport
import Bus
import CNNG
import Foundation
import Synchronization

// MARK: - Arguments

@main
struct FrameRingPeer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-ring-peer",
        abstract: "The other process of the frame ring's tests and benchmark; one JSON object per output line.",
        subcommands: [Write.self, Read.self, NNGPublish.self])
}

/// What both writing modes take: the frame size, when to stop, whether to wait for a go.
struct WriterOptions: ParsableArguments {
    @OptionGroup var size: FrameSize
    @Option(help: "Stop after S seconds (0: when standard input ends).")
    var seconds = 0.0
    @Flag(help: "Wait for a line on standard input before writing.")
    var waitGo = false

    func validate() throws {
        guard seconds >= 0 else { throw ValidationError("--seconds must be a number >= 0") }
    }
}

extension FrameRingPeer {
    struct Write: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a ring (slot capacity W*H*2) and write frames as fast as possible.",
            discussion: """
                Until C frames (0: no limit), S seconds, or the end of standard input. `--fill sequence` \
                fills frame s with the constant UInt16(s) and sets its frame number to s, so that a torn \
                frame is visible; `--fill sources` copies one of four prepared frames (the camera copying \
                out of its SDK buffer). `--linger` stays until standard input ends, so that a test can \
                SIGKILL a writer that has written.
                """)

        enum Fill: String, ExpressibleByArgument { case sequence, sources }

        @Option(help: "The ring file.")
        var path: String
        @Option(help: "Ring slots.")
        var slots = 8
        @OptionGroup var frame: WriterOptions
        @Option(help: "Frames to write (0: no limit).")
        var count = 0
        @Option(help: "What the frames hold: sequence or sources.")
        var fill = Fill.sequence
        @Flag(help: "Stay until standard input ends.")
        var linger = false
        @Option(help: "Publish each frame's FrameLocation as `camera.frame` on a Bus Publisher listening on URL.")
        var notify: String?

        func validate() throws {
            guard slots >= 1 else { throw ValidationError("--slots must be an integer >= 1") }
            guard count >= 0 else { throw ValidationError("--count must be an integer >= 0") }
        }

        func run() throws {
            try runWriter(self, input: InputWatch())
        }
    }

    struct Read: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the newest complete frame of a ring: location, metadata, pixel sum.")

        @Option(help: "The ring file.")
        var path: String

        func run() throws {
            try runReader(path: path)
        }
    }

    struct NNGPublish: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "nng-pub",
            abstract: "Publish W*H*2-byte frames on an NNG pub0 socket, one of four prepared frames in each message.")

        @Option(help: "The URL to listen on.")
        var url: String
        @OptionGroup var frame: WriterOptions

        func run() throws {
            try runPublisher(self, input: InputWatch())
        }
    }
}

// MARK: - Output and control

struct Report: Encodable {
    var event: String
    var pid: Int32 = getpid()
    var generation: UInt64?
    var written: Int?
    var seconds: Double?
    var last: FrameLocation?
    var location: FrameLocation?
    var metadata: FrameMetadata?
    var sum: UInt64?
}

func emit(_ report: Report) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    var line = (try? encoder.encode(report)) ?? Data("{}".utf8)
    line.append(0x0A)
    FileHandle.standardOutput.write(line)
}

/// Set when standard input ends: the test or benchmark that started this process wants it
/// to stop (or has itself gone away).
final class InputWatch: Sendable {
    let ended = Atomic<Bool>(false)
    private let lines = Atomic<Int>(0)

    init() {
        let thread = Thread { [self] in
            var byte: UInt8 = 0
            while true {
                let n = read(0, &byte, 1)
                if n <= 0 { break }
                if byte == 0x0A { lines.add(1, ordering: .releasing) }
            }
            ended.store(true, ordering: .releasing)
        }
        thread.start()
    }

    var hasEnded: Bool { ended.load(ordering: .acquiring) }

    /// Waits for one line (the "go") or the end of input.
    func waitForLine() {
        while lines.load(ordering: .acquiring) == 0, !hasEnded { usleep(1_000) }
    }

    /// Waits for the end of input.
    func waitForEnd() {
        while !hasEnded { usleep(10_000) }
    }
}

/// Sets every pixel to `value` by doubling memcpys: quick even in a debug build, so that the
/// writer spends its time writing slots, as the camera does.
func fill(_ frame: inout [UInt16], with value: UInt16) {
    frame.withUnsafeMutableBytes { bytes in
        guard bytes.count >= 2 else { return }
        bytes.storeBytes(of: value, as: UInt16.self)
        var done = 2
        while done < bytes.count {
            let chunk = min(done, bytes.count - done)
            (bytes.baseAddress! + done).copyMemory(from: bytes.baseAddress!, byteCount: chunk)
            done += chunk
        }
    }
}

// MARK: - Modes

func runWriter(_ options: FrameRingPeer.Write, input: InputWatch) throws {
    let pixels = options.frame.size.pixels
    let writer = try FrameRingWriter(path: options.path, slots: options.slots, slotCapacity: pixels * 2)
    let publisher = try options.notify.map { try Publisher(listening: Endpoint(url: $0)) }
    emit(Report(event: "ready", generation: writer.generation))
    if options.frame.waitGo { input.waitForLine() }
    let sources = options.fill == .sources ? sourceFrames(width: options.frame.size.width, height: options.frame.size.height) : []
    var frame = [UInt16](repeating: 0, count: options.fill == .sequence ? pixels : 0)
    var metadata = FrameMetadata(exposureId: "peer-\(getpid())", width: options.frame.size.width, height: options.frame.size.height,
                                 exposureTime: 0.001, imageType: "object")
    let start = Timing.seconds()
    var written = 0
    while options.count == 0 || written < options.count {
        if input.hasEnded { break }
        if options.frame.seconds > 0, Timing.seconds() - start >= options.frame.seconds { break }
        let sequence = written + 1
        metadata.frameNumber = sequence
        metadata.exposureStart = Date().timeIntervalSince1970
        metadata.readoutTime = metadata.exposureStart
        if options.fill == .sequence {
            let value = UInt16(truncatingIfNeeded: sequence)
            fill(&frame, with: value)
            let location = try writer.write(metadata, pixels: frame)
            try publisher?.publish("camera.frame", location)
        } else {
            let location = try sources[written % sources.count].withUnsafeBufferPointer { buffer throws(BusError) in
                try writer.write(metadata, pixels: buffer)
            }
            try publisher?.publish("camera.frame", location)
        }
        written += 1
    }
    emit(Report(event: "done", generation: writer.generation, written: written,
                seconds: Timing.seconds() - start, last: writer.lastLocation))
    if options.linger { input.waitForEnd() }
    // Exit here, with the publisher still open: its close can wait on a subscriber (NNG 1.5).
    exit(0)
}

func runReader(path: String) throws {
    let reader = try FrameRingReader(path: path)
    var buffer: [UInt16] = []
    guard let entry = reader.latest(into: &buffer) else {
        emit(Report(event: "empty", generation: reader.generation))
        return
    }
    let sum = buffer.reduce(UInt64(0)) { $0 &+ UInt64($1) }
    emit(Report(event: "frame", generation: reader.generation, location: entry.location,
                metadata: entry.metadata, sum: sum))
}

func runPublisher(_ options: FrameRingPeer.NNGPublish, input: InputWatch) throws {
    func check(_ status: Int32, _ what: String) throws {
        if status != 0 { throw BusError(.transport, "\(what): \(String(cString: nng_strerror(status)))") }
    }
    var socket = nng_socket()
    try check(nng_pub0_open(&socket), "nng_pub0_open")
    // No nng_close at the end: with a message still queued for a subscriber that stopped
    // reading, NNG 1.5's close waits for it; the process's exit closes the socket instead.
    try check(nng_socket_set_int(socket, NNG_OPT_SENDBUF, 4), "NNG_OPT_SENDBUF")
    try check(nng_listen(socket, options.url, nil, 0), "nng_listen \(options.url)")
    emit(Report(event: "ready"))
    if options.frame.waitGo { input.waitForLine() }
    let bytes = options.frame.size.pixels * 2
    let sources = sourceFrames(width: options.frame.size.width, height: options.frame.size.height)
    let start = Timing.seconds()
    var written = 0
    while !input.hasEnded {
        if options.frame.seconds > 0, Timing.seconds() - start >= options.frame.seconds { break }
        var message: OpaquePointer?
        try check(nng_msg_alloc(&message, bytes), "nng_msg_alloc")
        sources[written % sources.count].withUnsafeBytes { source in
            nng_msg_body(message!).copyMemory(from: source.baseAddress!, byteCount: bytes)
        }
        let status = nng_sendmsg(socket, message, 0)
        if status != 0 {
            nng_msg_free(message)
            try check(status, "nng_sendmsg")
        }
        written += 1
    }
    emit(Report(event: "done", written: written, seconds: Timing.seconds() - start))
}
