internal import CNNG
import Foundation
import Logging

/// The replying side of a control socket (NNG rep0): receives requests, answers each through
/// a ``CommandRouter``, several at a time (one NNG context per worker), so a slow command
/// never holds up a `ping`.
public final class ReplyServer: Sendable {
    /// The endpoint this server listens on.
    public let endpoint: Endpoint
    private let socket: NNGSocket
    private let router: CommandRouter
    private let workers: Int
    private let maxRequestBytes: Int
    private let logger: Logger

    /// The transport's own limit: a message beyond it makes NNG drop the connection, so it is
    /// kept far above ``BusProtocol/defaultMaxRequestBytes``, which is answered with an error.
    static let transportLimitBytes = 64 << 20

    /// Listens on `endpoint` (an ipc socket file is created mode 0600).
    /// - Parameters:
    ///   - endpoint: where to listen.
    ///   - router: the commands answered.
    ///   - workers: how many requests are handled at once.
    ///   - maxRequestBytes: larger requests get `bad_request`.
    ///   - logger: where failures are logged.
    /// - Throws: ``BusError`` when the socket cannot listen (address in use, bad path...).
    public init(
        listening endpoint: Endpoint, router: CommandRouter, workers: Int = 8,
        maxRequestBytes: Int = BusProtocol.defaultMaxRequestBytes, logger: Logger
    ) throws(BusError) {
        self.endpoint = endpoint
        self.router = router
        self.workers = max(1, workers)
        self.maxRequestBytes = maxRequestBytes
        self.logger = logger
        self.socket = try NNGSocket(.reply, for: endpoint)
        try socket.setSize(NNG_OPT_RECVMAXSZ, max(Self.transportLimitBytes, maxRequestBytes * 2))
        try socket.listen(endpoint)
    }

    deinit { socket.close() }

    /// Serves requests until the task is cancelled or ``close()`` is called, then closes.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<workers {
                group.addTask { await self.serve() }
            }
        }
        socket.close()
    }

    /// Closes the socket; ``run()`` returns once the workers notice. Idempotent.
    public func close() { socket.close() }

    private func serve() async {
        var context = nng_ctx()
        guard nng_ctx_open(&context, socket.socket) == 0, let aio = try? AsyncIO() else { return }
        let ctx = context
        defer { _ = nng_ctx_close(ctx) }
        while !Task.isCancelled {
            let received = await aio.run(timeoutMilliseconds: NNG_DURATION_INFINITE) { handle in
                nng_ctx_recv(ctx, handle)
            }
            if received == Int32(NNG_ECLOSED.rawValue) || received == Int32(NNG_ECANCELED.rawValue) { return }
            if received != 0 {
                logger.warning("receive failed", metadata: ["bus.endpoint": "\(endpoint)",
                                                            "bus.error": "\(String(cString: nng_strerror(received)))"])
                continue
            }
            let request = takeBody(nng_aio_get_msg(aio.handle))
            let reply = await router.reply(to: request, maxBytes: maxRequestBytes)
            guard let message = try? reply.withUnsafeBytes({ bytes in try makeMessage(bytes) }) else {
                continue
            }
            let sent = await aio.run(timeoutMilliseconds: 5_000) { handle in
                nng_aio_set_msg(handle, message)
                nng_ctx_send(ctx, handle)
            }
            if sent != 0 {
                nng_msg_free(message)
                if sent == Int32(NNG_ECLOSED.rawValue) { return }
            }
        }
    }
}
