// aperture-bench-ring: the frame path (issue 5). How fast 2048x2048 UInt16 frames move from a
// writer process to a reader process that touches every pixel.
//
//   swift build -c release --scratch-path .build-ring
//   .build-ring/release/aperture-bench-ring [--seconds S] [--rounds R] [--width W] [--height H]
//                                           [--slots N]
//
// Five cases, one after the other, R rounds of them (so that a load that comes and goes weighs
// on every case alike), S seconds per case per round, the same frames (four prepared W*H
// frames copied in turn, as the camera copies out of its SDK buffer), the reader summing every
// pixel of every frame it gets:
//
// 1. memcpy: one process copies each frame into one of N buffers, then sums it. The
//    reference: what a frame costs when nothing crosses a process boundary.
// 2. ring, polling: `aperture-ring-peer write` (another process) writes frames into an N-slot
//    FrameRing as fast as it can; this process maps it and, in a loop, takes the newest frame
//    with `withNext(after:)` and sums it in place (no copy), sleeping 100 µs when there is
//    nothing new (a reader spinning instead loses the CPU to whatever else runs).
// 3. ring + notice: the same, with the writer publishing each FrameLocation on a Bus
//    Publisher (`camera.frame`, JSON, as the camera does) and this process reading the
//    notices with a Bus Subscriber; each notice newer than the last frame read wakes the
//    reader, which takes the newest frame (`withNext(after:)`, so that a backlog of notices
//    never holds it back) and sums it in place; then again with the reader copying each
//    frame out first (`next(after:into:)`, what a consumer that keeps the pixels does).
// 4. NNG messages: `aperture-ring-peer nng-pub` publishes each frame as one W*H*2-byte NNG
//    message (pub0 over ipc, as the bus would carry it); this process receives with a sub0
//    socket and sums the message body in place.
//
// The writers never wait for the reader; frames the reader does not get are counted (skipped,
// dropped) and the writer's own rate is shown. Rates are frames the reader summed whole per
// second. The ring file and sockets live in a fresh directory under /dev/shm (a tmpfs, as the
// runtime directory is under systemd), removed at the end. Figures are printed, never checked:
// the goal (the camera's path, case 3 zero-copy, at >= 60% of memcpy and >= 5x NNG messages)
// is reported as met or not.

import ArgumentParser
import BenchmarkSupport
import Bus
import CNNG
import Foundation

// MARK: - Options

@main
struct FrameRingBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-ring",
        abstract: "Frames from a writer process to a reader process: FrameRing against memcpy and NNG messages.")

    @Option(help: "How long each case runs in each round, in seconds.")
    var seconds = 2.0
    @Option(help: "How many times every case runs, in turn.")
    var rounds = 3
    @OptionGroup var size: FrameSize
    @Option(help: "Ring slots, and memcpy target buffers.")
    var slots = 8

    func validate() throws {
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be a positive number") }
        guard rounds > 0, slots > 0 else {
            throw ValidationError("--rounds and --slots must be positive integers")
        }
    }

    @MainActor
    func run() async throws {
        try await runBenchmark(self)
    }
}

// MARK: - The pixel pass

/// Touches every pixel: their sum. The same function in every case.
@inline(never)
func sumPixels(_ pixels: UnsafeBufferPointer<UInt16>) -> UInt64 {
    var total: UInt64 = 0
    for pixel in pixels { total &+= UInt64(pixel) }
    return total
}

struct CaseResult {
    var name: String
    var frames: Int
    var seconds: Double
    var skipped: Int = 0
    var dropped: Int = 0
    var writerRate: Double?
    var checksum: UInt64 = 0
    /// CPU time (user + system) of this process during the case.
    var cpuSeconds: Double = 0
    var perSecond: Double { Double(frames) / seconds }
}

/// Runs one case and records this process's CPU time during it.
func timed(_ body: () throws -> CaseResult) rethrows -> CaseResult {
    let before = ResourceUsage.now()
    var result = try body()
    result.cpuSeconds = (ResourceUsage.now() - before).cpuSeconds
    return result
}

// MARK: - The other process

/// `aperture-ring-peer`, beside this executable, with pipes on its standard input (closed to
/// stop it) and output (JSON lines).
final class Peer {
    struct Report: Decodable {
        var event: String
        var written: Int?
        var seconds: Double?
        var generation: UInt64?
    }

