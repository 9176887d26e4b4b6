internal import CNNG
import Foundation
import Logging
import Synchronization

/// The replying side of a control socket (NNG rep0): receives requests and answers each
/// through a ``CommandRouter`` in a task of its own, so that a slow command (a shutdown that
/// warms the sensor, a filter-wheel homing, a child restart) never holds up the next request.
///
/// Receiving never waits for work: each request gets its own NNG context, handed to its task,
/// and a fresh context receives the next one. At most `maxInFlight` commands run at once;
/// beyond that a request is answered at once with `busy`, except `ping`, which is always
/// answered (it is cheap, and a missed ping makes the supervisor kill a healthy child).
public final class ReplyServer: Sendable {
    /// The endpoint this server listens on.
    public let endpoint: Endpoint
    private let socket: NNGSocket
    private let router: CommandRouter
    private let receivers: Int
    private let maxInFlight: Int
    private let inFlight = Atomic<Int>(0)
    /// NNG aios kept for sending replies, so that a reply allocates none.
    private let spareIOs = Mutex<[AsyncIO]>([])
    private let maxRequestBytes: Int
    private let logger: Logger

    /// The transport's own limit: a message beyond it makes NNG drop the connection, so it is
    /// kept far above ``BusProtocol/defaultMaxRequestBytes``, which is answered with an error.
    static let transportLimitBytes = 64 << 20

    /// The most commands that run at once by default.
    public static let defaultMaxInFlight = 64

    /// Listens on `endpoint` (an ipc socket file is created mode 0600).
    /// - Parameters:
    ///   - endpoint: where to listen.
    ///   - router: the commands answered.
    ///   - receivers: how many contexts wait for requests at once (receiving is quick; the
    ///     commands themselves run in tasks of their own).
    ///   - maxInFlight: the most commands running at once; more get `busy` (`ping` never does).
    ///   - maxRequestBytes: larger requests get `bad_request`.
    ///   - logger: where failures are logged.
    /// - Throws: ``BusError`` when the socket cannot listen (address in use, bad path...).
    public init(
        listening endpoint: Endpoint, router: CommandRouter, receivers: Int = 2,
        maxInFlight: Int = ReplyServer.defaultMaxInFlight,
        maxRequestBytes: Int = BusProtocol.defaultMaxRequestBytes, logger: Logger
    ) throws(BusError) {
        self.endpoint = endpoint
        self.router = router
        self.receivers = max(1, receivers)
        self.maxInFlight = max(1, maxInFlight)
        self.maxRequestBytes = maxRequestBytes
        self.logger = logger
        self.socket = try NNGSocket(.reply, for: endpoint)
        try socket.setSize(NNG_OPT_RECVMAXSZ, max(Self.transportLimitBytes, maxRequestBytes * 2))
        try socket.listen(endpoint)
    }

    deinit { socket.close() }

    /// Serves requests until the task is cancelled or ``close()`` is called, then closes.
    /// Commands still running then are cancelled; their replies could not be sent.
    public func run() async {
        await withDiscardingTaskGroup { group in
            for _ in 0..<receivers {
                group.addTask { await self.receive() }
            }
        }
        socket.close()
    }

    /// Closes the socket; ``run()`` returns once the receivers notice. Idempotent.
    public func close() { socket.close() }

    /// Receives requests on fresh contexts, one after another, and starts a task for each.
    private func receive() async {
        guard let aio = try? AsyncIO() else { return }
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                var context = nng_ctx()
                guard nng_ctx_open(&context, socket.socket) == 0 else { return }
                let ctx = context
                let received = await aio.run(timeoutMilliseconds: NNG_DURATION_INFINITE) { handle in
                    nng_ctx_recv(ctx, handle)
                }
                if received == Int32(NNG_ECLOSED.rawValue) || received == Int32(NNG_ECANCELED.rawValue) {
                    _ = nng_ctx_close(ctx)
                    // Closed: the replies could not be sent anyway; stop the commands still running.
                    group.cancelAll()
                    return
                }
                if received != 0 {
                    _ = nng_ctx_close(ctx)
                    logger.warning("receive failed", metadata: ["bus.endpoint": "\(endpoint)",
                                                                "bus.error": "\(String(cString: nng_strerror(received)))"])
                    continue
                }
                let request = takeBody(nng_aio_get_msg(aio.handle))
                let handed = UnsafeContext(ctx)
                if inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue <= maxInFlight {
                    group.addTask {
                        defer { self.inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
                        let reply = await self.router.reply(to: request, maxBytes: self.maxRequestBytes)
                        await self.send(reply, on: handed.context)
                    }
                } else {
                    inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
                    let reply = await router.reply(to: request, maxBytes: maxRequestBytes, onlyImmediate: BusError(.busy,
                        "\(maxInFlight) commands are running on \(endpoint); try again when one has finished"))
                    await send(reply, on: ctx)
                }
            }
        }
    }

    /// Sends one reply on its request's context, then closes the context.
    private func send(_ reply: Data, on ctx: nng_ctx) async {
        defer { _ = nng_ctx_close(ctx) }
        guard let message = try? reply.withUnsafeBytes({ bytes in try makeMessage(bytes) }) else { return }
        guard let aio = spareIOs.withLock({ $0.popLast() }) ?? (try? AsyncIO()) else {
            nng_msg_free(message)
            return
        }
        let sent = await aio.run(timeoutMilliseconds: 5_000) { handle in
            nng_aio_set_msg(handle, message)
            nng_ctx_send(ctx, handle)
        }
        if sent != 0 { nng_msg_free(message) }
        spareIOs.withLock { if $0.count < maxInFlight { $0.append(aio) } }
    }
}

/// An NNG context handed from the receiving task to the task that answers on it (a plain
/// id; NNG's context calls are thread-safe).
private struct UnsafeContext: @unchecked Sendable {
    let context: nng_ctx
    init(_ context: nng_ctx) { self.context = context }
}
