// aperture-bench-bus: what the Bus costs over raw NNG, on loopback ipc.
//
//   swift run -c release --scratch-path .build-bench aperture-bench-bus [--iterations N] [--seconds S]
//
// 1. req/rep round trip, 100-byte payload: raw C NNG (a rep0 socket echoing on its own thread
//    with blocking nng_recv/nng_send; a req0 socket on the calling thread) against the Bus
//    (ReplyServer + CommandRouter with an `echo` command; RequestClient.call in a loop).
//    Every round trip is timed on its own; p50, p90, p99, mean in microseconds.
// 2. pub/sub throughput, 100-byte payload: a Bus Publisher publishing as fast as it can for S
//    seconds while a Bus Subscriber (bufferSize 1024) receives in another task; and raw
//    pub0/sub0 with messages of the same size. Published/s, received/s, dropped.
//
// Everything runs in a fresh directory from mkdtemp under /tmp, removed at the end. The
// figures are printed, never checked: the goal (Bus p50 and p99 at most 1.5 x raw) is reported.

import ArgumentParser
import BenchmarkSupport
import Bus
import CNNG
import Foundation
import Logging
import Synchronization

// MARK: - Options

@main
struct BusBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-bus",
        abstract: "What the Bus costs over raw NNG, on loopback ipc (docs/performance.md, \"Bus\").")

    @Option(help: "Timed req/rep round trips per case.")
    var iterations = 20_000
    @Option(help: "Untimed round trips before them.")
    var warmup = 1_000
    @Option(help: "How long each pub/sub case publishes, in seconds.")
    var seconds = 2.0
    @Option(help: "ReplyServer receivers, i.e. NNG contexts waiting for requests (the server's default).")
    var workers = 2
    @Option(name: .customLong("buffer"), help: "Subscriber receive buffer in messages.")
    var subscriberBuffer = 1024

    func validate() throws {
        guard iterations > 0, workers > 0, subscriberBuffer > 0 else {
            throw ValidationError("--iterations, --workers and --buffer must be positive integers")
        }
        guard warmup >= 0 else { throw ValidationError("--warmup must be an integer >= 0") }
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be a positive number") }
    }

    /// Runs on the main actor, where the raw clients block; Bus tasks run on the cooperative pool.
    @MainActor
    func run() async throws {
        try await runBenchmark(self)
    }
}

/// Throws when an NNG call failed, naming the call and NNG's text for the status.
func check(_ status: Int32, _ what: String) throws {
    if status != 0 {
        throw BenchmarkError("\(what): \(String(cString: nng_strerror(status))) (\(status))")
    }
}

let nngClosed = Int32(NNG_ECLOSED.rawValue)

/// What one pub/sub case measured.
struct ThroughputSummary {
    var messageBytes: Int
    var published: Int
    var received: Int
    /// Gaps in the sequence numbers the subscriber saw.
    var dropped: Int
    var publishSeconds: Double
    /// From the start of publishing to the last message received.
    var receiveSeconds: Double

    var publishedPerSecond: Double { Double(published) / publishSeconds }
    var receivedPerSecond: Double { receiveSeconds > 0 ? Double(received) / receiveSeconds : 0 }
    /// Published but never received: gaps plus the tail lost after the last message seen.
    var lost: Int { published - received }
}

/// Round-trip times in microseconds, and what the process used while they were taken.
struct LatencySummary {
    var times: Distribution
    /// CPU time of the whole process per round trip, in microseconds.
    var cpuPerCall: Double
    /// Context switches of the whole process per round trip.
    var switchesPerCall: Double

    /// - Parameters:
    ///   - samples: durations in nanoseconds.
    ///   - usage: what the process used while they were taken.
    init(_ samples: [UInt64], usage: ResourceUsage) {
        times = Distribution(samples.map { Double($0) / 1_000 })
        cpuPerCall = Double(usage.cpuNanoseconds) / Double(samples.count) / 1_000
        switchesPerCall = Double(usage.contextSwitches) / Double(samples.count)
    }
}

