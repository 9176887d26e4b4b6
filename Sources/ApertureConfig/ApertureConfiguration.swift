import Foundation

/// Aperture's configuration: one file of `key = value` lines, every key optional, each
/// overridable by an environment variable (`APERTURE_` and the key in upper case with dots
/// as underscores: `gateway.listen` is `APERTURE_GATEWAY_LISTEN`).
///
/// The defaults run everything on one machine with the simulated camera. Every key is listed,
/// with its default and meaning, in `config/aperture.conf` and docs/configuration.md.
public struct ApertureConfiguration: Sendable, Equatable {
    /// `runtime.directory`: where the bus's ipc sockets live. Under systemd the default is
    /// `$RUNTIME_DIRECTORY`; elsewhere `./run`.
    public var runtimeDirectory: String = "./run"
    /// `data.root`: where FITS files are written (`DATA_ROOT/YYYYMMDD/PREFIX-NNNN.fits`).
    public var dataRoot: String = "./data"
    /// `data.prefix`: the file name prefix.
    public var filePrefix: String = "image"
    /// `log.level`: trace, debug, info, notice, warning, error or critical.
    public var logLevel: String = "info"
    /// `camera.driver`: `simulator` or `andor`.
    public var cameraDriver: String = "simulator"
    /// `gateway.listen`: the HTTP listen address, `HOST:PORT` (port 0 picks a free one).
    public var gatewayHost: String = "127.0.0.1"
    /// See ``gatewayHost``.
    public var gatewayPort: Int = 8000
    /// `supervisor.ping_interval`: seconds between heartbeat pings to each child.
    public var pingInterval: Double = 1.0
    /// `supervisor.ping_timeout`: seconds a child has to answer one ping.
    public var pingTimeout: Double = 0.5
    /// `supervisor.stop_grace`: seconds a child has to exit after SIGTERM before SIGKILL.
    public var stopGracePeriod: Double = 5.0
    /// `supervisor.start_timeout`: seconds a child has to answer its first ping.
    public var startTimeout: Double = 30.0

    /// `supervisor.max_missed_pings`: consecutive missed pings after which a child is killed and restarted.
    public var maxMissedPings: Int = 3
    /// `supervisor.restart_intensity` / `supervisor.restart_period`: more than this many
    /// failures within the period and a child goes FATAL (OTP-style).
    public var restartIntensity: Int = 5
    public var restartPeriod: Double = 60
    /// `supervisor.backoff_initial` / `supervisor.backoff_max`: the delay before the second
    /// consecutive restart, doubling up to the maximum (the first restart is immediate).
    public var backoffInitial: Double = 0.1
    public var backoffMaximum: Double = 10
    /// `supervisor.stable_period`: a run this long forgets earlier failures.
    public var stablePeriod: Double = 60
    /// `camera.executable`, `processor.executable`, `gateway.executable`: the children's
    /// programs (default: beside `aperture`).
    public var childExecutables: [String: String] = [:]

