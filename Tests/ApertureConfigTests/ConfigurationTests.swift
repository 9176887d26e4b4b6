import ApertureConfig
import Foundation
import Testing

@Suite struct ConfigurationTests {
    func writeFile(_ text: String) throws -> String {
        let path = "/tmp/aperture-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).conf"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsRunEverythingLocallyWithTheSimulator() throws {
        let configuration = try ApertureConfiguration.load(path: nil, environment: [:])
        #expect(configuration.storage.runtimeDirectory == "./run")
        #expect(configuration.storage.dataRoot == "./data")
        #expect(configuration.camera.driver == .simulator)
        #expect(configuration.gateway.host == "127.0.0.1")
        #expect(configuration.gateway.port == 8000)
    }

    @Test func fileValuesThenEnvironmentOverrides() throws {
        let path = try writeFile("""
            # a comment
            gateway.listen = 0.0.0.0:9000   # trailing comment
            data.root = "/srv/aperture data"
            supervisor.stop_grace = 2.5
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try ApertureConfiguration.load(
            path: path, environment: ["APERTURE_GATEWAY_LISTEN": "[::1]:8100", "RUNTIME_DIRECTORY": "/run/aperture"])
        #expect(configuration.gateway.host == "::1")
        #expect(configuration.gateway.port == 8100)
        #expect(configuration.storage.dataRoot == "/srv/aperture data")
        #expect(configuration.supervisor.stopGrace == .seconds(2.5))
        #expect(configuration.storage.runtimeDirectory == "/run/aperture")
    }

    @Test func unknownKeyNamesFileLineAndKey() throws {
        let path = try writeFile("log.level = info\ngateway.lisen = 1.2.3.4:5\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let error = #expect(throws: ConfigurationError.self) { try ApertureConfiguration.load(path: path, environment: [:]) }
        #expect(error?.message.contains("\(path):2") == true)
        #expect(error?.message.contains("'gateway.lisen'") == true)
    }

    @Test func invalidValuesNameTheKeyAndTheRule() throws {
        let cases: [(String, String)] = [
            ("gateway.listen = localhost", "HOST:PORT"),
            ("gateway.listen = 127.0.0.1:70000", "0 to 65535"),
            ("camera.driver = qhy", "simulator or andor"),
            ("supervisor.ping_interval = soon", "number of seconds"),
            ("supervisor.ping_interval = 0", "between"),
            ("data.prefix = ../evil", "letters"),
            ("log.level = loud", "one of"),
            ("just some words", "expected 'key = value'"),
        ]
        for (line, expected) in cases {
            var configuration = ApertureConfiguration()
            let error = #expect(throws: ConfigurationError.self, "\(line)") {
                try configuration.apply(text: line, source: "test.conf")
            }
            #expect(error?.message.contains(expected) == true, "\(line): \(error?.message ?? "")")
            #expect(error?.message.contains("test.conf:1") == true)
        }
    }

    @Test func gatewayTokenFromAFileOrTheEnvironmentAndItsRules() throws {
        let tokenFile = try writeFile("a-token-from-a-credential-file\nignored second line\n")
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let fromFile = try ApertureConfiguration.load(path: nil, environment: ["APERTURE_GATEWAY_TOKEN_FILE": tokenFile])
        #expect(fromFile.gateway.token == "a-token-from-a-credential-file")
        let fromEnvironment = try ApertureConfiguration.load(path: nil, environment: ["APERTURE_GATEWAY_TOKEN": "0123456789abcdef"])
        #expect(fromEnvironment.gateway.token == "0123456789abcdef")
        for (key, value, rule) in [
            ("APERTURE_GATEWAY_TOKEN", "short", "at least 16"),
            ("APERTURE_GATEWAY_TOKEN", "has a space in it somewhere", "without spaces"),
            ("APERTURE_GATEWAY_TOKEN_FILE", "/nonexistent/token", "cannot be read"),
            ("APERTURE_ALPACA_PORT", "70000", "-1 for off"),
            ("APERTURE_ALPACA_DISCOVERY", "sometimes", "auto, on or off"),
            ("APERTURE_GATEWAY_MAX_BODY", "12", "1024"),
        ] {
            #expect {
                _ = try ApertureConfiguration.load(path: nil, environment: [key: value])
            } throws: { error in
                "\(error)".contains(rule) && "\(error)".contains(key)
            }
        }
        let state = try ApertureConfiguration.load(path: nil, environment: ["STATE_DIRECTORY": "/var/lib/aperture"])
        #expect(state.storage.stateDirectory == "/var/lib/aperture")
    }

    @Test func duplicateKeyIsAnError() {
        var configuration = ApertureConfiguration()
        let error = #expect(throws: ConfigurationError.self) {
            try configuration.apply(text: "data.prefix = a\ndata.prefix = b\n", source: "c")
        }
        #expect(error?.message.contains("already set on line 1") == true)
    }

    @Test func badEnvironmentValueNamesTheVariable() {
        let error = #expect(throws: ConfigurationError.self) {
            try ApertureConfiguration.load(path: nil, environment: ["APERTURE_CAMERA_DRIVER": "none"])
        }
        #expect(error?.message.contains("APERTURE_CAMERA_DRIVER") == true)
    }

    @Test func missingFileIsNamed() {
        let error = #expect(throws: ConfigurationError.self) {
            try ApertureConfiguration.load(path: "/nonexistent/aperture.conf", environment: [:])
        }
        #expect(error?.message.contains("/nonexistent/aperture.conf: no such file") == true)
    }

    @Test func shippedExampleFileIsValidAndDocumentsEveryKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appendingPathComponent("config/aperture.conf").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        _ = try ApertureConfiguration.load(path: path, environment: [:])
        for key in ApertureConfiguration.keys.map(\.key) {
            #expect(text.contains(key), "config/aperture.conf does not mention \(key)")
        }
    }
}
