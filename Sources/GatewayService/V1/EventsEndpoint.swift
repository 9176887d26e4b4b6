import ApertureConfig
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// `GET /v1/events`: server-sent events from every child.
///
/// Event names are the bus topics (`camera.state`, `camera.progress`, `camera.telemetry`,
/// `camera.frame`, `camera.exposure`, `processor.result`, `child.started`, `child.exited`...);
/// each event's data is the bus envelope `{"seq", "time", "data"}`. `?topics=camera.,child.`
/// keeps only those topic prefixes. A client that reads too slowly loses the oldest queued
/// events and first receives `event: dropped` with how many; a comment line is sent every
/// 15 s of silence so proxies keep the connection and a vanished client is noticed. A client
/// that stops reading altogether (a write waits `gateway.sse_write_timeout`) is disconnected,
/// so that its slot (one of `gateway.sse_clients`) goes to the next client.
enum EventsEndpoint {
    static let heartbeat: Duration = .seconds(15)

    /// The socket send buffer of an event stream. Fixed and small, so that a client that stops
    /// reading is noticed after this much (the kernel would otherwise grow it to megabytes of
    /// stale events) and its bounded queue takes over: the oldest events are dropped, counted.
    static let sendBuffer = 32 * 1024

    static func respond(_ request: Request, channel: any Channel, gateway: Gateway) async throws -> Response {
        let topics = request.uri.queryParameters.get("topics")?
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } ?? []
        for topic in topics where !topic.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "_" }) {
            throw APIError.invalid("topics", "topics: '\(topic)' is not a topic prefix such as camera. or child.")
        }
        try? await channel.setOption(ChannelOptions.socketOption(.so_sndbuf), value: sendBuffer)
        // The slot is counted and taken in one step, while the reply can still be a 503. If the
        // body never runs (the connection died first), the slot is freed when the body goes.
        let slot = EventSlot(hub: gateway.events, client: try gateway.events.connect(topics: topics))
        let writeTimeout = gateway.configuration.gateway.eventWriteTimeout
        let headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "no-store",
            HTTPField.Name("X-Accel-Buffering")!: "no",  // nginx: do not buffer the stream
        ]
        let body = ResponseBody { writer in
            defer { slot.release() }
            // Each write must be taken by the client within gateway.sse_write_timeout: a client
            // that stops reading fills its socket's buffers and the write waits; the watchdog
            // then closes the connection, which ends the write, the stream, and frees the slot.
            let deadline = WriteDeadline()
            let watchdog = Task {
                await deadline.watch(timeout: writeTimeout) {
                    gateway.logger.notice("/v1/events: a client read nothing for \(writeTimeout) (gateway.sse_write_timeout); its stream is closed")
                    channel.close(promise: nil)
                }
            }
            defer { watchdog.cancel() }
            func send(_ text: String) async throws {
                try await deadline.during { try await writer.write(ByteBuffer(string: text)) }
            }
            try await send("retry: 2000\n: connected to aperture-gateway\n\n")
            loop: while true {
                switch await slot.client.next(heartbeat: heartbeat) {
                case .text(let text):
                    try await send(text)
                case .idle:
                    try await send(": keep-alive\n\n")
                case .finished:
                    break loop
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// A `/v1/events` client's slot in the ``EventHub``, freed once: when its stream ends, or when
/// the response body that would have run the stream is dropped unrun.
final class EventSlot: Sendable {
    let hub: EventHub
    let client: EventClient

    init(hub: EventHub, client: EventClient) {
        self.hub = hub
        self.client = client
    }

    func release() { hub.disconnect(client) }

    deinit { release() }
}

/// Notices a write that waits too long: ``during(_:)`` marks the write, ``watch(timeout:onExpiry:)``
/// (one task per stream) looks every quarter of the timeout, so a stuck write is noticed between
/// 1 and 1.25 times the timeout after it began.
final class WriteDeadline: Sendable {
    /// When the pending write began (uptime nanoseconds), 0 when none is pending.
    private let pendingSince = Atomic<UInt64>(0)

    func during(_ write: () async throws -> Void) async throws {
        pendingSince.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
        defer { pendingSince.store(0, ordering: .relaxed) }
        try await write()
    }

    /// Runs until cancelled, or until a write has waited `timeout`; then calls `onExpiry` once.
    func watch(timeout: Duration, onExpiry: () -> Void) async {
        let limit = UInt64(timeout.components.seconds) * 1_000_000_000 + UInt64(timeout.components.attoseconds / 1_000_000_000)
        while !Task.isCancelled {
            do { try await Task.sleep(for: timeout / 4) } catch { return }
            let since = pendingSince.load(ordering: .relaxed)
            if since != 0, DispatchTime.now().uptimeNanoseconds - since >= limit {
                onExpiry()
                return
            }
        }
    }
}
