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
    private struct State {
        var sequences: [String: UInt64] = [:]
        var closed = false

        mutating func next(_ topic: String) -> UInt64 {
            let next = (sequences[topic] ?? 0) + 1
            sequences[topic] = next
            return next
        }
    }
    private let state = Mutex(State())
    /// Where messages are sent from when the publisher sends in the background; nil: the caller's thread.
    private let sender: DispatchQueue?

    /// Listens on `endpoint` (an ipc socket file is created mode 0600).
    /// - Parameters:
    ///   - endpoint: where subscribers dial.
    ///   - sendsInBackground: send each message from a serial queue of the publisher's own, in
    ///     order, instead of the caller's thread: ``publish(_:_:)`` only numbers and encodes
    ///     it. NNG writes to each idle subscriber's socket on the sending thread and wakes its own
    ///     threads; the camera's exposure loop publishes about 7 events a frame and should not
    ///     pay that for every subscriber.
    /// - Throws: ``BusError`` when the socket cannot listen.
    public init(listening endpoint: Endpoint, sendsInBackground: Bool = false) throws(BusError) {
        self.endpoint = endpoint
        self.socket = try NNGSocket(.publish, for: endpoint)
        self.sender = sendsInBackground ? DispatchQueue(label: "publisher \(endpoint)") : nil
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

    deinit {
        sender?.sync {}
        socket.close()
    }

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
        // Numbered, encoded and sent (or queued) under one lock: messages go out in the order of
        // their numbers, also when several threads publish (else a subscriber would count a
        // number that comes late as a restart and the ones after it as lost).
        try state.withLock { state throws(BusError) in
            guard !state.closed else { throw BusError(.closed, "publisher on \(endpoint) was closed") }
            try send(Self.message(topic, sequence: state.next(topic), data))
        }
    }

    /// Publishes a pre-built message as it is (topic, newline, envelope).
    /// - Parameter message: the whole message.
    /// - Throws: ``BusError`` `closed` after ``close()``.
    public func publishRaw(_ message: Data) throws(BusError) {
        try state.withLock { state throws(BusError) in
            guard !state.closed else { throw BusError(.closed, "publisher on \(endpoint) was closed") }
            try send(message)
        }
    }

    /// Hands a message to NNG without waiting, from the caller's thread or the sending queue.
    /// pub0 never applies back-pressure (EAGAIN cannot occur); any other status is fatal.
    private func send(_ message: Data) throws(BusError) {
        guard let sender else {
            try nngCheck(Self.send(message, on: socket), "cannot publish on \(endpoint)")
            return
        }
        sender.async { [socket] in _ = Self.send(message, on: socket) }
    }

    /// Closes the socket, once the messages already published have been handed to NNG. Idempotent.
    public func close() {
        state.withLock { $0.closed = true }
        sender?.sync {}
        socket.close()
    }

    /// The topic, a newline and the envelope.
    private static func message<T: Encodable>(_ topic: String, sequence: UInt64, _ data: T) throws(BusError) -> Data {
        let envelope = EventEnvelope(seq: sequence, time: Date().timeIntervalSince1970, data: data)
        var message = Data(topic.utf8)
        message.append(0x0A)
        do {
            message.append(try BusJSON.encoder().encode(envelope))
        } catch {
            throw BusError(.invalidArgument, "cannot encode event '\(topic)': \(error)")
        }
        return message
    }

    /// `nng_send` without waiting; the status.
    private static func send(_ message: Data, on socket: NNGSocket) -> Int32 {
        message.withUnsafeBytes { bytes in
            nng_send(socket.socket, UnsafeMutableRawPointer(mutating: bytes.baseAddress), bytes.count,
                     Int32(NNG_FLAG_NONBLOCK))
        }
    }
}

/// `{"v":1,"seq":N,"time":T,"data":...}`
struct EventEnvelope<T: Encodable>: Encodable {
    var v = BusProtocol.version
    var seq: UInt64
    var time: Double
    var data: T
}