// MARK: - Payloads and the echo command

let payloadBytes = 100
/// 100 ASCII bytes, so that JSON carries them unescaped.
let payloadText = String(repeating: "0123456789", count: payloadBytes / 10)

struct EchoPayload: Codable, Sendable, Equatable {
    var payload: String
}

enum EchoCommand: BusCommand {
    static let name = "echo"
    typealias Arguments = EchoPayload
    typealias Result = EchoPayload
}

struct EventPayload: Codable, Sendable {
    var payload: String
}

/// The Bus event wire format (topic, newline, envelope), rebuilt here only to size the raw case.
struct EventEnvelopeMirror: Encodable {
    var v = 1
    var seq: UInt64
    var time: Double
    var data: EventPayload
}

// MARK: - 1. Raw NNG req/rep

/// Echoes every request on a rep0 socket with blocking calls, on its own thread, until closed.
final class RawEchoServer: Sendable {
    let socket: nng_socket
    private let finished = DispatchSemaphore(value: 0)

    init(listening url: String) throws {
        var s = aperture_nng_socket_unset()
        try check(nng_rep0_open(&s), "nng_rep0_open")
        socket = s
        try check(nng_listen(s, url, nil, 0), "nng_listen \(url)")
        let thread = Thread { [socket, finished] in
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 65_536, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                var size = 65_536
                let received = nng_recv(socket, buffer, &size, 0)
                if received == nngClosed { break }
                if received != 0 { continue }
                if nng_send(socket, buffer, size, 0) == nngClosed { break }
            }
            finished.signal()
        }
        thread.name = "raw-rep"
        thread.start()
    }

    /// Closes the socket and waits for the thread to leave.
    func stop() {
        _ = nng_close(socket)
        finished.wait()
    }
}

/// A req0 socket used with blocking nng_send/nng_recv on the calling thread.
final class RawRequestReply {
    private let server: RawEchoServer
    private let socket: nng_socket
    private var payload = Array(payloadText.utf8)
    private var reply = [UInt8](repeating: 0, count: 4_096)

    init(url: String) throws {
        server = try RawEchoServer(listening: url)
        var s = aperture_nng_socket_unset()
        try check(nng_req0_open(&s), "nng_req0_open")
        socket = s
        try check(nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, 5_000), "NNG_OPT_RECVTIMEO")
        try check(nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, 5_000), "NNG_OPT_SENDTIMEO")
        try check(nng_dial(s, url, nil, 0), "nng_dial \(url)")   // blocking: connected on return
    }

    /// Makes `count` round trips, each timed; returns the durations in nanoseconds.
    func measure(_ count: Int) throws -> [UInt64] {
        var samples = [UInt64](repeating: 0, count: count)
        let socket = self.socket
        try payload.withUnsafeMutableBytes { out in
            try reply.withUnsafeMutableBytes { back in
                for index in 0..<count {
                    let start = Timing.nanoseconds()
                    try check(nng_send(socket, out.baseAddress, out.count, 0), "nng_send")
                    var size = back.count
                    try check(nng_recv(socket, back.baseAddress, &size, 0), "nng_recv")
                    samples[index] = Timing.nanoseconds() - start
                    if size != out.count || memcmp(out.baseAddress!, back.baseAddress!, size) != 0 {
                        throw BenchmarkError("raw echo returned different bytes")
                    }
                }
            }
        }
        return samples
    }

    func close() {
        _ = nng_close(socket)
        server.stop()
    }
}

// MARK: - 2. Bus req/rep

/// A ReplyServer answering `echo` and a RequestClient calling it.
final class BusRequestReply: Sendable {
    private let server: ReplyServer
    private let serving: Task<Void, Never>
    private let client: RequestClient

