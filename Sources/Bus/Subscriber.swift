internal import CNNG
import Foundation
import Synchronization

/// One event as received by a ``Subscriber``.
public struct BusEvent: Sendable {
    /// The topic, e.g. `camera.telemetry`.
    public let topic: String
    /// The per-topic sequence number the publisher gave it.
    public let sequence: UInt64
    /// When it was published, in seconds since 1970 (UTC).
    public let time: Double
    /// The JSON envelope after the topic line.
    public let envelope: Data

    /// Decodes the payload (`data`).
    /// - Parameter type: the payload's type.
    /// - Throws: ``BusError`` `bad_request` naming the field that does not fit.
    public func decode<T: Decodable>(_ type: T.Type) throws(BusError) -> T {
        do {
            return try BusJSON.decoder().decode(EventData<T>.self, from: envelope).data
        } catch {
            throw BusError(.badRequest, "event '\(topic)': \(BusJSON.describe(error))")
        }
    }
}

private struct EventData<T: Decodable>: Decodable { var data: T }
private struct EventHeader: Decodable {
    var seq: UInt64
    var time: Double
}

/// The subscribing side of an events socket (NNG sub0), with latest-value semantics.
///
/// The receive buffer is small and keeps the newest messages: a subscriber that reads slowly
/// sees recent events, not a backlog. Every message lost that way (or anywhere upstream) shows
/// in ``dropped``, counted from gaps in each topic's sequence numbers.
public final class Subscriber: Sendable {
    /// The endpoint this subscriber dials.
    public let endpoint: Endpoint
    private let socket: NNGSocket
    private struct Counters {
        var lastSequence: [String: UInt64] = [:]
        var dropped = 0
        var received = 0
        var malformed = 0
    }
    private let counters = Mutex(Counters())
    /// The receives in flight, cancelled by ``close()``: libnng 1.5.2's `nng_close` sometimes
    /// never returns (``NNGSocket/close()``), and then it never ends them either.
    private struct Waiting {
        var closed = false
        var receives: [ObjectIdentifier: AsyncIO] = [:]
    }
    private let waiting = Mutex(Waiting())

    /// Dials `endpoint` in the background and subscribes to the given topic prefixes.
    /// - Parameters:
    ///   - endpoint: the publisher's events socket.
    ///   - topics: topic prefixes (`camera.` for all camera events); `[""]` for everything.
    ///   - bufferSize: how many messages wait at most before the oldest is dropped.
    /// - Throws: ``BusError`` when the socket cannot be opened or the address is invalid.
    public init(dialing endpoint: Endpoint, topics: [String], bufferSize: Int = 4) throws(BusError) {
        self.endpoint = endpoint
        self.socket = try NNGSocket(.subscribe, for: endpoint)
        try socket.setInt(NNG_OPT_RECVBUF, Int32(max(1, min(bufferSize, 8192))))
        _ = nng_socket_set_bool(socket.socket, NNG_OPT_SUB_PREFNEW, true)
        try socket.setSize(NNG_OPT_RECVMAXSZ, 0)
        for topic in topics {
            let status = topic.utf8CString.withUnsafeBufferPointer { buffer in
                aperture_nng_subscribe(socket.socket, buffer.baseAddress, buffer.count - 1)
            }
            try nngCheck(status, "cannot subscribe to '\(topic)' on \(endpoint)")
        }
        try socket.dial(endpoint)
    }

    deinit { socket.close() }

    /// Messages lost before this subscriber read them (gaps in the sequence numbers).
    public var dropped: Int { counters.withLock { $0.dropped } }
    /// Messages received and returned.
    public var received: Int { counters.withLock { $0.received } }

