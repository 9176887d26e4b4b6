internal import CNNG
import Foundation
import Synchronization

/// The protocols the bus uses.
enum SocketProtocol {
    case request, reply, publish, subscribe
}

/// An open NNG socket. Closing is idempotent and safe while operations are pending: they
/// finish with `NNG_ECLOSED`.
final class NNGSocket: Sendable {
    let socket: nng_socket
    let endpointDescription: String
    private let keeper = Mutex<DialKeeper?>(nil)

    init(_ kind: SocketProtocol, for endpoint: Endpoint) throws(BusError) {
        var s = aperture_nng_socket_unset()
        let status: Int32
        switch kind {
        case .request: status = nng_req0_open(&s)
        case .reply: status = nng_rep0_open(&s)
        case .publish: status = nng_pub0_open(&s)
        case .subscribe: status = nng_sub0_open(&s)
        }
        try nngCheck(status, "cannot open a \(kind) socket for \(endpoint)")
        self.socket = s
        self.endpointDescription = endpoint.url
        // Find a restarted peer quickly: retry dialling after 10 ms, backing off to 250 ms.
        _ = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 10)
        _ = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 250)
    }

    /// Listens on `endpoint`; an ipc socket file is created mode 0600.
    func listen(_ endpoint: Endpoint) throws(BusError) {
        var listener = nng_listener()
        try nngCheck(nng_listener_create(&listener, socket, endpoint.url), "cannot listen on \(endpoint)")
        if endpoint.ipcPath != nil {
            try nngCheck(nng_listener_set_int(listener, NNG_OPT_IPC_PERMISSIONS, 0o600),
                         "cannot set permissions 0600 on \(endpoint)")
        }
        try nngCheck(nng_listener_start(listener, 0), "cannot listen on \(endpoint)")
    }

    /// Dials `endpoint` without waiting: NNG connects in the background and reconnects
    /// whenever the peer restarts, so a peer that is not up yet is not an error. A
    /// ``DialKeeper`` replaces the dialer when NNG gives it up.
    func dial(_ endpoint: Endpoint) throws(BusError) {
        let keeper = try DialKeeper.dial(socket, url: endpoint.url, description: "\(endpoint)")
        self.keeper.withLock { $0 = keeper }
    }

    func setInt(_ option: String, _ value: Int32) throws(BusError) {
        try nngCheck(nng_socket_set_int(socket, option, value), "cannot set \(option) on \(endpointDescription)")
    }

    func setSize(_ option: String, _ value: Int) throws(BusError) {
        try nngCheck(nng_socket_set_size(socket, option, value), "cannot set \(option) on \(endpointDescription)")
    }

    func setDuration(_ option: String, _ milliseconds: Int32) throws(BusError) {
        try nngCheck(nng_socket_set_ms(socket, option, milliseconds), "cannot set \(option) on \(endpointDescription)")
    }

    /// How long ``close()`` waits for `nng_close`: 10 s, then 1 s once a close in this process
    /// has not finished (then the library's shutdown is stuck, and waiting longer helps nothing).
    static var closeLimit: Double { closeHung.withLock { $0 } ? 1 : 10 }
    private static let closeHung = Mutex(false)

    /// Closes the socket; pending operations complete with `NNG_ECLOSED`. Idempotent.
    ///
    /// `nng_close` runs on a thread of its own and is waited for ``closeLimit`` seconds at most:
    /// Debian 12's libnng (1.5.2) sometimes never returns from it (a known deadlock in its socket
    /// shutdown, fixed upstream after 1.5.2; seen here with every NNG thread idle). A close that
    /// hangs then holds only that thread, never the caller's (a thread of Swift's cooperative
    /// pool, of which two such waits would stop a whole process on two cores).
    func close() {
        let keeper = keeper.withLock { $0 }
        keeper?.close()
        let socket = socket
        let closed = DispatchSemaphore(value: 0)
        let closer = Thread {
            _ = nng_close(socket)
            // NNG calls the keeper back until the socket is closed: the closing thread holds it
            // until then, however long that takes. A close left to its thread used to let the
            // keeper go with this socket, and NNG's reaper then called into the freed keeper (a
            // test run crashed so, in DialKeeper.pipeChanged on the "nng:reap2" thread).
            withExtendedLifetime(keeper) {}
            closed.signal()
        }
        closer.name = "nng:close"
        closer.start()
        let limit = Self.closeLimit
        if closed.wait(timeout: .now() + limit) == .timedOut {
            Self.closeHung.withLock { $0 = true }
            FileHandle.standardError.write(Data(
                "aperture: closing the NNG socket of \(endpointDescription) did not finish within \(Int(limit)) s (libnng's close deadlock); it is left to its own thread\n".utf8))
        }
    }

    // The dial keeper receives NNG's pipe notifications until the socket is closed.
    deinit { close() }
}

/// Copies bytes into a new NNG message.
func makeMessage(_ bytes: UnsafeRawBufferPointer) throws(BusError) -> OpaquePointer {
    var message: OpaquePointer?
    try nngCheck(nng_msg_alloc(&message, bytes.count), "cannot allocate a message of \(bytes.count) bytes")
    if bytes.count > 0 {
        nng_msg_body(message!).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
    }
    return message!
}

/// Copies a message's body out and frees the message.
func takeBody(_ message: OpaquePointer) -> Data {
    defer { nng_msg_free(message) }
    let length = nng_msg_len(message)
    guard length > 0, let body = nng_msg_body(message) else { return Data() }
    return Data(bytes: body, count: length)
}

/// Converts a duration to NNG milliseconds, at least 1 ms, saturating.
func milliseconds(_ duration: Duration) -> Int32 {
    let ms = duration.seconds * 1000
    if ms <= 1 { return 1 }
    return ms >= Double(Int32.max) ? Int32.max : Int32(ms.rounded(.up))
}