    init(endpoint: Endpoint, workers: Int) async throws {
        var logger = Logger(label: "aperture-bench-bus")
        logger.logLevel = .error
        var router = CommandRouter()
        router.register(EchoCommand.self) { arguments in arguments }
        let server = try ReplyServer(listening: endpoint, router: router, receivers: workers, logger: logger)
        self.server = server
        serving = Task.detached { await server.run() }
        client = try RequestClient(dialing: endpoint)
        // The client dials in the background: the first call may wait for the connection.
        let arguments = EchoPayload(payload: payloadText)
        guard try await client.call(EchoCommand.self, arguments, timeout: .seconds(10)) == arguments else {
            throw BenchmarkError("echo returned a different payload")
        }
    }

    /// Makes `count` calls one after the other in a task on the cooperative pool, each timed;
    /// returns the durations in nanoseconds.
    func measure(_ count: Int) async throws -> [UInt64] {
        let client = self.client
        return try await Task.detached { () async throws -> [UInt64] in
            let arguments = EchoPayload(payload: payloadText)
            var samples = [UInt64](repeating: 0, count: count)
            for index in 0..<count {
                let start = Timing.nanoseconds()
                let result = try await client.call(EchoCommand.self, arguments)
                samples[index] = Timing.nanoseconds() - start
                if result.payload.utf8.count != payloadBytes { throw BenchmarkError("echo returned a different payload") }
            }
            return samples
        }.value
    }

    func close() async {
        client.close()
        server.close()
        await serving.value
    }
}

/// Measures both cases in alternating rounds (raw first in even rounds, Bus first in odd
/// ones), so that a background load that comes and goes weighs on both alike. The raw client
/// blocks the main thread, never a thread of the cooperative pool.
@MainActor
func requestReply(directory: String, options: BusBenchmark, rounds: Int)
    async throws -> (raw: LatencySummary, bus: LatencySummary)
{
    let raw = try RawRequestReply(url: "ipc://\(directory)/raw.ctl")
    defer { raw.close() }
    let bus = try await BusRequestReply(endpoint: .ipc(directory + "/bus.ctl"), workers: options.workers)
    _ = try raw.measure(options.warmup)
    _ = try await bus.measure(options.warmup)
    var rawSamples: [UInt64] = []
    var busSamples: [UInt64] = []
    var rawUsage = ResourceUsage()
    var busUsage = ResourceUsage()
    func measureRaw(_ count: Int) throws {
        let before = ResourceUsage.now()
        rawSamples += try raw.measure(count)
        rawUsage += ResourceUsage.now() - before
    }
    func measureBus(_ count: Int) async throws {
        let before = ResourceUsage.now()
        busSamples += try await bus.measure(count)
        busUsage += ResourceUsage.now() - before
    }
    for round in 0..<rounds {
        let count = options.iterations / rounds + (round < options.iterations % rounds ? 1 : 0)
        if round % 2 == 0 {
            try measureRaw(count)
            try await measureBus(count)
        } else {
            try await measureBus(count)
            try measureRaw(count)
        }
    }
    await bus.close()
    return (LatencySummary(rawSamples, usage: rawUsage), LatencySummary(busSamples, usage: busUsage))
}

// MARK: - 3. Pub/sub throughput

/// Counters a receiving thread or task shares with the publisher.
final class ReceiveCounters: Sendable {
    let received = Atomic<Int>(0)
    let dropped = Atomic<Int>(0)
    let warmups = Atomic<Int>(0)
    let lastNanoseconds = Atomic<UInt64>(0)
}

let eventTopic = "bench.event"
let warmupTopic = "bench.warmx"   // same length as eventTopic
let subscribedPrefix = "bench."

/// The size of one Bus event on the wire, for the raw case to match.
func busEventBytes() throws -> Int {
    let envelope = EventEnvelopeMirror(seq: 1_000_000, time: Date().timeIntervalSince1970,
                                       data: EventPayload(payload: payloadText))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    return eventTopic.utf8.count + 1 + (try encoder.encode(envelope)).count
}

