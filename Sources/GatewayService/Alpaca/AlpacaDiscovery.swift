import ApertureConfig
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The Alpaca port, once the listener bound it.
final class AlpacaBoundPort: Sendable {
    private let storage = Atomic<Int>(0)
    var value: Int? { let port = storage.load(ordering: .acquiring); return port > 0 ? port : nil }
    func set(_ port: Int) { storage.store(port, ordering: .releasing) }
}

/// ASCOM Alpaca UDP discovery: answers a datagram containing `alpacadiscovery1` with the
/// unicast reply `{"AlpacaPort": N}`.
///
/// Listens on IPv4 (broadcasts to the port) and IPv6 (the multicast group `ff12::a1:9aca`
/// joined on every interface). When the gateway listens on loopback only, it listens on
/// loopback only too: `127.0.0.1`, the loopback broadcast `127.255.255.255` (where clients
/// such as alpyca send their query on `lo`), and `::1`.
///
/// Blocking sockets on a dedicated thread (poll on the sockets and a wake-up pipe), never on
/// Swift's cooperative pool.
final class AlpacaDiscovery: Service, Sendable {
    static let query = Array("alpacadiscovery1".utf8)
    static let multicastGroup = "ff12::a1:9aca"

    let port: Int
    let loopbackOnly: Bool
    let alpacaPort: AlpacaBoundPort
    /// `alpaca.allow_from`: when not empty, queries from other addresses get no reply.
    let allowFrom: [AddressRange]
    let logger: Logger

    init(port: Int, loopbackOnly: Bool, alpacaPort: AlpacaBoundPort, allowFrom: [AddressRange] = [], logger: Logger) {
        self.port = port
        self.loopbackOnly = loopbackOnly
        self.alpacaPort = alpacaPort
        self.allowFrom = allowFrom
        self.logger = logger
    }

    /// One socket: its descriptor, and the descriptor replies go out through.
    struct Endpoint: Sendable {
        var fd: Int32
        var replyFD: Int32
        var name: String
    }

    func run() async throws {
        let endpoints = openEndpoints()
        if endpoints.isEmpty {
            logger.error("alpaca discovery: no UDP socket could be bound on port \(port); discovery is off")
            try? await gracefulShutdown()
            return
        }
        logger.info("alpaca discovery on UDP port \(port): \(endpoints.map(\.name).joined(separator: ", "))")
        var wake: [Int32] = [-1, -1]
        guard pipe(&wake) == 0 else {
            logger.error("alpaca discovery: pipe: \(String(cString: strerror(errno)))")
            endpoints.forEach { close($0.fd) }
            return
        }
        let wakeRead = wake[0], wakeWrite = wake[1]
        let alpacaPort = self.alpacaPort
        let allowFrom = self.allowFrom
        let logger = self.logger
        let (finished, finish) = AsyncStream<Void>.makeStream()
        let thread = Thread {
            Self.serve(endpoints, wake: wakeRead, alpacaPort: alpacaPort, allowFrom: allowFrom, logger: logger)
            finish.finish()
        }
        thread.name = "alpaca-discovery"
        thread.start()
        // Returns at a graceful shutdown, throws when the service is cancelled: stop either way.
        try? await gracefulShutdown()
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
        for await _ in finished {}
        endpoints.forEach { close($0.fd) }
        close(wakeRead)
        close(wakeWrite)
    }

