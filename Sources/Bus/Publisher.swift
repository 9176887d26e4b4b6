internal import CNNG
import Foundation
import Synchronization

/// The publishing side of an events socket (NNG pub0).
///
/// Each message is the topic, a newline, then a JSON envelope
/// `{"v":1,"seq":N,"time":T,"data":{...}}` where `seq` counts per topic from 1, so that a
/// subscriber can count what it missed. Publishing never blocks: a slow subscriber loses the
/// oldest messages, never slows the publisher.
public final class Publisher: Sendable {
    /// The endpoint this publisher listens on.
    public let endpoint: Endpoint
    private let socket: NNGSocket
    private let sequences = Mutex<[String: UInt64]>([:])

    /// Listens on `endpoint` (an ipc socket file is created mode 0600).
    /// - Parameter endpoint: where subscribers dial.
    /// - Throws: ``BusError`` when the socket cannot listen.
    public init(listening endpoint: Endpoint) throws(BusError) {
        self.endpoint = endpoint
        self.socket = try NNGSocket(.publish, for: endpoint)
        // Per-subscriber queue. pub0 writes one message at a time to each subscriber and takes
        // the next when NNG's thread in this process has seen the write finish: a camera saving
        // 500 frames a second sends about 3,500 messages a second, so 16 were lost whenever
        // those threads waited 5 ms for a CPU (seen on 2 busy cores). 1,024 rides out 300 ms;
        // the messages are shared between subscribers, so a stalled one holds 1 MB at most.
        try socket.setInt(NNG_OPT_SENDBUF, Self.queuedPerSubscriber)
        try socket.listen(endpoint)
    }

    /// Messages queued for each subscriber before the oldest is dropped (`NNG_OPT_SENDBUF`).
    public static let queuedPerSubscriber: Int32 = 1024

    deinit { socket.close() }

    /// Publishes one event.
    /// - Parameters:
    ///   - topic: a dotted name such as `camera.telemetry`; must not contain a newline.
    ///   - data: the event's payload, encoded as the envelope's `data`.
    /// - Throws: ``BusError`` `invalid_argument` for a bad topic or unencodable data,
    ///   `closed` after ``close()``.
    public func publish<T: Encodable>(_ topic: String, _ data: T) throws(BusError) {
        guard !topic.isEmpty, !topic.contains("\n") else {
            throw BusError(.invalidArgument, "topic '\(topic)' must be non-empty and contain no newline")
        }
        let sequence = sequences.withLock { table -> UInt64 in
            let next = (table[topic] ?? 0) + 1
            table[topic] = next
            return next
        }
        let envelope = EventEnvelope(seq: sequence, time: Date().timeIntervalSince1970, data: data)
        var message = Data(topic.utf8)
        message.append(0x0A)
        do {
            message.append(try BusJSON.encoder().encode(envelope))
        } catch {
            throw BusError(.invalidArgument, "cannot encode event '\(topic)': \(error)")
        }
        try publishRaw(message)
    }

    /// Publishes a pre-built message as it is (topic, newline, envelope).
    /// - Parameter message: the whole message.
    /// - Throws: ``BusError`` `closed` after ``close()``.
    public func publishRaw(_ message: Data) throws(BusError) {
        let status = message.withUnsafeBytes { bytes in
            nng_send(socket.socket, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count,
                     Int32(NNG_FLAG_NONBLOCK))
        }
        // pub0 never applies back-pressure; EAGAIN cannot occur, anything else is fatal.
        try nngCheck(status, "cannot publish on \(endpoint)")
    }

    /// Closes the socket. Idempotent.
    public func close() { socket.close() }
}

/// `{"v":1,"seq":N,"time":T,"data":...}`
struct EventEnvelope<T: Encodable>: Encodable {
    var v = BusProtocol.version
    var seq: UInt64
    var time: Double
    var data: T
}
