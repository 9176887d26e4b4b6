import ApertureConfig
import Foundation
import Testing

/// The key declarations (ConfigurationKeys.swift): every key parses, refuses what is out of its
/// range naming itself, is overridden by its environment variable, and is documented.
@Suite struct KeyDeclarationTests {
    /// For every key: a valid value other than the default, and one out of its range (nil for
    /// a key that takes any text).
    static let samples: [String: (valid: String, invalid: String?)] = [
        "runtime.directory": ("/run/aperture", String(repeating: "d", count: 91)),
        "data.root": ("/srv/aperture/data", ""),
        "data.prefix": ("night-1", ".hidden"),
        "data.compression": ("rice", "gzip"),
        "state.directory": ("/var/lib/aperture", ""),
        "log.level": ("debug", "loud"),
        "camera.driver": ("andor", "qhy"),
        "camera.executable": ("/usr/bin/camera", "bin/camera"),
        "camera.width": ("2048", "15"),
        "camera.height": ("512", "16385"),
        "camera.seed": ("42", "-1"),
        "camera.time_scale": ("0.01", "0"),
        "camera.max_exposure": ("600", "0"),
        "camera.instrument": ("Andor iKon-M", String(repeating: "x", count: 69)),
        "camera.telescope": ("0.6 m", "tab\there"),
        "camera.observer": ("someone", "é"),
        "camera.warmup_temperature": ("0", "41"),
        "camera.warmup_timeout": ("300", "3601"),
        "camera.sdk_call_timeout": ("10", "0.4"),
        "camera.telemetry_interval": ("2", "0.01"),
        "camera.ring_slots": ("16", "1"),
        "camera.simulator.ra": ("83.82", "360"),
        "camera.simulator.dec": ("-5.39", "-90.5"),
        "camera.simulator.focal_length": ("1200", "0"),
        "camera.simulator.rotation": ("45", "nan"),
        "camera.simulator.catalog": ("/usr/share/astrometry/index-tycho2-09.littleendian.fits", ""),
        "andor.library": ("/opt/andor/libandor.so", ""),
        "andor.config_dir": ("/etc/andor", ""),
        "filterwheel.driver": ("evora", "zwo"),
        "filterwheel.address": ("wheel.local:5503", "wheel.local:0"),
        "filterwheel.filters": ("U,B,V", "U,B,U"),
        "filterwheel.focus_offsets": ("0,-15,20,5,5,0", "0,x"),
        "processor.executable": ("/usr/bin/processor", "processor"),
        "processor.autostart": ("false", "sometimes"),
        "processor.solve_field": ("/opt/astrometry/bin/solve-field", "solve-field"),
        "catalog.executable": ("/usr/bin/catalog", "catalog"),
        "catalog.reconcile_interval": ("300", "0.5"),
        "processor.solve_time_limit": ("30", "601"),
        "gateway.executable": ("/usr/bin/gateway", "./gateway"),
        "gateway.listen": ("0.0.0.0:9000", "0.0.0.0:65536"),
        "gateway.token": ("0123456789abcdef0123", "short"),
        "gateway.token_file": ("", "/nonexistent/token"),
        "gateway.max_body": ("4096", "1023"),
        "gateway.sse_buffer": ("10", "0"),
        "gateway.sse_clients": ("4", "4097"),
        "gateway.idle_timeout": ("5", "0.5"),
        "gateway.read_timeout": ("5", "3601"),
        "gateway.sse_write_timeout": ("5", "0"),
        "gateway.allowed_hosts": ("camera.example.org", "camera.example.org:80"),
        "gateway.cors_origins": ("http://evora.example.org:3000", "evora.example.org"),
        "archive.executable": ("/usr/bin/archive", "archive"),
        "archive.root": ("/srv/archive", ""),
        "archive.postgres_url": ("postgres://archive@db.example.org:5433/facility", "postgres://archive:secret@db/facility"),
        "archive.postgres_password_file": ("/etc/aperture/pg-password", "pg-password"),
        "archive.listen": ("0.0.0.0:8200", "0.0.0.0:65536"),
        "archive.durable": ("archive-2", "archive.2"),
        "archive.incomplete_timeout": ("120", "0.5"),
        "archive.max_ack_pending": ("10000", "10"),
        "archive.ack_wait": ("300", "0"),
        "alpaca.port": ("-1", "-2"),
        "alpaca.discovery_port": ("0", "65536"),
        "alpaca.discovery": ("off", "sometimes"),
        "alpaca.allow_from": ("10.0.0.0/8", "10.0.0.0/33"),
        "alpaca.allow_unauthenticated": ("true", "maybe"),
        "site.latitude": ("47.66", "91"),
        "site.longitude": ("-122.31", "east"),
        "site.elevation": ("1100", "10000"),
        "site.name": ("mro", "Manastash Ridge"),
        "camera.name": ("north-2", "-north"),
        "nats.url": ("nats://a.example.org:4222,tls://b.example.org:4222", "http://a.example.org"),
        "nats.credentials": ("/etc/aperture/facility.creds", "facility.creds"),
        "nats.tls_ca": ("/etc/aperture/ca.pem", "ca.pem"),
        "nats.tls_cert": ("/etc/aperture/client.pem", "client.pem"),
        "nats.tls_key": ("/etc/aperture/client-key.pem", "key.pem"),
        "nats.stream": ("FACILITY_FRAMES", "frames.all"),
        "nats.stream_replicas": ("3", "6"),
        "nats.stream_max_bytes": ("1099511627776", "-1"),
        "nats.stream_max_age": ("86400", "-1"),
        "nats.duplicate_window": ("120", "0"),
        "export.enabled": ("true", "sometimes"),
        "export.chunk_bytes": ("65536", "1048577"),
        "export.window": ("8", "0"),
        "export.ack_timeout": ("30", "0"),
        "export.backoff_max": ("60", "0.01"),
        "weather.source": ("alpaca", "barometer"),
        "weather.url": ("http://weather.example.org:11111", "weather.example.org"),
        "weather.alpaca_device": ("2", "100"),
        "weather.fields": ("temperature_c=main.temp,humidity=main.humidity", "temperature=main.temp"),
        "weather.timeout": ("5", "0"),
        "weather.max_age": ("60", "-1"),
        "supervisor.ping_interval": ("2", "0.04"),
        "supervisor.ping_timeout": ("1", "61"),
        "supervisor.max_missed_pings": ("5", "0"),
        "supervisor.start_timeout": ("60", "601"),
        "supervisor.stop_grace": ("10", "-1"),
        "supervisor.restart_intensity": ("10", "1001"),
        "supervisor.restart_period": ("30", "0.5"),
        "supervisor.backoff_initial": ("1", "61"),
        "supervisor.backoff_max": ("20", "3601"),
        "supervisor.stable_period": ("600", "86401"),
    ]