    private let process: LineProcess

    init(_ arguments: [String]) throws {
        let path = executableBeside("aperture-ring-peer")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchmarkError("\(path) is missing: swift build -c release --scratch-path .build-ring builds it")
        }
        process = try LineProcess(executable: path, arguments: arguments)
    }

    func report(expecting event: String) throws -> Report {
        let report = try JSONDecoder().decode(Report.self, from: process.readLine())
        guard report.event == event else {
            throw BenchmarkError("aperture-ring-peer said \(report.event), expected \(event)")
        }
        return report
    }

    func go() { process.send("go") }

    /// Closes its input (it stops), waits for its summary and its exit.
    func finish() throws -> Report {
        process.closeInput()
        let done = try report(expecting: "done")
        process.wait()
        return done
    }
}

// MARK: - Cases

func measureMemcpy(_ options: FrameRingBenchmark, sources: [[UInt16]]) -> CaseResult {
    let count = options.size.width * options.size.height
    var targets = (0..<options.slots).map { _ in [UInt16](repeating: 0, count: count) }
    var frames = 0
    var checksum: UInt64 = 0
    let start = Timing.seconds()
    var now = start
    while now - start < options.seconds {
        sources[frames % sources.count].withUnsafeBytes { source in
            targets[frames % targets.count].withUnsafeMutableBytes { target in
                target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
        }
        checksum &+= targets[frames % targets.count].withUnsafeBufferPointer(sumPixels)
        frames += 1
        now = Timing.seconds()
    }
    return CaseResult(name: "memcpy + sum, one process", frames: frames, seconds: now - start, checksum: checksum)
}

func measureRingPolling(_ options: FrameRingBenchmark, directory: String) throws -> CaseResult {
    let path = directory + "/poll.frames"
    let peer = try Peer(["write", "--path", path, "--slots", String(options.slots), "--width", String(options.size.width),
                         "--height", String(options.size.height), "--fill", "sources", "--wait-go"])
    _ = try peer.report(expecting: "ready")
    let reader = try FrameRingReader(path: path)
    peer.go()
    var last: UInt64 = 0
    var frames = 0
    var checksum: UInt64 = 0
    let start = Timing.seconds()
    var now = start
    while now - start < options.seconds {
        if let (next, sum) = reader.withNext(after: last, { _, pixels in sumPixels(pixels) }) {
            last = next.entry.location.sequence
            checksum &+= sum
            frames += 1
        } else {
            usleep(100)  // nothing new: sleep, as a reader that polls should, rather than spin
        }
        now = Timing.seconds()
    }
    let done = try peer.finish()
    let counters = reader.counters
    return CaseResult(name: "FrameRing, reader polling", frames: frames, seconds: now - start,
                      skipped: counters.skipped, dropped: counters.dropped,
                      writerRate: Double(done.written ?? 0) / (done.seconds ?? 1), checksum: checksum)
}

func measureRingNotices(_ options: FrameRingBenchmark, directory: String, copying: Bool) async throws -> CaseResult {
    let path = directory + (copying ? "/copy.frames" : "/notice.frames")
    let events = Endpoint.ipc(directory + "/camera.events")
    let peer = try Peer(["write", "--path", path, "--slots", String(options.slots), "--width", String(options.size.width),
                         "--height", String(options.size.height), "--fill", "sources", "--wait-go",
                         "--notify", events.url])
    _ = try peer.report(expecting: "ready")
    let reader = try FrameRingReader(path: path)
    let subscriber = try Subscriber(dialing: events, topics: ["camera.frame"], bufferSize: 16)
    try await Task.sleep(for: .milliseconds(300))  // let the subscription reach the publisher
    peer.go()
    var last: UInt64 = 0
    var frames = 0
    var notices = 0
    var buffer: [UInt16] = []
    var checksum: UInt64 = 0
    let start = Timing.seconds()
    var now = start
    while now - start < options.seconds {
        let event = try await subscriber.next(timeout: .seconds(2))
        notices += 1
        let location = try event.decode(FrameLocation.self)
        // A notice is the wake-up; the reader takes the newest frame, so that notices queued
        // while it was busy do not hold it back (it skips, and counts, what it passed over).
        guard location.sequence > last else { continue }
        if copying {
            if let next = reader.next(after: last, into: &buffer) {
                last = next.entry.location.sequence
                checksum &+= buffer.withUnsafeBufferPointer(sumPixels)
                frames += 1
            }
        } else if let (next, sum) = reader.withNext(after: last, { _, pixels in sumPixels(pixels) }) {
            last = next.entry.location.sequence
            checksum &+= sum
            frames += 1
        }
        now = Timing.seconds()
    }
    let done = try peer.finish()
    subscriber.close()
    return CaseResult(name: copying ? "FrameRing + notice, copying" : "FrameRing + camera.frame notice",
                      frames: frames, seconds: now - start,
                      skipped: reader.counters.skipped, dropped: reader.counters.dropped,
                      writerRate: Double(done.written ?? 0) / (done.seconds ?? 1), checksum: checksum)
}

func measureNNG(_ options: FrameRingBenchmark, directory: String) throws -> CaseResult {
    func check(_ status: Int32, _ what: String) throws {
        if status != 0 { throw BenchmarkError("\(what): \(String(cString: nng_strerror(status)))") }
    }
    let url = "ipc://" + directory + "/frames.ipc"
    let peer = try Peer(["nng-pub", "--url", url, "--width", String(options.size.width), "--height", String(options.size.height),
                         "--wait-go"])
    _ = try peer.report(expecting: "ready")
    var socket = nng_socket()
    try check(nng_sub0_open(&socket), "nng_sub0_open")
    // Closed only after the publisher stopped (below); on an error the process exits instead.
    try check(nng_socket_set_size(socket, NNG_OPT_RECVMAXSZ, 0), "NNG_OPT_RECVMAXSZ")
    try check(nng_socket_set_int(socket, NNG_OPT_RECVBUF, 4), "NNG_OPT_RECVBUF")
    try check(nng_socket_set_ms(socket, NNG_OPT_RECVTIMEO, 2000), "NNG_OPT_RECVTIMEO")
    try check(aperture_nng_subscribe(socket, nil, 0), "subscribe")
    try check(nng_dial(socket, url, nil, 0), "nng_dial \(url)")
    usleep(300_000)  // let the subscription reach the publisher
    peer.go()
    var frames = 0
    var checksum: UInt64 = 0
    let expected = options.size.width * options.size.height * 2
    let start = Timing.seconds()
    var now = start
    while now - start < options.seconds {
        var message: OpaquePointer?
        try check(nng_recvmsg(socket, &message, 0), "nng_recvmsg")
        let length = nng_msg_len(message)
        if length == expected, let body = nng_msg_body(message) {
            let pixels = UnsafeBufferPointer(start: body.assumingMemoryBound(to: UInt16.self), count: length / 2)
            checksum &+= sumPixels(pixels)
            frames += 1
        }
        nng_msg_free(message)
        now = Timing.seconds()
    }
    // Stop the publisher before closing: NNG 1.5's nng_close can wait forever on a pipe that
    // is still receiving (seen on both sides with 8 MiB messages in flight).
    let done = try peer.finish()
    nng_close(socket)
    let sent = done.written ?? 0
    return CaseResult(name: "NNG pub/sub, frame in message", frames: frames, seconds: now - start,
                      dropped: max(0, sent - frames), writerRate: Double(sent) / (done.seconds ?? 1),
                      checksum: checksum)
}

// MARK: - Main

/// Every round of one case added up: frames over total time, counters summed, the writer's
/// rate averaged; `low` and `high` the slowest and fastest round.
struct Summary {
    var total: CaseResult
    var low: Double
    var high: Double

    init(_ runs: [CaseResult]) {
        var total = runs[0]
        for run in runs.dropFirst() {
            total.frames += run.frames
            total.seconds += run.seconds
            total.skipped += run.skipped
            total.dropped += run.dropped
            total.cpuSeconds += run.cpuSeconds
            total.checksum &+= run.checksum
        }
        let writerRates = runs.compactMap(\.writerRate)
        total.writerRate = writerRates.isEmpty ? nil : writerRates.reduce(0, +) / Double(writerRates.count)
        self.total = total
        let rates = Distribution(runs.map(\.perSecond))
        low = rates.min
        high = rates.max
    }
}

@MainActor
func runBenchmark(_ options: FrameRingBenchmark) async throws {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : "/tmp"
    let scratch = try ScratchDirectory(in: base, prefix: "aperture-bench-ring")
    defer { scratch.remove() }
    let directory = scratch.path

    let frameBytes = options.size.width * options.size.height * 2
    print("aperture-bench-ring: frames from a writer process to a reader process, in \(directory)")
    print("  \(options.size.width)x\(options.size.height) UInt16 frames (\(frameBytes) bytes), \(options.slots) slots, "
          + "\(options.rounds) rounds of \(options.seconds) s per case, \(cores) cores, "
          + "load average \(loadAverage())")
    print("  every frame the reader gets is summed whole (every pixel read once)")
    print("")

    let sources = sourceFrames(width: options.size.width, height: options.size.height)
    /// rounds[r][c]: case c of round r.
    var rounds: [[CaseResult]] = []
    for _ in 0..<options.rounds {
        var round: [CaseResult] = []
        round.append(timed { measureMemcpy(options, sources: sources) })
        round.append(try timed { try measureRingPolling(options, directory: directory) })
        for copying in [false, true] {
            let before = ResourceUsage.now()
            var notices = try await measureRingNotices(options, directory: directory, copying: copying)
            notices.cpuSeconds = (ResourceUsage.now() - before).cpuSeconds
            round.append(notices)
        }
        round.append(try timed { try measureNNG(options, directory: directory) })
        rounds.append(round)
    }
    let summaries = rounds[0].indices.map { index in Summary(rounds.map { $0[index] }) }

    let memcpyRate = summaries[0].total.perSecond
    var table = Table([.left("case", width: 31), .right("frames", width: 6), .right("frames/s", width: 8),
                       .right("(rounds: low-high)", width: 18), .right("GB/s", width: 6), .right("vs memcpy"),
                       .right("skipped"), .right("dropped"), .right("writer/s"), .right("cpu ms/frame")])
    for summary in summaries {
        let result = summary.total
        let gigabytes = result.perSecond * Double(frameBytes) / 1e9
        table.append([
            result.name, String(result.frames), fixed(result.perSecond),
            fixed(summary.low) + "-" + fixed(summary.high), fixed(gigabytes, 2),
            fixed(result.perSecond / memcpyRate * 100, 0) + "%", grouped(result.skipped), grouped(result.dropped),
            result.writerRate.map { fixed($0) } ?? "-",
            fixed(result.cpuSeconds * 1000 / Double(max(1, result.frames)), 2),
        ])
    }
    table.print()
    print("  frames/s: frames the reader summed whole per second, over all rounds; GB/s: the same in")
    print("  10^9 bytes of pixels; skipped: newer frames were ready when the reader came back (it jumps")
    print("  to the newest); dropped: overwritten while read (ring) or lost in NNG's queues (messages")
    print("  sent - received); writer/s: the writer's own rate; cpu ms/frame: CPU time of this")
    print("  (reading) process per frame summed, waiting included.")
    print("")

    let nngRate = summaries[4].total.perSecond
    let goal = summaries[2].total
    let goalMet = goal.perSecond / memcpyRate >= 0.6 && goal.perSecond / nngRate >= 5
    print("  goal (issue 5): the camera's path (\(goal.name), zero-copy reader) at >= 60% of the")
    print("  memcpy rate and >= 5x the NNG-message rate: " + (goalMet ? "MET" : "NOT MET")
          + " (\(fixed(goal.perSecond / memcpyRate * 100, 0))% of memcpy, \(fixed(goal.perSecond / nngRate))x NNG)")
    for index in [1, 3] {
        let other = summaries[index].total
        print("  \(other.name): \(fixed(other.perSecond / memcpyRate * 100, 0))% of memcpy, "
              + "\(fixed(other.perSecond / nngRate))x NNG")
    }
    let checksums = summaries.map { String($0.total.checksum % 1000) }.joined(separator: " ")
    print("  (checksums, so that no sum is optimised away: \(checksums))")
    print("load average at the end: \(loadAverage())")
}
