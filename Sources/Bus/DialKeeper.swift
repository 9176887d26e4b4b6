internal import CNNG
import Dispatch
import Synchronization

/// Keeps a dialling socket dialling.
///
/// NNG 1.5 (Debian 12's libnng) stops a dialer for good when a connection attempt reaches a peer
/// that is dying: the peer's socket still listens when the dialer connects and is gone when the
/// dialer writes its handshake; the write's `EPIPE` maps to `NNG_ECLOSED`, which the dialer
/// reads as its own closing, so it never redials. After `kill -9` of a child that is the usual
/// case, not a rare one (`RedialTests` meets it within a few dying peers).
///
/// The keeper counts the socket's pipes through NNG's pipe notifications. Whenever the socket
/// has had no pipe for ``patience``, it closes the dialer and dials again: a new dialer connects
/// at once if the peer is up, and retries as NNG's do if it is not. A healthy connection is never
/// touched; a peer that is down costs one new dialer per ``patience``. The supervisor does not
/// rely on it for its children: it opens a new client for each new child process (see
/// `ChildRunner`), after the old process is gone, so its dial never meets a dying peer.
final class DialKeeper: Sendable {
    /// How long the socket may go without a pipe before the dialer is replaced: long enough
    /// that a working dialer has always connected to a peer that is up (NNG retries every
    /// 10 to 250 ms), so that replacements happen only for a dead dialer or a peer that is down.
    static let patience: Duration = .seconds(3)

    private struct State {
        var dialer: nng_dialer?
        var pipes: Set<UInt32> = []
        var emptySince: ContinuousClock.Instant? = .now
        var checkScheduled = false
        var closed = false
    }

    private let socket: nng_socket
    private let url: String
    private let state = Mutex(State())

    /// Dials `url` on `socket` and keeps it dialled until ``close()``.
    /// - Returns: the keeper, whose lifetime must cover the socket's (NNG calls back into it).
    /// - Throws: ``BusError`` when the first dial cannot even be started (a malformed address).
    static func dial(_ socket: nng_socket, url: String, description: String) throws(BusError) -> DialKeeper {
        let keeper = DialKeeper(socket: socket, url: url)
        let argument = Unmanaged.passUnretained(keeper).toOpaque()
        for event in [NNG_PIPE_EV_ADD_PRE, NNG_PIPE_EV_REM_POST] {
            try nngCheck(nng_pipe_notify(socket, event, { pipe, event, argument in
                guard let argument else { return }
                Unmanaged<DialKeeper>.fromOpaque(argument).takeUnretainedValue().pipeChanged(pipe.id, added: event == NNG_PIPE_EV_ADD_PRE)
            }, argument), "cannot watch the connections of \(description)")
        }
        var dialer = nng_dialer()
        let status = nng_dial(socket, url, &dialer, Int32(NNG_FLAG_NONBLOCK))
        guard status == 0 else {
            // The keeper goes away with this error: NNG must not call it any more.
            for event in [NNG_PIPE_EV_ADD_PRE, NNG_PIPE_EV_REM_POST] { _ = nng_pipe_notify(socket, event, nil, nil) }
            throw BusError.nng(status, "cannot dial \(description)")
        }
        keeper.state.withLock { $0.dialer = dialer }
        keeper.scheduleCheck(after: patience)
        return keeper
    }

    private init(socket: nng_socket, url: String) {
        self.socket = socket
        self.url = url
    }

    /// Stops replacing dialers; called before the socket is closed.
    func close() {
        state.withLock { $0.closed = true }
    }

    /// NNG's pipe notification (on an NNG thread; must not call back into the socket).
    private func pipeChanged(_ pipe: UInt32, added: Bool) {
        let schedule = state.withLock { state -> Bool in
            if added {
                state.pipes.insert(pipe)
                state.emptySince = nil
                return false
            }
            state.pipes.remove(pipe)
            guard state.pipes.isEmpty, !state.closed else { return false }
            state.emptySince = .now
            return true
        }
        if schedule { scheduleCheck(after: Self.patience) }
    }

    private func scheduleCheck(after delay: Duration) {
        let start = state.withLock { state -> Bool in
            if state.checkScheduled || state.closed { return false }
            state.checkScheduled = true
            return true
        }
        guard start else { return }
        let microseconds = Int((delay / .microseconds(1)).rounded(.up))
        DispatchQueue.global().asyncAfter(deadline: .now() + .microseconds(microseconds)) { self.check() }
    }

    /// Replaces the dialer if the socket has been without a pipe for ``patience``; otherwise
    /// looks again when that time would be up.
    private func check() {
        enum Next { case nothing, wait(Duration), replace(nng_dialer?) }
        let next = state.withLock { state -> Next in
            state.checkScheduled = false
            guard !state.closed, state.pipes.isEmpty, let since = state.emptySince else { return .nothing }
            let waited = ContinuousClock.now - since
            if waited < Self.patience { return .wait(Self.patience - waited) }
            return .replace(state.dialer)
        }
        switch next {
        case .nothing:
            return
        case .wait(let remaining):
            scheduleCheck(after: remaining)
        case .replace(let old):
            if let old { nng_dialer_close(old) }
            var dialer = nng_dialer()
            let status = nng_dial(socket, url, &dialer, Int32(NNG_FLAG_NONBLOCK))
            let again = state.withLock { state -> Bool in
                state.dialer = status == 0 ? dialer : nil
                if state.pipes.isEmpty { state.emptySince = .now }
                return !state.closed
            }
            if again { scheduleCheck(after: Self.patience) }
        }
    }
}