/// Publishes on `topic` every few milliseconds until `arrived()` says one arrived.
func waitForSubscription(timeout: Double, publish: () throws -> Void, arrived: () -> Bool) throws {
    let deadline = Timing.nanoseconds() + UInt64(timeout * 1e9)
    while !arrived() {
        if Timing.nanoseconds() > deadline { throw BenchmarkError("the subscriber did not connect within \(timeout) s") }
        try publish()
        usleep(5_000)
    }
}

/// Runs `publish` in a tight loop for `seconds`; returns how many it sent and how long it took.
func publishFlat(seconds: Double, _ publish: () throws -> Void) rethrows -> (count: Int, seconds: Double) {
    let start = Timing.nanoseconds()
    let end = start + UInt64(seconds * 1e9)
    var count = 0
    var now = start
    while now < end {
        for _ in 0..<64 { try publish() }
        count += 64
        now = Timing.nanoseconds()
    }
    return (count, Double(now - start) / 1e9)
}

/// The publisher publishes from the main thread; the subscriber receives in a task on the
/// cooperative pool.
@MainActor
func busPublishSubscribe(endpoint: Endpoint, options: BusBenchmark) async throws -> ThroughputSummary {
    let publisher = try Publisher(listening: endpoint)
    defer { publisher.close() }
    let subscriber = try Subscriber(dialing: endpoint, topics: [subscribedPrefix], bufferSize: options.subscriberBuffer)
    let counters = ReceiveCounters()
    let receiving = Task.detached {
        while true {
            let event: BusEvent
            do { event = try await subscriber.next() } catch { return }
            if event.topic == eventTopic {
                counters.received.add(1, ordering: .relaxed)
                counters.lastNanoseconds.store(Timing.nanoseconds(), ordering: .relaxed)
            } else {
                counters.warmups.add(1, ordering: .relaxed)
            }
        }
    }
    let payload = EventPayload(payload: payloadText)
    try waitForSubscription(timeout: 10, publish: { try publisher.publish(warmupTopic, payload) },
                            arrived: { counters.warmups.load(ordering: .relaxed) > 0 })
    try await Task.sleep(for: .milliseconds(50))
    let droppedBefore = subscriber.dropped

    let publishStart = Timing.nanoseconds()
    let (published, seconds) = try publishFlat(seconds: options.seconds) {
        try publisher.publish(eventTopic, payload)
    }
    // Let the subscriber drain what is queued, then stop it.
    try await Task.sleep(for: .milliseconds(500))
    subscriber.close()
    await receiving.value

    let last = counters.lastNanoseconds.load(ordering: .relaxed)
    return ThroughputSummary(
        messageBytes: try busEventBytes(),
        published: published,
        received: counters.received.load(ordering: .relaxed),
        dropped: subscriber.dropped - droppedBefore,
        publishSeconds: seconds,
        receiveSeconds: last > publishStart ? Double(last - publishStart) / 1e9 : 0)
}

