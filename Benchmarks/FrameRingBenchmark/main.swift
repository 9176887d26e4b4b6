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

import Bus
import CNNG
import Foundation

// MARK: - Options

struct Options {
    var seconds = 2.0
    var width = 2048
    var height = 2048
    var slots = 8
    var rounds = 3

    static let usage = """
        usage: aperture-bench-ring [--seconds S] [--rounds R] [--width W] [--height H] [--slots N]
          --seconds S   how long each case runs in each round (default 2)
          --rounds R    how many times every case runs, in turn (default 3)
          --width W     frame width in pixels (default 2048)
          --height H    frame height in pixels (default 2048)
          --slots N     ring slots, and memcpy target buffers (default 8)
        """

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var index = 0
        func value(_ name: String) -> String {
            index += 1
            guard index < arguments.count else { fail("\(name) needs a value\n\(usage)") }
            return arguments[index]
        }
        func positive(_ name: String) -> Int {
            let text = value(name)
            guard let n = Int(text), n > 0 else { fail("\(name) must be a positive integer, not '\(text)'") }
            return n
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--seconds":
                let text = value("--seconds")
                guard let s = Double(text), s > 0, s.isFinite else { fail("--seconds must be a positive number, not '\(text)'") }
                options.seconds = s
            case "--width": options.width = positive("--width")
            case "--height": options.height = positive("--height")
            case "--slots": options.slots = positive("--slots")
            case "--rounds": options.rounds = positive("--rounds")
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown argument '\(arguments[index])'\n\(usage)")
            }
            index += 1
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("aperture-bench-ring: \(message)\n".utf8))
    exit(2)
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Time, the pixel pass

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// Touches every pixel: their sum. The same function in every case.
@inline(never)
func sumPixels(_ pixels: UnsafeBufferPointer<UInt16>) -> UInt64 {
    var total: UInt64 = 0
    for pixel in pixels { total &+= UInt64(pixel) }
    return total
}

/// The same four frames the peer prepares (`sourceFrames` in aperture-ring-peer).
func sourceFrames(width: Int, height: Int) -> [[UInt16]] {
    (0..<4).map { k in
        (0..<(width * height)).map { UInt16(truncatingIfNeeded: $0 &* 31 &+ k &* 1009) }
    }
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

/// CPU time (user + system, all threads) of this process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
        + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Runs one case and records this process's CPU time during it.
func timed(_ body: () throws -> CaseResult) rethrows -> CaseResult {
    let before = cpuSeconds()
    var result = try body()
    result.cpuSeconds = cpuSeconds() - before
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

    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()

    init(_ arguments: [String]) throws {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let path = URL(fileURLWithPath: exe).deletingLastPathComponent().path + "/aperture-ring-peer"
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw BenchmarkError("\(path) is missing: swift build -c release --scratch-path .build-ring builds it")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    func report(expecting event: String) throws -> Report {
        let handle = output.fileHandleForReading
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<newline]
                pending = Data(pending[(newline + 1)...])
                let report = try JSONDecoder().decode(Report.self, from: line)
                guard report.event == event else {
                    throw BenchmarkError("aperture-ring-peer said \(report.event), expected \(event)")
                }
                return report
            }
            let chunk = handle.availableData
            guard !chunk.isEmpty else { throw BenchmarkError("aperture-ring-peer ended before '\(event)'") }
            pending.append(chunk)
        }
    }

    func go() { input.fileHandleForWriting.write(Data("go\n".utf8)) }

    /// Closes its input (it stops), waits for its summary and its exit.
    func finish() throws -> Report {
        try? input.fileHandleForWriting.close()
        let done = try report(expecting: "done")
        process.waitUntilExit()
        return done
    }
}

// MARK: - Cases

