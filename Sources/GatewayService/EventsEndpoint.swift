import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /v1/events`: server-sent events from every child.
///
/// Event names are the bus topics (`camera.state`, `camera.progress`, `camera.telemetry`,
/// `camera.frame`, `camera.exposure`, `processor.result`, `child.started`, `child.exited`...);
/// each event's data is the bus envelope `{"seq", "time", "data"}`. `?topics=camera.,child.`
/// keeps only those topic prefixes. A client that reads too slowly loses the oldest queued
/// events and first receives `event: dropped` with how many; a comment line is sent every
/// 15 s of silence so proxies keep the connection and a vanished client is noticed.
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
        // Refused here while the reply can still be a 503; the slot itself is taken inside the
        // body, so a connection that dies before its body runs holds none.
        guard gateway.events.count < EventHub.maximumClients else {
            throw APIError(.serviceUnavailable, "too_many_clients",
                           "\(EventHub.maximumClients) event streams are open; try again later", retryAfter: 5)
        }
        let headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "no-store",
            HTTPField.Name("X-Accel-Buffering")!: "no",  // nginx: do not buffer the stream
        ]
        let body = ResponseBody { writer in
            let client = try gateway.events.connect(topics: topics)
            defer { gateway.events.disconnect(client) }
            try await writer.write(ByteBuffer(string: "retry: 2000\n: connected to aperture-gateway\n\n"))
            loop: while true {
                switch await client.next(heartbeat: heartbeat) {
                case .text(let text):
                    try await writer.write(ByteBuffer(string: text))
                case .idle:
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                case .finished:
                    break loop
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
