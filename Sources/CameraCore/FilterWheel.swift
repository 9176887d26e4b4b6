import ApertureProtocol
import Bus
import Foundation

/// A filter wheel driver. Like ``CameraDriver``, it is called from one dedicated thread and
/// may block (a move takes seconds).
public protocol FilterWheel: AnyObject {
    /// The current slot (0-based).
    func position() throws(CameraError) -> Int
    /// Moves to a slot and returns once there.
    func move(to slot: Int) throws(CameraError)
    /// Finds the wheel's home (slot 0) and returns once there.
    func home() throws(CameraError)
}

/// A wheel that moves in a fixed time per slot; the default when no wheel is configured.
public final class SimulatedFilterWheel: FilterWheel {
    private let slots: Int
    private let secondsPerSlot: Double
    private var slot = 0

    /// Creates a wheel at slot 0; with the default `secondsPerSlot` of 0 it moves at once.
    ///
    /// - Parameters:
    ///   - slots: how many filters it holds.
    ///   - secondsPerSlot: real seconds a move takes per slot travelled.
    public init(slots: Int, secondsPerSlot: Double = 0) {
        self.slots = max(1, slots)
        self.secondsPerSlot = secondsPerSlot
    }

    /// The slot the wheel is at (0 after creation).
    public func position() throws(CameraError) -> Int { slot }

    /// Moves to `target`, sleeping `secondsPerSlot` for each slot travelled (the wheel turns one way).
    /// - Throws: `invalid_argument` (field `slot`) for a slot the wheel does not have.
    public func move(to target: Int) throws(CameraError) {
        guard (0..<slots).contains(target) else {
            throw CameraError.invalid("slot", "\(target) is not one of 0...\(slots - 1)")
        }
        let distance = (target - slot + slots) % slots
        if secondsPerSlot > 0, distance > 0 {
            Thread.sleep(forTimeInterval: secondsPerSlot * Double(distance))
        }
        slot = target
    }

    /// Moves to slot 0.
    public func home() throws(CameraError) {
        try move(to: 0)
    }
}

/// The evora filter wheel server's TCP line protocol: one connection per command, a line
/// `get`, `move N` or `home`, answered by a line `OK,<reply>` (anything else is an error).
/// `get` answers `OK,<slot>`.
public final class EvoraFilterWheel: FilterWheel {
    private let host: String
    private let port: UInt16
    private let slots: Int
    private let timeout: Double

    /// Creates a client of the evora server at `address` (`filterwheel.address`); nothing is sent yet.
    ///
    /// - Parameters:
    ///   - address: `HOST:PORT` of the server.
    ///   - slots: how many filters the wheel holds.
    ///   - timeout: seconds to wait for a reply (a move can take a while).
    /// - Throws: ``CameraError`` `invalid_argument` for a malformed address.
    public init(address: String, slots: Int, timeout: Double = 60) throws(CameraError) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw CameraError.invalid("filterwheel.address", "'\(address)' is not HOST:PORT")
        }
        self.host = String(address[..<colon])
        self.port = port
        self.slots = slots
        self.timeout = timeout
    }

    /// Asks the server (`get`).
    /// - Throws: `driver_error` when the server cannot be reached or answers something other
    ///   than a slot; `timeout` when no reply comes within `timeout` seconds.
    public func position() throws(CameraError) -> Int {
        let reply = try command("get")
        guard let slot = Int(reply.trimmingCharacters(in: .whitespaces)), (0..<slots).contains(slot) else {
            throw CameraError(.driver, "filter wheel at \(host):\(port) answered 'OK,\(reply)' to 'get'; expected a slot 0...\(slots - 1)")
        }
        return slot
    }

    /// Sends `move N` and returns when the server has answered.
    /// - Throws: `invalid_argument` (field `slot`) for a slot the wheel does not have; the
    ///   server's failures as for ``position()``.
    public func move(to slot: Int) throws(CameraError) {
        guard (0..<slots).contains(slot) else {
            throw CameraError.invalid("slot", "\(slot) is not one of 0...\(slots - 1)")
        }
        _ = try command("move \(slot)")
    }

    /// Sends `home` and returns when the server has answered.
    public func home() throws(CameraError) {
        _ = try command("home")
    }

    /// Sends one command line and returns what follows `OK,` in the reply line.
    private func command(_ line: String) throws(CameraError) -> String {
        let where_ = "filter wheel at \(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw CameraError(.driver, "\(where_): cannot resolve the host")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw CameraError(.driver, "\(where_): cannot create a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - floor(timeout)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw CameraError(.driver, "\(where_): cannot connect: \(String(cString: strerror(errno)))")
        }
        let bytes = Array((line + "\n").utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == bytes.count else {
            throw CameraError(.driver, "\(where_): cannot send '\(line)': \(String(cString: strerror(errno)))")
        }
        var reply: [UInt8] = []
        var byte: UInt8 = 0
        while reply.count < 1024 {
            let count = recv(fd, &byte, 1, 0)
            if count == 1 {
                if byte == 0x0A { break }
                reply.append(byte)
            } else if count == 0 {
                break
            } else if errno != EINTR {
                let reason = errno == EAGAIN || errno == EWOULDBLOCK ? "no reply within \(timeout) s" : String(cString: strerror(errno))
                throw CameraError(.timeout, "\(where_): '\(line)': \(reason)")
            }
        }
        let text = String(decoding: reply, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("OK,") || text == "OK" else {
            throw CameraError(.driver, "\(where_) refused '\(line)': '\(text)'")
        }
        return text == "OK" ? "" : String(text.dropFirst(3))
    }
}