func measureMemcpy(_ options: Options, sources: [[UInt16]]) -> CaseResult {
    let count = options.width * options.height
    var targets = (0..<options.slots).map { _ in [UInt16](repeating: 0, count: count) }
    var frames = 0
    var checksum: UInt64 = 0
    let start = monotonicSeconds()
    var now = start
    while now - start < options.seconds {
        sources[frames % sources.count].withUnsafeBytes { source in
            targets[frames % targets.count].withUnsafeMutableBytes { target in
                target.baseAddress!.copyMemory(from: source.baseAddress!, byteCount: source.count)
            }
        }
        checksum &+= targets[frames % targets.count].withUnsafeBufferPointer(sumPixels)
        frames += 1
        now = monotonicSeconds()
    }
    return CaseResult(name: "memcpy + sum, one process", frames: frames, seconds: now - start, checksum: checksum)
}

func measureRingPolling(_ options: Options, directory: String) throws -> CaseResult {
    let path = directory + "/poll.frames"
    let peer = try Peer(["write", "--path", path, "--slots", String(options.slots), "--width", String(options.width),
                         "--height", String(options.height), "--fill", "sources", "--wait-go"])
    _ = try peer.report(expecting: "ready")
    let reader = try FrameRingReader(path: path)
    peer.go()
    var last: UInt64 = 0
    var frames = 0
    var checksum: UInt64 = 0
    let start = monotonicSeconds()
    var now = start
    while now - start < options.seconds {
        if let (next, sum) = reader.withNext(after: last, { _, pixels in sumPixels(pixels) }) {
            last = next.entry.location.sequence
            checksum &+= sum
            frames += 1
        } else {
            usleep(100)  // nothing new: sleep, as a reader that polls should, rather than spin
        }
        now = monotonicSeconds()
    }
    let done = try peer.finish()
    let counters = reader.counters
    return CaseResult(name: "FrameRing, reader polling", frames: frames, seconds: now - start,
                      skipped: counters.skipped, dropped: counters.dropped,
                      writerRate: Double(done.written ?? 0) / (done.seconds ?? 1), checksum: checksum)
}