    /// `camera.width` / `camera.height`: the simulated sensor's size.
    public var simulatorWidth: Int = 1024
    public var simulatorHeight: Int = 1024
    /// `camera.seed`: the simulator's random seed (same seed, same frames).
    public var simulatorSeed: UInt64 = 1
    /// `camera.time_scale`: real seconds per simulated second (0.01 makes a 10 s exposure last 0.1 s).
    public var simulatorTimeScale: Double = 1.0
    /// `camera.max_exposure`: the longest exposure accepted, in seconds.
    public var maximumExposure: Double = 3600
    /// `camera.instrument`, `camera.telescope`, `camera.observer`: FITS INSTRUME, TELESCOP, OBSERVER.
    public var instrument: String = "Aperture camera"
    public var telescope: String = ""
    public var observer: String = ""
    /// `camera.warmup_temperature`: the sensor is warmed to at least this (C) before the camera is released.
    public var warmupTemperature: Double = -10
    /// `camera.warmup_timeout`: the longest wait for the warm-up at shutdown, in seconds.
    public var warmupTimeout: Double = 120
    /// `camera.sdk_call_timeout`: an SDK call running longer than this marks the camera wedged (pings fail).
    public var sdkCallTimeout: Double = 30
    /// `processor.autostart`: whether the processor analyses frames from the start (psen's
    /// `start`/`stop` switch it later).
    public var processorAutostart: Bool = true
    /// `camera.ring_slots`: frames the shared-memory frame ring holds.
    public var ringSlots: Int = 8
    /// `camera.telemetry_interval`: seconds between telemetry events.
    public var telemetryInterval: Double = 1
    /// `andor.library`: the Andor SDK2 shared library, loaded with dlopen.
    public var andorLibrary: String = "libandor.so"
    /// `andor.config_dir`: the directory passed to Andor's Initialize.
    public var andorConfigDirectory: String = "/usr/local/etc/andor"
    /// `filterwheel.driver`: `simulator` or `evora` (the evora TCP line protocol).
    public var filterWheelDriver: String = "simulator"
    /// `filterwheel.address`: HOST:PORT of an evora filter wheel server.
    public var filterWheelAddress: String = "127.0.0.1:5503"
    /// `filterwheel.filters`: filter names by slot, comma separated.
    public var filterNames: [String] = ["Ha", "B", "V", "g", "r", "i"]
    /// `state.directory`: where state that outlives a restart is kept (the Alpaca UniqueID).
    public var stateDirectory: String = "./state"
    /// `gateway.token`: the bearer token that state-changing HTTP requests must carry (empty: none).
    public var gatewayToken: String = ""
    /// `gateway.max_body`: the largest request body accepted, in bytes.
    public var gatewayMaxBody: Int = 1 << 20
    /// `gateway.sse_buffer`: events queued per `/v1/events` client before the oldest are dropped.
    public var gatewayEventBuffer: Int = 256
    /// `alpaca.port`: the ASCOM Alpaca listener's port on the gateway's host (0: a free port; -1: off).
    public var alpacaPort: Int = 11111
    /// `alpaca.discovery_port`: the Alpaca UDP discovery port.
    public var alpacaDiscoveryPort: Int = 32227
    /// `alpaca.discovery`: auto (on unless the gateway listens on loopback only), on, or off.
    public var alpacaDiscovery: String = "auto"
    /// `gateway.idle_timeout`: seconds a connection of either HTTP listener (the gateway's and
    /// Alpaca's) may stay open with no request in progress (between requests, or stalled in the
    /// middle of sending one) before it is closed. A response being written (a long `/capture`,
    /// an event stream) is not idle.
    public var gatewayIdleTimeout: Double = 60
    /// `gateway.read_timeout`: seconds a client has, from the end of a request's head, to send the
    /// rest of the request (its body), on either HTTP listener; past it the connection is closed.
    public var gatewayReadTimeout: Double = 30
    /// `gateway.sse_write_timeout`: seconds one write to a `/v1/events` client may wait for the
    /// client to read; past it the stream ends and its slot is freed.
    public var gatewayEventWriteTimeout: Double = 30
    /// `gateway.sse_clients`: the most `/v1/events` streams open at once.
    public var gatewayEventClients: Int = 512
    /// `gateway.allowed_hosts`: host names accepted in a request's `Host` header besides IP
    /// addresses, `localhost`, the machine's name and `gateway.listen`'s host (`*`: any).
    public var gatewayAllowedHosts: [String] = []
    /// `alpaca.allow_from`: the networks (CIDRs) whose clients the Alpaca listener answers
    /// (empty: every client).
    public var alpacaAllowFrom: [AddressRange] = []
    /// `alpaca.allow_unauthenticated`: lets the Alpaca listener answer every client on a
    /// non-loopback address (Alpaca clients send no token).
    public var alpacaAllowUnauthenticated: Bool = false

    /// The defaults.
    public init() {}