/// Raw pub0/sub0 with the Bus's settings (publisher send buffer `Publisher.queuedPerSubscriber`;
/// subscriber receive buffer as given, preferring new messages). Each message is the topic, a newline, an 8-byte
/// sequence number, then filler up to `messageBytes`; the receiver counts sequence gaps.
func rawPublishSubscribe(url: String, messageBytes: Int, options: BusBenchmark) throws -> ThroughputSummary {
    var publisher = aperture_nng_socket_unset()
    try check(nng_pub0_open(&publisher), "nng_pub0_open")
    defer { _ = nng_close(publisher) }
    try check(nng_socket_set_int(publisher, NNG_OPT_SENDBUF, Publisher.queuedPerSubscriber), "NNG_OPT_SENDBUF")
    try check(nng_listen(publisher, url, nil, 0), "nng_listen \(url)")

    var subscriber = aperture_nng_socket_unset()
    try check(nng_sub0_open(&subscriber), "nng_sub0_open")
    var subscriberClosed = false
    defer { if !subscriberClosed { _ = nng_close(subscriber) } }
    try check(nng_socket_set_int(subscriber, NNG_OPT_RECVBUF, Int32(min(options.subscriberBuffer, 8192))), "NNG_OPT_RECVBUF")
    try check(nng_socket_set_bool(subscriber, NNG_OPT_SUB_PREFNEW, true), "NNG_OPT_SUB_PREFNEW")
    try check(subscribedPrefix.utf8CString.withUnsafeBufferPointer { prefix in
        aperture_nng_subscribe(subscriber, prefix.baseAddress, prefix.count - 1)
    }, "subscribe")
    try check(nng_dial(subscriber, url, nil, 0), "nng_dial \(url)")

    let counters = ReceiveCounters()
    let finished = DispatchSemaphore(value: 0)
    let topicLength = eventTopic.utf8.count + 1
    let eventPrefix = Array((eventTopic + "\n").utf8)
    let receiveSocket = subscriber
    let thread = Thread {
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { buffer.deallocate() }
        var lastSequence: UInt64 = 0
        while true {
            var size = 65_536
            let status = nng_recv(receiveSocket, buffer, &size, 0)
            if status == nngClosed { break }
            if status != 0 || size < topicLength + 8 { continue }
            let isEvent = eventPrefix.withUnsafeBytes { memcmp(buffer, $0.baseAddress!, topicLength) == 0 }
            guard isEvent else {
                counters.warmups.add(1, ordering: .relaxed)
                continue
            }
            let sequence = buffer.loadUnaligned(fromByteOffset: topicLength, as: UInt64.self)
            if lastSequence != 0, sequence > lastSequence + 1 {
                counters.dropped.add(Int(sequence - lastSequence - 1), ordering: .relaxed)
            }
            lastSequence = sequence
            counters.received.add(1, ordering: .relaxed)
            counters.lastNanoseconds.store(Timing.nanoseconds(), ordering: .relaxed)
        }
        finished.signal()
    }
    thread.name = "raw-sub"
    thread.start()

    var message = [UInt8](repeating: UInt8(ascii: "x"), count: max(messageBytes, topicLength + 8))
    func send(topic: String, sequence: UInt64) throws {
        try message.withUnsafeMutableBytes { bytes in
            var offset = 0
            for byte in topic.utf8 { bytes[offset] = byte; offset += 1 }
            bytes[offset] = 0x0A
            bytes.storeBytes(of: sequence, toByteOffset: offset + 1, as: UInt64.self)
            try check(nng_send(publisher, bytes.baseAddress, bytes.count, Int32(NNG_FLAG_NONBLOCK)), "nng_send")
        }
    }
    try waitForSubscription(timeout: 10, publish: { try send(topic: warmupTopic, sequence: 0) },
                            arrived: { counters.warmups.load(ordering: .relaxed) > 0 })
    usleep(50_000)

    var sequence: UInt64 = 0
    let publishStart = Timing.nanoseconds()
    let (published, seconds) = try publishFlat(seconds: options.seconds) {
        sequence += 1
        try send(topic: eventTopic, sequence: sequence)
    }
    usleep(500_000)
    _ = nng_close(subscriber)
    subscriberClosed = true
    finished.wait()

    let last = counters.lastNanoseconds.load(ordering: .relaxed)
    return ThroughputSummary(
        messageBytes: message.count,
        published: published,
        received: counters.received.load(ordering: .relaxed),
        dropped: counters.dropped.load(ordering: .relaxed),
        publishSeconds: seconds,
        receiveSeconds: last > publishStart ? Double(last - publishStart) / 1e9 : 0)
}

// MARK: - Main

func nngVersion() -> String { String(cString: nng_version()) }