func measureRingNotices(_ options: Options, directory: String, copying: Bool) async throws -> CaseResult {
    let path = directory + (copying ? "/copy.frames" : "/notice.frames")
    let events = Endpoint.ipc(directory + "/camera.events")
    let peer = try Peer(["write", "--path", path, "--slots", String(options.slots), "--width", String(options.width),
                         "--height", String(options.height), "--fill", "sources", "--wait-go",
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
    let start = monotonicSeconds()
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
        now = monotonicSeconds()
    }
    let done = try peer.finish()
    subscriber.close()
    return CaseResult(name: copying ? "FrameRing + notice, copying" : "FrameRing + camera.frame notice",
                      frames: frames, seconds: now - start,
                      skipped: reader.counters.skipped, dropped: reader.counters.dropped,
                      writerRate: Double(done.written ?? 0) / (done.seconds ?? 1), checksum: checksum)
}

func measureNNG(_ options: Options, directory: String) throws -> CaseResult {
    func check(_ status: Int32, _ what: String) throws {
        if status != 0 { throw BenchmarkError("\(what): \(String(cString: nng_strerror(status)))") }
    }
    let url = "ipc://" + directory + "/frames.ipc"
    let peer = try Peer(["nng-pub", "--url", url, "--width", String(options.width), "--height", String(options.height),
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
    let expected = options.width * options.height * 2
    let start = monotonicSeconds()
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
        now = monotonicSeconds()
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

func grouped(_ value: Int) -> String {
    let formatter = NumberFormatter()
    formatter.numberStyle = .decimal
    formatter.groupingSeparator = ","
    return formatter.string(from: NSNumber(value: value)) ?? String(value)
}

func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?")
        .split(separator: " ").prefix(3).joined(separator: " ")
}

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : "/tmp"
var template = Array((base + "/aperture-bench-ring-XXXXXX").utf8CString)
guard let created = mkdtemp(&template) else { fail("mkdtemp under \(base): \(String(cString: strerror(errno)))") }
let directory = String(cString: created)
defer { try? FileManager.default.removeItem(atPath: directory) }

let frameBytes = options.width * options.height * 2
print("aperture-bench-ring: frames from a writer process to a reader process, in \(directory)")
print("  \(options.width)x\(options.height) UInt16 frames (\(frameBytes) bytes), \(options.slots) slots, "
      + "\(options.rounds) rounds of \(options.seconds) s per case, \(ProcessInfo.processInfo.activeProcessorCount) cores, "
      + "load average \(loadAverage())")
print("  every frame the reader gets is summed whole (every pixel read once)")
print("")

let sources = sourceFrames(width: options.width, height: options.height)
/// rounds[r][c]: case c of round r.
var rounds: [[CaseResult]] = []
do {
    for _ in 0..<options.rounds {
        var round: [CaseResult] = []
        round.append(timed { measureMemcpy(options, sources: sources) })
        round.append(try timed { try measureRingPolling(options, directory: directory) })
        for copying in [false, true] {
            let before = cpuSeconds()
            var notices = try await measureRingNotices(options, directory: directory, copying: copying)
            notices.cpuSeconds = cpuSeconds() - before
            round.append(notices)
        }
        round.append(try timed { try measureNNG(options, directory: directory) })
        rounds.append(round)
    }
} catch {
    try? FileManager.default.removeItem(atPath: directory)
    fail("\(error)")
}

/// Every round of one case added up: frames over total time, counters summed, the writer's
/// rate averaged; `low` and `high` the slowest and fastest round.
struct Summary {
    var total: CaseResult
    var low: Double
    var high: Double
}

let summaries: [Summary] = rounds[0].indices.map { index in
    let runs = rounds.map { $0[index] }
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
    let rates = runs.map(\.perSecond)
    return Summary(total: total, low: rates.min()!, high: rates.max()!)
}

func pad(_ text: String, _ width: Int, left: Bool = false) -> String {
    let padding = String(repeating: " ", count: max(0, width - text.count))
    return left ? padding + text : text + padding
}

let memcpyRate = summaries[0].total.perSecond
print("  case                             frames  frames/s  (rounds: low-high)    GB/s  vs memcpy  skipped  dropped  writer/s  cpu ms/frame")
print("  -------------------------------  ------  --------  ------------------  ------  ---------  -------  -------  --------  ------------")
for summary in summaries {
    let result = summary.total
    let gigabytes = result.perSecond * Double(frameBytes) / 1e9
    let writer = result.writerRate.map { String(format: "%.1f", $0) } ?? "-"
    let columns = [
        pad(result.name, 31),
        pad(String(result.frames), 6, left: true),
        pad(String(format: "%.1f", result.perSecond), 8, left: true),
        pad(String(format: "%.1f-%.1f", summary.low, summary.high), 18, left: true),
        pad(String(format: "%.2f", gigabytes), 6, left: true),
        pad(String(format: "%.0f%%", result.perSecond / memcpyRate * 100), 9, left: true),
        pad(grouped(result.skipped), 7, left: true),
        pad(grouped(result.dropped), 7, left: true),
        pad(writer, 8, left: true),
        pad(String(format: "%.2f", result.cpuSeconds * 1000 / Double(max(1, result.frames))), 12, left: true),
    ]
    print("  " + columns.joined(separator: "  "))
}
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
      + String(format: " (%.0f%% of memcpy, %.1fx NNG)", goal.perSecond / memcpyRate * 100, goal.perSecond / nngRate))
for index in [1, 3] {
    let other = summaries[index].total
    print("  \(other.name): " + String(format: "%.0f%% of memcpy, %.1fx NNG",
                                         other.perSecond / memcpyRate * 100, other.perSecond / nngRate))
}
let checksums = summaries.map { String($0.total.checksum % 1000) }.joined(separator: " ")
print("  (checksums, so that no sum is optimised away: \(checksums))")
print("load average at the end: \(loadAverage())")
