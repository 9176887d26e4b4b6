import ApertureConfig
import Foundation
import Testing

/// The keys of issue 11: connection timeouts, event-stream slots, allowed hosts, and the
/// Alpaca listener's allow-list.
@Suite struct ConnectionSafetyConfigurationTests {
    func load(_ environment: [String: String]) throws(ConfigurationError) -> ApertureConfiguration {
        try ApertureConfiguration.load(path: nil, environment: environment)
    }

    @Test func defaults() throws {
        let configuration = try load([:])
        #expect(configuration.gateway.idleTimeout == .seconds(60))
        #expect(configuration.gateway.readTimeout == .seconds(30))
        #expect(configuration.gateway.eventWriteTimeout == .seconds(30))
        #expect(configuration.gateway.eventClients == 512)
        #expect(configuration.gateway.allowedHosts.isEmpty)
        #expect(configuration.alpaca.allowFrom.isEmpty)
        #expect(configuration.alpaca.allowUnauthenticated == false)
        for key in ["gateway.idle_timeout", "gateway.read_timeout", "gateway.sse_write_timeout", "gateway.sse_clients",
                    "gateway.allowed_hosts", "alpaca.allow_from", "alpaca.allow_unauthenticated"] {
            #expect(ApertureConfiguration.keys.contains { $0.key == key }, "\(key) is not listed")
        }
    }

    @Test(arguments: [
        ("APERTURE_GATEWAY_IDLE_TIMEOUT", "0", "gateway.idle_timeout = '0': must be between 1.0 and 3600.0 seconds"),
        ("APERTURE_GATEWAY_READ_TIMEOUT", "1e9", "gateway.read_timeout = '1e9': must be between 1.0 and 3600.0 seconds"),
        ("APERTURE_GATEWAY_SSE_WRITE_TIMEOUT", "nan", "gateway.sse_write_timeout = 'nan': must be a number of seconds"),
        ("APERTURE_GATEWAY_SSE_CLIENTS", "5000", "gateway.sse_clients = '5000': must be an integer from 1 to 4096"),
        ("APERTURE_GATEWAY_ALLOWED_HOSTS", "camera.example.org:8000",
         "gateway.allowed_hosts = 'camera.example.org:8000': 'camera.example.org:8000' is not a host name"),
        ("APERTURE_ALPACA_ALLOW_FROM", "10.0.0.0/33",
         "alpaca.allow_from = '10.0.0.0/33': '10.0.0.0/33' is not a CIDR"),
        ("APERTURE_ALPACA_ALLOW_UNAUTHENTICATED", "maybe", "alpaca.allow_unauthenticated = 'maybe': must be true or false"),
    ])
    func invalidValuesNameKeyValueAndRange(variable: String, value: String, message: String) {
        #expect {
            _ = try load([variable: value])
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func valuesAreRead() throws {
        let configuration = try load([
            "APERTURE_GATEWAY_IDLE_TIMEOUT": "2.5", "APERTURE_GATEWAY_SSE_CLIENTS": "8",
            "APERTURE_GATEWAY_ALLOWED_HOSTS": "Camera.Example.org, obs.local",
            "APERTURE_ALPACA_ALLOW_FROM": "192.168.1.0/24, fd00::/8, 10.1.2.3",
        ])
        #expect(configuration.gateway.idleTimeout == .seconds(2.5))
        #expect(configuration.gateway.eventClients == 8)
        #expect(configuration.gateway.allowedHosts == ["camera.example.org", "obs.local"])
        #expect(configuration.alpaca.allowFrom.map(\.description) == ["192.168.1.0/24", "fd00::/8", "10.1.2.3/32"])
    }

    @Test func addressRangesMatchIPv4IPv6AndMappedAddresses() throws {
        let lan = try #require(AddressRange("192.168.1.77/24"))
        #expect(lan.description == "192.168.1.0/24")
        #expect(lan.contains(AddressRange.bytes(of: "192.168.1.200")!))
        #expect(!lan.contains(AddressRange.bytes(of: "192.168.2.1")!))
        #expect(lan.contains(AddressRange.bytes(of: "::ffff:192.168.1.5")!))
        #expect(!lan.contains(AddressRange.bytes(of: "fe80::1")!))
        let ula = try #require(AddressRange("fd00::/8"))
        #expect(ula.contains(AddressRange.bytes(of: "fd12:3456::1")!))
        #expect(!ula.contains(AddressRange.bytes(of: "fe80::1")!))
        #expect(!ula.contains(AddressRange.bytes(of: "127.0.0.1")!))
        let odd = try #require(AddressRange("10.0.0.0/13"))
        #expect(odd.contains(AddressRange.bytes(of: "10.7.255.255")!))
        #expect(!odd.contains(AddressRange.bytes(of: "10.8.0.0")!))
        #expect(AddressRange("0.0.0.0/0")?.contains(AddressRange.bytes(of: "203.0.113.9")!) == true)
        for bad in ["", "camera.local", "10.0.0.0/", "10.0.0.0/-1", "::/129", "1.2.3"] {
            #expect(AddressRange(bad) == nil, "\(bad)")
        }
    }

    @Test func anAlpacaListenerBeyondLoopbackNeedsAnExplicitChoice() throws {
        let open = try load(["APERTURE_GATEWAY_LISTEN": "0.0.0.0:8000", "APERTURE_GATEWAY_TOKEN": "sixteen-characters-token"])
        #expect {
            try open.checkAlpacaListener()
        } throws: { error in
            let text = "\(error)"
            return text.contains("0.0.0.0:8000") && text.contains("alpaca.allow_from")
                && text.contains("alpaca.allow_unauthenticated") && text.contains("alpaca.port = -1")
        }
        for choice in [["APERTURE_ALPACA_ALLOW_FROM": "192.168.1.0/24"], ["APERTURE_ALPACA_ALLOW_UNAUTHENTICATED": "true"],
                       ["APERTURE_ALPACA_PORT": "-1"], ["APERTURE_GATEWAY_LISTEN": "127.0.0.1:8000"]] {
            let chosen = try load(["APERTURE_GATEWAY_LISTEN": "0.0.0.0:8000"].merging(choice) { $1 })
            try chosen.checkAlpacaListener()
        }
        #expect(ApertureConfiguration.isLoopback("127.0.0.2") && ApertureConfiguration.isLoopback("::1"))
        #expect(!ApertureConfiguration.isLoopback("127.example.org") && !ApertureConfiguration.isLoopback("0.0.0.0"))
    }
}