    /// Waits for the next event.
    /// - Parameter timeout: how long to wait, or nil for no limit.
    /// - Returns: the event.
    /// - Throws: ``BusError`` `timeout`, `closed` (after ``close()``) or `cancelled`.
    public func next(timeout: Duration? = nil) async throws(BusError) -> BusEvent {
        let aio = try AsyncIO()
        let key = ObjectIdentifier(aio)
        let open = waiting.withLock { w -> Bool in
            if !w.closed { w.receives[key] = aio }
            return !w.closed
        }
        guard open else { throw BusError(.closed, "subscriber to \(endpoint) was closed") }
        defer { waiting.withLock { _ = $0.receives.removeValue(forKey: key) } }
        let deadline = timeout.map { ContinuousClock.now + $0 }
        while true {
            let wait = deadline.map { milliseconds($0 - ContinuousClock.now) } ?? NNG_DURATION_INFINITE
            let status = await aio.run(timeoutMilliseconds: wait) { handle in
                nng_recv_aio(socket.socket, handle)
                // Closed between the check above and now: close() found nothing to cancel.
                if waiting.withLock({ $0.closed }) { nng_aio_cancel(handle) }
            }
            if status != 0 {
                if waiting.withLock({ $0.closed }) {
                    throw BusError(.closed, "subscriber to \(endpoint) was closed", nngStatus: status)
                }
                switch UInt32(status) {
                case NNG_ETIMEDOUT.rawValue:
                    throw BusError(.timeout, "no event from \(endpoint) within \(timeout ?? .zero)", nngStatus: status)
                case NNG_ECLOSED.rawValue:
                    throw BusError(.closed, "subscriber to \(endpoint) was closed", nngStatus: status)
                case NNG_ECANCELED.rawValue:
                    throw BusError(.cancelled, "waiting for an event from \(endpoint) was cancelled", nngStatus: status)
                default:
                    throw BusError.nng(status, "cannot receive from \(endpoint)")
                }
            }
            let message = takeBody(nng_aio_get_msg(aio.handle))
            if let event = parse(message) { return event }
        }
    }

    /// The events already received, taken without waiting, in order: up to `limit`, fewer
    /// (none) when fewer wait. For a reader that handles events in bursts: one wake-up for a
    /// burst instead of one for each event (``next(timeout:)`` resumes a task per event).
    /// - Parameter limit: the most events returned.
    /// - Returns: the events; empty when none waits or the subscriber is closed.
    public func available(limit: Int) -> [BusEvent] {
        var events: [BusEvent] = []
        guard !waiting.withLock({ $0.closed }) else { return events }
        while events.count < limit {
            var message: OpaquePointer?
            guard nng_recvmsg(socket.socket, &message, Int32(NNG_FLAG_NONBLOCK)) == 0, let message else { break }
            if let event = parse(takeBody(message)) { events.append(event) }
        }
        return events
    }

    /// The events as an asynchronous sequence; it ends when the subscriber is closed.
    public var events: AsyncStream<BusEvent> {
        AsyncStream { [self] in
            try? await self.next()
        }
    }

    /// Closes the socket; a pending ``next(timeout:)`` throws `closed`, also when NNG's close
    /// hangs (its receive is cancelled first). Idempotent.
    public func close() {
        let receives = waiting.withLock { w -> [AsyncIO] in
            w.closed = true
            return Array(w.receives.values)
        }
        for aio in receives { nng_aio_cancel(aio.handle) }
        socket.close()
    }

    private func parse(_ message: Data) -> BusEvent? {
        guard let newline = message.firstIndex(of: 0x0A) else {
            counters.withLock { $0.malformed += 1 }
            return nil
        }
        let topic = String(decoding: message[message.startIndex..<newline], as: UTF8.self)
        let envelope = Data(message[message.index(after: newline)...])
        guard let header = try? BusJSON.decoder().decode(EventHeader.self, from: envelope) else {
            counters.withLock { $0.malformed += 1 }
            return nil
        }
        counters.withLock { c in
            if let last = c.lastSequence[topic], header.seq > last + 1 {
                c.dropped += Int(header.seq - last - 1)
            }
            // A sequence that goes backwards means the publisher restarted: start again.
            c.lastSequence[topic] = header.seq
            c.received += 1
        }
        return BusEvent(topic: topic, sequence: header.seq, time: header.time, envelope: envelope)
    }
}
