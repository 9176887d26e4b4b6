internal import CNNG
import Foundation
import Synchronization

/// The requesting side of a control socket (NNG req0), for any number of concurrent callers.
///
/// Every request carries a deadline and fails with ``BusError/Code/timeout`` when no reply
/// arrives in time, whether the peer is gone, never started, or wedged. Requests are never
/// resent: NNG's resend timer is disabled, so a command that starts something (an exposure)
/// reaches the peer at most once. Each call runs on its own NNG context, so calls do not
/// queue behind each other.
public final class RequestClient: Sendable {
    /// The endpoint this client dials.
    public let endpoint: Endpoint
    private let socket: NNGSocket
    private let counter = Atomic<UInt64>(0)
    private let isClosed = Atomic<Bool>(false)
    private let idPrefix: String

    /// Dials `endpoint` in the background; the peer need not be up yet.
    /// - Parameter endpoint: the peer's control socket.
    /// - Throws: ``BusError`` when the socket cannot be opened or the address is invalid.
    public init(dialing endpoint: Endpoint) throws(BusError) {
        self.endpoint = endpoint
        self.socket = try NNGSocket(.request, for: endpoint)
        try socket.setDuration(NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)
        // Replies can be large (a frame's pixels); requests are checked by the server.
        try socket.setSize(NNG_OPT_RECVMAXSZ, 0)
        try socket.dial(endpoint)
        self.idPrefix = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))-"
    }

    deinit { socket.close() }

    /// Sends a command and waits for its result.
    /// - Parameters:
    ///   - command: the command type.
    ///   - arguments: its arguments.
    ///   - timeout: the deadline for the whole exchange.
    /// - Returns: the decoded result.
    /// - Throws: ``BusError``: the peer's error reply with its code, `timeout`, `closed`,
    ///   `cancelled`, or `transport` for a reply that cannot be decoded.
    public func call<C: BusCommand>(
        _ command: C.Type, _ arguments: C.Arguments, timeout: Duration = .seconds(5)
    ) async throws(BusError) -> C.Result {
        let id = idPrefix + String(counter.add(1, ordering: .relaxed).newValue)
        let request: Data
        do {
            request = try BusJSON.encoder().encode(RequestEnvelope(id: id, command: C.name, args: arguments))
        } catch {
            throw BusError(.invalidArgument, "cannot encode arguments of '\(C.name)': \(error)")
        }
        let reply = try await exchange(request, timeout: timeout, command: C.name)
        let header: ReplyHeader
        do {
            header = try BusJSON.decoder().decode(ReplyHeader.self, from: reply)
        } catch {
            throw BusError(.transport, "malformed reply to '\(C.name)' from \(endpoint): \(BusJSON.describe(error))")
        }
        if let error = header.error {
            throw BusError(error.code, error.message, field: error.field)
        }
        guard header.id == id else {
            throw BusError(.transport, "reply to '\(C.name)' from \(endpoint) carries id \(header.id ?? "null"), expected \(id)")
        }
        do {
            return try BusJSON.decoder().decode(ReplyResult<C.Result>.self, from: reply).result
        } catch {
            throw BusError(.transport, "malformed result of '\(C.name)' from \(endpoint): \(BusJSON.describe(error))")
        }
    }

    /// Sends a command without arguments and waits for its result.
    /// - Parameters:
    ///   - command: the command type.
    ///   - timeout: the deadline for the whole exchange.
    /// - Throws: as ``call(_:_:timeout:)``.
    public func call<C: BusCommand>(
        _ command: C.Type, timeout: Duration = .seconds(5)
    ) async throws(BusError) -> C.Result where C.Arguments == NoArguments {
        try await call(command, NoArguments(), timeout: timeout)
    }

    /// Sends raw bytes as one request and returns the raw reply (for tests and tools).
    /// - Parameters:
    ///   - request: the whole message.
    ///   - timeout: the deadline for the whole exchange.
    ///   - command: a name for error messages.
    /// - Throws: ``BusError`` `timeout`, `closed`, `cancelled` or `transport`.
    public func exchange(_ request: Data, timeout: Duration, command: String = "request") async throws(BusError) -> Data {
        let deadline = ContinuousClock.now + timeout
        var context = nng_ctx()
        try nngCheck(nng_ctx_open(&context, socket.socket), "cannot open a context on \(endpoint)")
        let ctx = context
        defer { _ = nng_ctx_close(ctx) }
        _ = nng_ctx_set_ms(ctx, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE)
        let aio = try AsyncIO()

        let message: OpaquePointer
        do {
            message = try request.withUnsafeBytes { bytes in try makeMessage(bytes) }
        } catch {
            throw error as? BusError ?? BusError(.transport, "\(error)")
        }
        let sent = await aio.run(timeoutMilliseconds: milliseconds(timeout)) { handle in
            nng_aio_set_msg(handle, message)
            nng_ctx_send(ctx, handle)
        }
        if sent != 0 {
            nng_msg_free(message)
            throw failure(sent, command: command, timeout: timeout, phase: "no peer took the request")
        }
        let remaining = deadline - ContinuousClock.now
        let received = await aio.run(timeoutMilliseconds: milliseconds(remaining)) { handle in
            nng_ctx_recv(ctx, handle)
        }
        if received != 0 {
            throw failure(received, command: command, timeout: timeout, phase: "no reply")
        }
        return takeBody(nng_aio_get_msg(aio.handle))
    }

    /// Closes the socket; calls in flight fail with `closed`. Idempotent.
    public func close() {
        isClosed.store(true, ordering: .releasing)
        socket.close()
    }

    private func failure(_ status: Int32, command: String, timeout: Duration, phase: String) -> BusError {
        if isClosed.load(ordering: .acquiring) {
            // Closing drops the connection first, so NNG may report a reset rather than ECLOSED.
            return BusError(.closed, "'\(command)' to \(endpoint) ended: the client was closed", nngStatus: status)
        }
        switch UInt32(status) {
        case NNG_ETIMEDOUT.rawValue:
            return BusError(.timeout, "\(phase) to '\(command)' from \(endpoint) within \(timeout)", nngStatus: status)
        case NNG_ECLOSED.rawValue:
            return BusError(.closed, "'\(command)' to \(endpoint) ended: the socket was closed", nngStatus: status)
        case NNG_ECANCELED.rawValue:
            return BusError(.cancelled, "'\(command)' to \(endpoint) was cancelled", nngStatus: status)
        case NNG_ECONNRESET.rawValue, NNG_ECONNSHUT.rawValue:
            return BusError(.transport, "'\(command)' to \(endpoint): the peer went away before replying", nngStatus: status)
        default:
            return BusError.nng(status, "'\(command)' to \(endpoint)")
        }
    }
}
