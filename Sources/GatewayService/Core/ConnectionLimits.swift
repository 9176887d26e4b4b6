import ApertureConfig
import Hummingbird
import HummingbirdCore
import NIOCore
import NIOHTTPTypes

/// The connection timeouts of both HTTP listeners (the gateway's and Alpaca's), issue 11:
///
/// - `gateway.idle_timeout`: Hummingbird's idle timeout. A connection with no request in
///   progress (after connecting, between keep-alive requests, or stalled while sending a
///   request's head or body) is closed after this long without reading anything. A request
///   whose response is being written (an hour-long evora `/capture`, a `/v1/events` stream) is
///   not idle and is never cut by it.
/// - `gateway.read_timeout`: once a request's head has arrived, its body must have arrived
///   within this long (a body sent a byte at a time cannot hold the connection).
enum ConnectionLimits {
    /// The HTTP/1.1 server of a listener, with both timeouts.
    static func server(_ configuration: ApertureConfiguration) -> HTTPServerBuilder {
        let idle = TimeAmount.nanoseconds(Int64(configuration.gateway.idleTimeout / .nanoseconds(1)))
        let read = TimeAmount.nanoseconds(Int64(configuration.gateway.readTimeout / .nanoseconds(1)))
        return .http1(configuration: .init(additionalChannelHandlers: [RequestReadDeadline(timeout: read)], idleTimeout: idle))
    }
}

/// Closes a connection whose request body has not fully arrived `timeout` after its head.
final class RequestReadDeadline: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            deadline?.cancel()
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: timeout) {
                loopBound.value.close(promise: nil)
            }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }
}