    /// Every key, its default and its meaning, in file order (for documentation and errors).
    public static let keys: [(key: String, defaultValue: String, meaning: String)] = [
        ("runtime.directory", "./run ($RUNTIME_DIRECTORY under systemd)", "directory of the bus's ipc sockets, created 0700"),
        ("data.root", "./data", "where FITS files go: DATA_ROOT/YYYYMMDD/PREFIX-NNNN.fits"),
        ("data.prefix", "image", "file name prefix"),
        ("log.level", "info", "trace, debug, info, notice, warning, error, critical"),
        ("camera.driver", "simulator", "simulator or andor"),
        ("gateway.listen", "127.0.0.1:8000", "HTTP listen address HOST:PORT; port 0 picks a free port"),
        ("supervisor.ping_interval", "1.0", "seconds between heartbeat pings to each child"),
        ("supervisor.ping_timeout", "0.5", "seconds a child has to answer a ping"),
        ("supervisor.stop_grace", "5.0", "seconds a child has to exit after SIGTERM before SIGKILL"),
        ("supervisor.start_timeout", "30.0", "seconds a child has to answer its first ping"),
        ("supervisor.max_missed_pings", "3", "consecutive missed pings after which a child is killed and restarted"),
        ("supervisor.restart_intensity", "5", "more failures than this within restart_period and a child goes FATAL"),
        ("supervisor.restart_period", "60", "seconds over which failures count"),
        ("supervisor.backoff_initial", "0.1", "seconds before the second consecutive restart (the first is immediate)"),
        ("supervisor.backoff_max", "10", "longest delay between restarts, in seconds"),
        ("supervisor.stable_period", "60", "seconds of running that forget earlier failures"),
        ("camera.executable", "(beside aperture)", "the camera process's program"),
        ("processor.executable", "(beside aperture)", "the processor process's program"),
        ("gateway.executable", "(beside aperture)", "the gateway process's program"),
        ("camera.width", "1024", "simulated sensor width in pixels"),
        ("camera.height", "1024", "simulated sensor height in pixels"),
        ("camera.seed", "1", "simulator random seed: the same seed gives the same frames"),
        ("camera.time_scale", "1.0", "simulator: real seconds per simulated second (0.01 = 100x faster)"),
        ("camera.max_exposure", "3600", "longest exposure accepted, in seconds"),
        ("camera.instrument", "Aperture camera", "FITS INSTRUME"),
        ("camera.telescope", "(empty)", "FITS TELESCOP"),
        ("camera.observer", "(empty)", "FITS OBSERVER when a request names none"),
        ("camera.warmup_temperature", "-10", "warm the sensor to at least this (C) before releasing the camera"),
        ("camera.warmup_timeout", "120", "longest wait for the warm-up at shutdown, in seconds"),
        ("camera.sdk_call_timeout", "30", "an SDK call running longer than this (s) marks the camera wedged"),
        ("camera.telemetry_interval", "1.0", "seconds between telemetry events"),
        ("processor.autostart", "true", "analyse frames from the start (psen start/stop switch it later)"),
        ("camera.ring_slots", "8", "frames held by the shared-memory frame ring (camera.frames in the runtime directory)"),
        ("andor.library", "libandor.so", "the Andor SDK2 library (dlopen path)"),
        ("andor.config_dir", "/usr/local/etc/andor", "directory passed to the SDK's Initialize"),
        ("filterwheel.driver", "simulator", "simulator or evora (TCP line protocol)"),
        ("filterwheel.address", "127.0.0.1:5503", "HOST:PORT of the evora filter wheel server"),
        ("filterwheel.filters", "Ha,B,V,g,r,i", "filter names by slot, comma separated"),
        ("state.directory", "./state ($STATE_DIRECTORY under systemd)", "state kept across restarts (the Alpaca device's UniqueID)"),
        ("gateway.token", "(empty)", "bearer token required by state-changing HTTP requests; required when gateway.listen is not loopback"),
        ("gateway.token_file", "(none)", "a file holding gateway.token (first line), e.g. a systemd credential"),
        ("gateway.max_body", "1048576", "largest HTTP request body accepted, in bytes"),
        ("gateway.sse_buffer", "256", "events queued per /v1/events client before the oldest are dropped (and counted)"),
        ("alpaca.port", "11111", "ASCOM Alpaca listener port on the gateway's host; 0 picks a free port, -1 turns it off"),
        ("alpaca.discovery_port", "32227", "Alpaca UDP discovery port"),
        ("alpaca.discovery", "auto", "auto (on unless the gateway listens on loopback only), on or off"),
        ("gateway.idle_timeout", "60", "seconds (1 to 3600) a connection of either HTTP listener may stay open with no request in progress"),
        ("gateway.read_timeout", "30", "seconds (1 to 3600) a client has to send a request's body once its head arrived"),
        ("gateway.sse_write_timeout", "30", "seconds (1 to 3600) a write to a /v1/events client may wait before the stream is ended"),
        ("gateway.sse_clients", "512", "most /v1/events streams open at once (1 to 4096)"),
        ("gateway.allowed_hosts", "(empty)", "Host names accepted besides IP addresses, localhost, the machine's name and the listen host; * for any"),
        ("alpaca.allow_from", "(empty)", "CIDRs (IPv4, IPv6) whose clients the Alpaca listener answers; others get 403"),
        ("alpaca.allow_unauthenticated", "false", "answer every Alpaca client on a non-loopback gateway.listen"),
    ]
}