    private static func serve(_ endpoints: [Endpoint], wake: Int32, alpacaPort: AlpacaBoundPort, allowFrom: [AddressRange],
                              logger: Logger) {
        var fds = endpoints.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
        fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0))
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let ready = poll(&fds, nfds_t(fds.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error("alpaca discovery: poll: \(String(cString: strerror(errno)))")
                return
            }
            if fds[fds.count - 1].revents != 0 { return }
            for index in endpoints.indices where fds[index].revents & Int16(POLLIN) != 0 {
                var address = sockaddr_storage()
                var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
                let received = buffer.withUnsafeMutableBytes { bytes in
                    withUnsafeMutablePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            recvfrom(endpoints[index].fd, bytes.baseAddress, bytes.count, 0, $0, &length)
                        }
                    }
                }
                guard received > 0, contains(buffer[0..<received], query), let port = alpacaPort.value else { continue }
                if !allowFrom.isEmpty {
                    guard let sender = addressBytes(address), allowFrom.contains(where: { $0.contains(sender) }) else { continue }
                }
                let reply = Array("{\"AlpacaPort\":\(port)}".utf8)
                let sent = reply.withUnsafeBytes { bytes in
                    withUnsafePointer(to: &address) {
                        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                            sendto(endpoints[index].replyFD, bytes.baseAddress, bytes.count, 0, $0, length)
                        }
                    }
                }
                if sent < 0 {
                    logger.debug("alpaca discovery: reply failed: \(String(cString: strerror(errno)))")
                }
            }
        }
    }

    /// The 4 or 16 address bytes of a sender.
    private static func addressBytes(_ address: sockaddr_storage) -> [UInt8]? {
        let family = Int32(address.ss_family)
        var address = address
        return withUnsafeBytes(of: &address) { raw -> [UInt8]? in
            switch family {
            case AF_INET:
                let offset = MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!
                return Array(raw[offset..<offset + 4])
            case AF_INET6:
                let offset = MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!
                return Array(raw[offset..<offset + 16])
            default:
                return nil
            }
        }
    }

    private static func contains(_ data: ArraySlice<UInt8>, _ needle: [UInt8]) -> Bool {
        guard data.count >= needle.count else { return false }
        var start = data.startIndex
        while start + needle.count <= data.endIndex {
            if data[start..<start + needle.count].elementsEqual(needle) { return true }
            start += 1
        }
        return false
    }

    // MARK: Sockets

    private func openEndpoints() -> [Endpoint] {
        var endpoints: [Endpoint] = []
        if loopbackOnly {
            if let unicast = bind4("127.0.0.1") {
                endpoints.append(Endpoint(fd: unicast, replyFD: unicast, name: "127.0.0.1"))
                if let broadcast = bind4("127.255.255.255") {
                    endpoints.append(Endpoint(fd: broadcast, replyFD: unicast, name: "127.255.255.255 (loopback broadcast)"))
                }
            }
            if let six = bind6("::1", joinGroup: false) {
                endpoints.append(Endpoint(fd: six, replyFD: six, name: "[::1]"))
            }
        } else {
            if let any = bind4("0.0.0.0") {
                endpoints.append(Endpoint(fd: any, replyFD: any, name: "0.0.0.0 (broadcast)"))
            }
            if let six = bind6("::", joinGroup: true) {
                endpoints.append(Endpoint(fd: six, replyFD: six, name: "[::] (multicast \(Self.multicastGroup))"))
            }
        }
        return endpoints
    }

    private func socketError(_ what: String, _ fd: Int32) -> Int32? {
        logger.warning("alpaca discovery: \(what): \(String(cString: strerror(errno)))")
        if fd >= 0 { close(fd) }
        return nil
    }

    private func bind4(_ host: String) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return socketError("socket", fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return socketError("address \(host)", fd) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { return socketError("bind \(host):\(port)", fd) }
        return fd
    }

    private func bind6(_ host: String, joinGroup: Bool) -> Int32? {
        let fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return socketError("IPv6 socket", fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { return socketError("address \(host)", fd) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        }
        guard bound == 0 else { return socketError("bind [\(host)]:\(port)", fd) }
        if joinGroup {
            var group = in6_addr()
            _ = inet_pton(AF_INET6, Self.multicastGroup, &group)
            var joined = 0
            if let interfaces = if_nameindex() {
                var cursor = interfaces
                while cursor.pointee.if_index != 0 {
                    var request = ipv6_mreq(ipv6mr_multiaddr: group, ipv6mr_interface: cursor.pointee.if_index)
                    if setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_ADD_MEMBERSHIP, &request,
                                  socklen_t(MemoryLayout<ipv6_mreq>.size)) == 0 {
                        joined += 1
                    }
                    cursor += 1
                }
                if_freenameindex(interfaces)
            }
            if joined == 0 {
                logger.warning("alpaca discovery: could not join \(Self.multicastGroup) on any interface; IPv6 discovery will not hear multicast queries")
            }
        }
        return fd
    }
}
