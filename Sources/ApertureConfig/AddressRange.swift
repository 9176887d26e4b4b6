import Foundation

/// A network in CIDR notation (`192.168.1.0/24`, `fd00::/8`; a bare address is the one host),
/// as `alpaca.allow_from` lists them.
public struct AddressRange: Sendable, Equatable, CustomStringConvertible {
    /// The network's address bytes: 4 for IPv4, 16 for IPv6.
    public let network: [UInt8]
    /// The prefix length in bits.
    public let prefixLength: Int

    /// Parses `ADDRESS/BITS` or `ADDRESS`.
    /// - Parameter text: the CIDR; nil when it is not one (bad address, prefix out of range).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bytes = Self.bytes(of: String(parts[0])) else { return nil }
        let length: Int
        if parts.count == 2 {
            guard let bits = Int(parts[1]), (0...bytes.count * 8).contains(bits) else { return nil }
            length = bits
        } else {
            length = bytes.count * 8
        }
        network = Self.masked(bytes, length)
        prefixLength = length
    }

    /// Whether an address belongs to the network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`,
    /// what a listener on `::` sees for an IPv4 client) is compared as IPv4.
    /// - Parameter address: 4 or 16 address bytes.
    public func contains(_ address: [UInt8]) -> Bool {
        var address = address
        if address.count == 16, network.count == 4, address[0..<10].allSatisfy({ $0 == 0 }),
           address[10] == 0xFF, address[11] == 0xFF {
            address = Array(address[12...])
        }
        guard address.count == network.count else { return false }
        return Self.masked(address, prefixLength) == network
    }

    /// `ADDRESS/PREFIX`, as written in `alpaca.allow_from`.
    public var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        network.withUnsafeBytes { _ = inet_ntop(network.count == 4 ? AF_INET : AF_INET6, $0.baseAddress, &text, socklen_t(text.count)) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/\(prefixLength)"
    }

    /// The bytes of a numeric IPv4 or IPv6 address (brackets allowed around IPv6), nil for
    /// anything else (a name).
    public static func bytes(of text: String) -> [UInt8]? {
        var text = text
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, length - index * 8))
            return bits == 8 ? byte : byte & ~(0xFF >> UInt8(bits))
        }
    }
}