/// A configuration that cannot be used; the message names the file, line, key and reason.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, naming the key (and file and line when it came from the file).
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension ApertureConfiguration {
    /// The environment variable that overrides a key.
    /// - Parameter key: a dotted key such as `gateway.listen`.
    public static func environmentName(of key: String) -> String {
        "APERTURE_" + key.uppercased().replacingOccurrences(of: ".", with: "_")
    }

    /// Loads the configuration: defaults, then the file (if any), then the environment.
    /// - Parameters:
    ///   - path: the configuration file; nil means `$APERTURE_CONFIG` if set, else defaults only.
    ///   - environment: the process environment.
    /// - Returns: the validated configuration.
    /// - Throws: ``ConfigurationError`` naming the file, line and key for a missing file, a
    ///   malformed line, an unknown key or an invalid value.
    public static func load(
        path: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> ApertureConfiguration {
        var configuration = ApertureConfiguration()
        if let systemdState = environment["STATE_DIRECTORY"], !systemdState.isEmpty {
            configuration.stateDirectory = String(systemdState.split(separator: ":").first ?? "")
        }
        if let systemdRuntime = environment["RUNTIME_DIRECTORY"], !systemdRuntime.isEmpty {
            // systemd may list several directories separated by colons; the first is ours.
            configuration.runtimeDirectory = String(systemdRuntime.split(separator: ":").first ?? "")
        }
        if let file = path ?? environment["APERTURE_CONFIG"] {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                let reason = FileManager.default.fileExists(atPath: file)
                    ? "it cannot be read as UTF-8 text" : "no such file"
                throw ConfigurationError("configuration file \(file): \(reason)")
            }
            try configuration.apply(text: text, source: file)
        }
        for (key, _, _) in keys {
            if let value = environment[environmentName(of: key)] {
                try configuration.set(key, value, source: "environment variable \(environmentName(of: key))")
            }
        }
        return configuration
    }

    /// Checks that an Alpaca listener beyond loopback was chosen knowingly: it needs
    /// `alpaca.allow_from` or `alpaca.allow_unauthenticated = true`, since Alpaca clients send no
    /// token. The gateway calls it at start, after its own "no token beyond loopback" rule.
    /// - Throws: ``ConfigurationError`` naming the keys.
    public func checkAlpacaListener() throws(ConfigurationError) {
        if alpacaPort >= 0, !Self.isLoopback(gatewayHost), alpacaAllowFrom.isEmpty, !alpacaAllowUnauthenticated {
            throw ConfigurationError(
                "gateway.listen = \(gatewayHost):\(gatewayPort) is not a loopback address and alpaca.port = \(alpacaPort) is on: "
                + "Alpaca clients send no token, so the Alpaca listener would answer anyone who reaches it. "
                + "Set alpaca.allow_from (CIDRs of the clients, e.g. 192.168.1.0/24), or alpaca.allow_unauthenticated = true, "
                + "or alpaca.port = -1 to turn Alpaca off.")
        }
    }

    /// Whether a listen host is loopback only: `localhost`, `::1`, or a numeric 127.x.x.x
    /// (a name such as `127.example.org` is not).
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        guard let address = AddressRange.bytes(of: host), address.count == 4 else { return false }
        return address[0] == 127
    }

    /// Applies the `key = value` lines of a configuration text.
    /// - Parameters:
    ///   - text: the file's contents; `#` starts a comment, blank lines are ignored.
    ///   - source: the file's name, for error messages.
    /// - Throws: ``ConfigurationError`` naming the line and key.
    public mutating func apply(text: String, source: String) throws(ConfigurationError) {
        var seen: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else {
                throw ConfigurationError("\(source):\(lineNumber): expected 'key = value', found '\(trimmed)'")
            }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            var value = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            if let first = seen[key] {
                throw ConfigurationError("\(source):\(lineNumber): key '\(key)' is already set on line \(first)")
            }
            seen[key] = lineNumber
            try set(key, value, source: "\(source):\(lineNumber)")
        }
    }

    /// Sets one key from its text form.
    /// - Parameters:
    ///   - key: a dotted key.
    ///   - value: its value as written.
    ///   - source: where it came from, for error messages.
    /// - Throws: ``ConfigurationError`` for an unknown key or an invalid value.
    public mutating func set(_ key: String, _ value: String, source: String) throws(ConfigurationError) {
        func fail(_ reason: String) -> ConfigurationError {
            ConfigurationError("\(source): \(key) = '\(value)': \(reason)")
        }
        func seconds(min: Double, max: Double) throws(ConfigurationError) -> Double {
            guard let number = Double(value), number.isFinite else { throw fail("must be a number of seconds") }
            guard number >= min, number <= max else { throw fail("must be between \(min) and \(max) seconds") }
            return number
        }
        func boolean() throws(ConfigurationError) -> Bool {
            guard let flag = ["true": true, "false": false, "yes": true, "no": false][value.lowercased()] else {
                throw fail("must be true or false")
            }
            return flag
        }
        switch key {
        case "runtime.directory":
            guard !value.isEmpty else { throw fail("must not be empty") }
            guard value.utf8.count + "/processor.events".utf8.count < 108 else {
                throw fail("is too long for unix socket paths (at most \(107 - "/processor.events".utf8.count) bytes)")
            }
            runtimeDirectory = value
        case "data.root":
            guard !value.isEmpty else { throw fail("must not be empty") }
            dataRoot = value
        case "data.prefix":
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
            guard !value.isEmpty, value.unicodeScalars.allSatisfy(allowed.contains), !value.hasPrefix(".") else {
                throw fail("must be letters, digits, '-', '_' or '.', not starting with '.'")
            }
            filePrefix = value
        case "log.level":
            let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
            guard levels.contains(value) else { throw fail("must be one of \(levels.joined(separator: ", "))") }
            logLevel = value
        case "camera.driver":
            guard ["simulator", "andor"].contains(value) else { throw fail("must be simulator or andor") }
            cameraDriver = value
        case "gateway.listen":
            guard let colon = value.lastIndex(of: ":"),
                  let port = Int(value[value.index(after: colon)...]), (0...65535).contains(port) else {
                throw fail("must be HOST:PORT with a port from 0 to 65535")
            }
            var host = String(value[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw fail("must name a host") }
            gatewayHost = host
            gatewayPort = port
        case "supervisor.ping_interval":
            pingInterval = try seconds(min: 0.05, max: 60)
        case "supervisor.ping_timeout":
            pingTimeout = try seconds(min: 0.01, max: 60)
        case "supervisor.stop_grace":
            stopGracePeriod = try seconds(min: 0, max: 300)
        case "supervisor.start_timeout":
            startTimeout = try seconds(min: 0.1, max: 600)
        case "supervisor.max_missed_pings":
            guard let number = Int(value), (1...100).contains(number) else { throw fail("must be an integer from 1 to 100") }
            maxMissedPings = number
        case "supervisor.restart_intensity":
            guard let number = Int(value), (0...1000).contains(number) else { throw fail("must be an integer from 0 to 1000") }
            restartIntensity = number
        case "supervisor.restart_period":
            restartPeriod = try seconds(min: 1, max: 86400)
        case "supervisor.backoff_initial":
            backoffInitial = try seconds(min: 0, max: 60)
        case "supervisor.backoff_max":
            backoffMaximum = try seconds(min: 0, max: 3600)
        case "supervisor.stable_period":
            stablePeriod = try seconds(min: 1, max: 86400)
        case "camera.executable", "processor.executable", "gateway.executable":
            guard value.hasPrefix("/") else { throw fail("must be an absolute path") }
            childExecutables[String(key.prefix { $0 != "." })] = value
        case "camera.width", "camera.height":
            guard let number = Int(value), (16...16384).contains(number) else { throw fail("must be an integer from 16 to 16384") }
            if key == "camera.width" { simulatorWidth = number } else { simulatorHeight = number }
        case "camera.seed":
            guard let number = UInt64(value) else { throw fail("must be a non-negative integer") }
            simulatorSeed = number
        case "camera.time_scale":
            guard let number = Double(value), number > 0, number <= 100 else { throw fail("must be a number above 0 and at most 100") }
            simulatorTimeScale = number
        case "camera.max_exposure":
            maximumExposure = try seconds(min: 0.001, max: 86400)
        case "camera.instrument", "camera.telescope", "camera.observer":
            guard value.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }), value.count <= 68 else {
                throw fail("must be printable ASCII of at most 68 characters (a FITS string)")
            }
            switch key {
            case "camera.instrument": instrument = value
            case "camera.telescope": telescope = value
            default: observer = value
            }
        case "camera.warmup_temperature":
            guard let number = Double(value), (-120...40).contains(number) else { throw fail("must be degrees Celsius from -120 to 40") }
            warmupTemperature = number
        case "camera.warmup_timeout":
            warmupTimeout = try seconds(min: 0, max: 3600)
        case "camera.sdk_call_timeout":
            sdkCallTimeout = try seconds(min: 0.5, max: 3600)
        case "processor.autostart":
            processorAutostart = try boolean()
        case "camera.ring_slots":
            guard let number = Int(value), (2...1024).contains(number) else { throw fail("must be an integer from 2 to 1024") }
            ringSlots = number
        case "camera.telemetry_interval":
            telemetryInterval = try seconds(min: 0.05, max: 60)
        case "andor.library":
            guard !value.isEmpty else { throw fail("must name a library") }
            andorLibrary = value
        case "andor.config_dir":
            guard !value.isEmpty else { throw fail("must name a directory") }
            andorConfigDirectory = value
        case "filterwheel.driver":
            guard ["simulator", "evora"].contains(value) else { throw fail("must be simulator or evora") }
            filterWheelDriver = value
        case "filterwheel.address":
            guard let colon = value.lastIndex(of: ":"), let port = Int(value[value.index(after: colon)...]),
                  (1...65535).contains(port), colon != value.startIndex else {
                throw fail("must be HOST:PORT with a port from 1 to 65535")
            }
            filterWheelAddress = value
        case "filterwheel.filters":
            let names = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty && $0.count <= 32 }), Set(names).count == names.count else {
                throw fail("must be distinct, non-empty names separated by commas")
            }
            filterNames = names
        case "state.directory":
            guard !value.isEmpty else { throw fail("must not be empty") }
            stateDirectory = value
        case "gateway.token":
            guard value.count >= 16 || value.isEmpty else { throw fail("must be at least 16 characters (or empty for none)") }
            guard value.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
                throw fail("must be printable ASCII without spaces")
            }
            gatewayToken = value
        case "gateway.token_file":
            let text: String
            do { text = try String(contentsOfFile: value, encoding: .utf8) } catch {
                throw fail("cannot be read")
            }
            let token = text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            try set("gateway.token", token, source: "\(source) (\(value))")
        case "gateway.max_body":
            guard let number = Int(value), (1024...(1 << 30)).contains(number) else {
                throw fail("must be a number of bytes from 1024 to 1073741824")
            }
            gatewayMaxBody = number
        case "gateway.sse_buffer":
            guard let number = Int(value), (1...100_000).contains(number) else { throw fail("must be from 1 to 100000") }
            gatewayEventBuffer = number
        case "alpaca.port":
            guard let number = Int(value), (-1...65535).contains(number) else {
                throw fail("must be a port from 0 to 65535, or -1 for off")
            }
            alpacaPort = number
        case "alpaca.discovery_port":
            guard let number = Int(value), (0...65535).contains(number) else { throw fail("must be a port from 0 to 65535") }
            alpacaDiscoveryPort = number
        case "alpaca.discovery":
            guard ["auto", "on", "off"].contains(value) else { throw fail("must be auto, on or off") }
            alpacaDiscovery = value
        case "gateway.idle_timeout":
            gatewayIdleTimeout = try seconds(min: 1, max: 3600)
        case "gateway.read_timeout":
            gatewayReadTimeout = try seconds(min: 1, max: 3600)
        case "gateway.sse_write_timeout":
            gatewayEventWriteTimeout = try seconds(min: 1, max: 3600)
        case "gateway.sse_clients":
            guard let number = Int(value), (1...4096).contains(number) else { throw fail("must be an integer from 1 to 4096") }
            gatewayEventClients = number
        case "gateway.allowed_hosts":
            let names = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                .filter { !$0.isEmpty }
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789-.*")
            for name in names where !name.unicodeScalars.allSatisfy(allowed.contains) || (name.contains("*") && name != "*") {
                throw fail("'\(name)' is not a host name (letters, digits, '-' and '.', without a port) or *")
            }
            gatewayAllowedHosts = names
        case "alpaca.allow_from":
            var ranges: [AddressRange] = []
            for text in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !text.isEmpty {
                guard let range = AddressRange(text) else {
                    throw fail("'\(text)' is not a CIDR such as 192.168.1.0/24, 10.0.0.7 or fd00::/8")
                }
                ranges.append(range)
            }
            alpacaAllowFrom = ranges
        case "alpaca.allow_unauthenticated":
            alpacaAllowUnauthenticated = try boolean()
        default:
            let known = Self.keys.map(\.key).joined(separator: ", ")
            throw ConfigurationError("\(source): unknown key '\(key)'; known keys: \(known)")
        }
    }
}