@MainActor
func runBenchmark(_ options: BusBenchmark) async throws {
    let scratch = try ScratchDirectory(in: "/tmp", prefix: "aperture-bench")
    defer { scratch.remove() }
    let directory = scratch.path

    print("aperture-bench-bus: Bus over NNG vs raw NNG, loopback ipc in \(directory)")
    print("  libnng \(nngVersion()), \(cores) cores, Linux \(kernelRelease()), load average \(loadAverage())")
    print("  req/rep: \(grouped(options.iterations)) round trips per case after \(grouped(options.warmup)) warm-up,")
    print("           in \(min(10, options.iterations)) alternating rounds; payload \(payloadBytes) bytes; ReplyServer receivers \(options.workers)")
    print("  pub/sub: \(fixed(options.seconds, 1)) s of publishing per case; payload \(payloadBytes) bytes; subscriber buffer \(options.subscriberBuffer)")
    print("")

    let rounds = min(10, options.iterations)
    let (raw, bus) = try await requestReply(directory: directory, options: options, rounds: rounds)

    print("Request/reply round trip (microseconds)")
    func latencyRow(_ name: String, _ s: LatencySummary) -> [String] {
        let t = s.times
        return [name, fixed(t.p50), fixed(t.p90), fixed(t.p99), fixed(t.mean), fixed(t.max), grouped(Int(1e6 / t.mean)),
                fixed(s.cpuPerCall), fixed(s.switchesPerCall)]
    }
    func ratio(_ bus: Double, _ raw: Double) -> String { fixed(bus / raw, 2) + "x" }
    let ratioP50 = bus.times.p50 / raw.times.p50
    let ratioP99 = bus.times.p99 / raw.times.p99
    var latency = Table(names: "case", figures: ["p50", "p90", "p99", "mean", "max", "calls/s", "cpu/call", "cs/call"])
    latency.append(latencyRow("raw NNG req0/rep0 (blocking)", raw))
    latency.append(latencyRow("Bus RequestClient/ReplyServer", bus))
    latency.append(["Bus / raw", ratio(bus.times.p50, raw.times.p50), ratio(bus.times.p90, raw.times.p90),
                    ratio(bus.times.p99, raw.times.p99), ratio(bus.times.mean, raw.times.mean), "", "",
                    ratio(bus.cpuPerCall, raw.cpuPerCall), ratio(bus.switchesPerCall, raw.switchesPerCall)])
    latency.print()
    print("  cpu/call: CPU time (user + system, every thread of the process) per round trip, in microseconds;")
    print("  cs/call: context switches per round trip (getrusage). Both sides run in this one process.")
    let met = ratioP50 <= 1.5 && ratioP99 <= 1.5
    print("  goal (issue 2): Bus adds at most 50% over raw NNG, p50 and p99 ratio <= 1.50: "
          + (met ? "MET" : "NOT MET")
          + " (p50 \(fixed(ratioP50, 2))x, p99 \(fixed(ratioP99, 2))x)")
    print("")

    let busPubSub = try await busPublishSubscribe(endpoint: .ipc(directory + "/bus.events"), options: options)
    let rawPubSub = try rawPublishSubscribe(url: "ipc://\(directory)/raw.events",
                                            messageBytes: busPubSub.messageBytes, options: options)

    print("Publish/subscribe throughput (one publisher, one subscriber)")
    func throughputRow(_ name: String, _ s: ThroughputSummary) -> [String] {
        [name, "\(s.messageBytes)", grouped(s.published), grouped(Int(s.publishedPerSecond)),
         grouped(s.received), grouped(Int(s.receivedPerSecond)), grouped(s.dropped), grouped(s.lost)]
    }
    var throughput = Table(names: "case", figures: ["bytes", "published", "published/s", "received", "received/s",
                                                     "dropped", "lost"])
    throughput.append(throughputRow("raw NNG pub0/sub0", rawPubSub))
    throughput.append(throughputRow("Bus Publisher/Subscriber", busPubSub))
    throughput.print()
    print("  bytes: message on the wire (topic, newline, envelope); dropped: gaps in sequence numbers")
    print("  seen by the subscriber (Subscriber.dropped for the Bus); lost: published - received.")
    print("  received/s: received / time from the first publish to the last message received.")
    print("")
    print("load average at the end: \(loadAverage())")
}