    @Test func everyKeyIsDeclaredOnceAndHasASample() {
        let names = ApertureConfiguration.keys.map(\.key)
        #expect(Set(names).count == names.count, "a key is declared twice")
        #expect(Set(names) == Set(Self.samples.keys), "keys and samples differ")
        #expect(names.count == 100)
        for key in ApertureConfiguration.keys {
            #expect(key.environmentName == "APERTURE_" + key.key.uppercased().replacingOccurrences(of: ".", with: "_"))
            #expect(ApertureConfiguration.key(key.key)?.key == key.key)
            #expect(!key.meaning.isEmpty && !key.defaultValue.isEmpty)
        }
    }

    @Test func everyDefaultIsWrittenAsTheKeyReadsIt() throws {
        let defaults = ApertureConfiguration()
        for key in ApertureConfiguration.keys {
            guard let text = key.value(in: defaults) else { continue }
            var configuration = ApertureConfiguration()
            try configuration.set(key.key, text, source: "test")
            #expect(configuration == defaults, "\(key.key) = \(text)")
            let fromEnvironment = try ApertureConfiguration.load(path: nil, environment: [key.environmentName: text])
            #expect(fromEnvironment == defaults, "\(key.environmentName)=\(text)")
        }
    }

    @Test func everyKeyParsesAValueAndTheEnvironmentWins() throws {
        let path = "/tmp/aperture-keys-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).conf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        for key in ApertureConfiguration.keys where !Self.samples[key.key]!.valid.isEmpty {
            let valid = Self.samples[key.key]!.valid
            var expected = ApertureConfiguration()
            try expected.set(key.key, valid, source: "test")
            #expect(expected != ApertureConfiguration(), "\(key.key) = \(valid) is the default")
            #expect(key.value(in: expected).map { !$0.isEmpty } ?? false, "\(key.key) shows no value")
            let written = key.value(in: expected) ?? ""
            var again = ApertureConfiguration()
            try again.set(key.key, written, source: "test")
            #expect(again == expected, "\(key.key): '\(written)' reads back differently")

            // The file's default, the environment's value: the environment wins.
            let fileValue = key.value(in: ApertureConfiguration()).flatMap { $0.isEmpty ? nil : $0 }
            try "\(key.key) = \(fileValue ?? valid)\n".write(toFile: path, atomically: true, encoding: .utf8)
            let loaded = try ApertureConfiguration.load(path: path, environment: [key.environmentName: valid])
            #expect(loaded == expected, "\(key.environmentName) does not override \(key.key)")
        }
    }

    @Test func everyKeyRefusesAValueOutOfItsRangeNamingItself() {
        for key in ApertureConfiguration.keys {
            guard let invalid = Self.samples[key.key]!.invalid else { continue }
            var configuration = ApertureConfiguration()
            let fromFile = #expect(throws: ConfigurationError.self, "\(key.key) = \(invalid)") {
                try configuration.apply(text: "\(key.key) = \(invalid)", source: "test.conf")
            }
            #expect(fromFile?.key == key.key)
            #expect(fromFile?.message.hasPrefix("test.conf:1: \(key.key) = '\(invalid)': ") == true, "\(fromFile?.message ?? "")")
            #expect(fromFile.map { $0.message.count > "test.conf:1: \(key.key) = '\(invalid)': ".count } == true, "no reason given")
            let fromEnvironment = #expect(throws: ConfigurationError.self) {
                try ApertureConfiguration.load(path: nil, environment: [key.environmentName: invalid])
            }
            #expect(fromEnvironment?.message.hasPrefix("environment variable \(key.environmentName): \(key.key) = '\(invalid)'") == true,
                    "\(fromEnvironment?.message ?? "")")
        }
    }

    @Test(arguments: [
        ("log.level", "loud", "must be one of trace, debug, info, notice, warning, error, critical"),
        ("camera.driver", "qhy", "must be simulator or andor"),
        ("filterwheel.driver", "zwo", "must be simulator or evora"),
        ("alpaca.discovery", "sometimes", "must be auto, on or off"),
    ])
    func enumerationsRefuseUnknownValuesListingTheAllowedOnes(key: String, value: String, message: String) {
        var configuration = ApertureConfiguration()
        let error = #expect(throws: ConfigurationError.self) { try configuration.set(key, value, source: "s") }
        #expect(error?.message == "s: \(key) = '\(value)': \(message)")
        #expect(error?.key == key)
        // Exactly, not in another case: `Andor` is not `andor`.
        #expect(throws: ConfigurationError.self) { try configuration.set("camera.driver", "Andor", source: "s") }
    }

    @Test func typedValuesComeOutTyped() throws {
        let configuration = try ApertureConfiguration.load(path: nil, environment: [
            "APERTURE_LOG_LEVEL": "warning", "APERTURE_CAMERA_DRIVER": "andor", "APERTURE_FILTERWHEEL_DRIVER": "evora",
            "APERTURE_ALPACA_DISCOVERY": "on", "APERTURE_SUPERVISOR_BACKOFF_INITIAL": "0.1",
            "APERTURE_CAMERA_TELEMETRY_INTERVAL": "0.25", "APERTURE_GATEWAY_LISTEN": "[fd00::1]:0",
        ])
        #expect(configuration.log.level == .warning)
        #expect(configuration.camera.driver == .andor)
        #expect(configuration.filterWheel.driver == .evora)
        #expect(configuration.alpaca.discovery == .on)
        #expect(configuration.supervisor.backoffInitial == .milliseconds(100))
        #expect(configuration.camera.telemetryInterval == .milliseconds(250))
        #expect(configuration.gateway.host == "fd00::1" && configuration.gateway.port == 0)
        #expect(ApertureConfiguration.key("gateway.listen")?.value(in: configuration) == "[fd00::1]:0")
    }

    @Test func theDocumentedKeyListIsGeneratedFromTheDeclarations() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let document = try String(contentsOfFile: root.appendingPathComponent("docs/configuration.md").path, encoding: .utf8)
        let begin = "<!-- configuration keys: begin (aperture config keys) -->\n\n"
        let end = "\n<!-- configuration keys: end -->"
        let start = try #require(document.range(of: begin)), finish = try #require(document.range(of: end))
        let table = String(document[start.upperBound..<finish.lowerBound])
        #expect(table == ApertureConfiguration.keyListMarkdown(),
                "docs/configuration.md is stale: regenerate it with scripts/config-keys.sh")
        let list = ApertureConfiguration.keyListMarkdown()
        for key in ApertureConfiguration.keys {
            #expect(list.contains("| `\(key.key)` | `\(key.environmentName)` | \(key.defaultValue) |"))
        }
    }

    @Test func theShippedFileShowsEveryDefault() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let text = try String(contentsOfFile: root.appendingPathComponent("config/aperture.conf").path, encoding: .utf8)
        // Keys whose line shows an example rather than the default.
        let examples: Set = ["camera.executable", "processor.executable", "gateway.executable", "catalog.executable", "archive.executable",
                              "alpaca.allow_from"]
        var shown = 0
        for line in text.split(separator: "\n") where line.hasPrefix("#") && (line.contains(" = ") || line.hasSuffix(" =")) {
            let setting = String(line.dropFirst())
            let key = setting.prefix { $0 != " " }
            guard ApertureConfiguration.key(String(key)) != nil, !examples.contains(String(key)),
                  key != "gateway.token_file" else { continue }
            var configuration = ApertureConfiguration()
            try configuration.apply(text: setting, source: "config/aperture.conf")
            #expect(configuration == ApertureConfiguration(), "config/aperture.conf: '\(setting)' is not the default")
            shown += 1
        }
        #expect(shown == ApertureConfiguration.keys.count - examples.count - 1) // the examples, and token_file (no default)
    }
}
