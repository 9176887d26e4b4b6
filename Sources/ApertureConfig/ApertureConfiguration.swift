import Foundation

/// Aperture's configuration: one file of `key = value` lines, every key optional, each
/// overridable by an environment variable (`APERTURE_` and the key in upper case with dots
/// as underscores: `gateway.listen` is `APERTURE_GATEWAY_LISTEN`).
///
/// One struct per component, one field per key with its type and default. The key's name, its
/// meaning and its allowed values are declared once, beside the others, in
/// ``ApertureConfiguration/keys`` (ConfigurationKeys.swift): parsing, validation, the environment
/// override and the documented key list (docs/configuration.md, `aperture config keys`) all come
/// from that declaration. The defaults run everything on one machine with the simulated camera.
public struct ApertureConfiguration: Sendable, Equatable {
    /// Where things live on disk: `runtime.directory`, `state.directory`, `data.*`.
    public var storage = Storage()
    /// `log.*`.
    public var log = Log()
    /// `camera.*`: the camera process, the simulator, FITS header values, cooling and the ring.
    public var camera = Camera()
    /// `andor.*`: the Andor SDK2 driver (`camera.driver = andor`).
    public var andor = Andor()
    /// `filterwheel.*`.
    public var filterWheel = FilterWheel()
    /// `processor.*`.
    public var processor = Processor()
    /// `catalog.*`.
    public var catalog = Catalog()
    /// `gateway.*`: the HTTP face.
    public var gateway = Gateway()
    /// `alpaca.*`: the gateway's ASCOM Alpaca listener and discovery.
    public var alpaca = Alpaca()
    /// Where the weather comes from.
    public var weather = Weather()
    /// Where the telescope stands.
    public var site = Site()
    /// `supervisor.*`: heartbeats, stop grace and the restart policy.
    public var supervisor = Supervisor()
    /// `nats.*`: the facility's NATS (export, live status, the archive).
    public var nats = NATS()
    /// `export.*`: sending every catalogued frame to the facility's JetStream.
    public var export = Export()
    /// `archive.*`: the facility archive, aperture-archive (docs/archive.md).
    public var archive = Archive()

    /// The defaults.
    public init() {}

    /// Where things live on disk.
    public struct Storage: Sendable, Equatable {
        /// `runtime.directory` (`$RUNTIME_DIRECTORY` under systemd).
        public var runtimeDirectory = "./run"
        /// `state.directory` (`$STATE_DIRECTORY` under systemd).
        public var stateDirectory = "./state"
        /// `data.root`: FITS files go to `DATA_ROOT/YYYYMMDD/PREFIX-NNNN.fits`.
        public var dataRoot = "./data"
        /// `data.prefix`.
        public var filePrefix = "image"
        /// `data.compression`: how frames are saved (`none`: `PREFIX-NNNN.fits`; `rice`:
        /// `PREFIX-NNNN.fits.fz`, tile-compressed).
        public var compression = DataCompression.none
    }

    /// Logging.
    public struct Log: Sendable, Equatable {
        /// `log.level`.
        public var level = LogLevel.info
    }

    /// The camera process.
    public struct Camera: Sendable, Equatable {
        /// `camera.driver`.
        public var driver = CameraDriverKind.simulator
        /// `camera.name`: the camera's facility-wide name (FITS CAMERA, catalog rows, export
        /// subjects); one per instance of `aperture@.service`.
        public var name = "camera"
        /// `camera.executable` (nil: beside `aperture`).
        public var executable: String?
        /// `camera.width`, `camera.height`: the simulated sensor's size in pixels.
        public var width = 1024
        /// `camera.height`: the simulated sensor's rows.
        public var height = 1024
        /// `camera.seed`.
        public var seed: UInt64 = 1
        /// `camera.time_scale`: real seconds per simulated second (a ratio).
        public var timeScale = 1.0
        /// `camera.max_exposure`, in seconds (exposure times are seconds throughout the protocol).
        public var maximumExposure = 3600.0
        /// `camera.instrument`, `camera.telescope`, `camera.observer`: FITS INSTRUME, TELESCOP, OBSERVER.
        public var instrument = "Aperture camera"
        /// `camera.telescope`: FITS TELESCOP.
        public var telescope = ""
        /// `camera.observer`: FITS OBSERVER.
        public var observer = ""
        /// `camera.warmup_temperature`, in degrees Celsius.
        public var warmupTemperature = -10.0
        /// `camera.warmup_timeout`.
        public var warmupTimeout = Duration.seconds(120)
        /// `camera.sdk_call_timeout`.
        public var sdkCallTimeout = Duration.seconds(30)
        /// `camera.telemetry_interval`.
        public var telemetryInterval = Duration.seconds(1)
        /// `camera.ring_slots`.
        public var ringSlots = 8
        /// `camera.simulator.ra`: the simulator's default pointing, degrees (nil: none).
        public var simulatorRA: Double?
        /// `camera.simulator.dec`: the simulator's default pointing, degrees (nil: none).
        public var simulatorDec: Double?
        /// `camera.simulator.focal_length`, in millimetres.
        public var simulatorFocalLength = 600.0
        /// `camera.simulator.rotation`, in degrees.
        public var simulatorRotation = 0.0
        /// `camera.simulator.catalog`: the astrometry.net index file whose stars the simulator renders.
        public var simulatorCatalog = "/usr/share/astrometry/index-tycho2-08.littleendian.fits"
    }

    /// The Andor SDK2 driver.
    public struct Andor: Sendable, Equatable {
        /// `andor.library`.
        public var library = "libandor.so"
        /// `andor.config_dir`.
        public var configDirectory = "/usr/local/etc/andor"
    }

    /// The filter wheel.
    public struct FilterWheel: Sendable, Equatable {
        /// `filterwheel.driver`.
        public var driver = FilterWheelDriverKind.simulator
        /// `filterwheel.address`: `HOST:PORT` of an evora filter wheel server.
        public var address = "127.0.0.1:5503"
        /// `filterwheel.filters`: filter names by slot.
        public var filters = ["Ha", "B", "V", "g", "r", "i"]
        /// `filterwheel.focus_offsets`: focuser steps by slot (Alpaca's FocusOffsets); empty
        /// means 0 for every filter.
        public var focusOffsets: [Int] = []

        /// The focus offset of every slot: `focusOffsets`, or 0 for each filter when empty.
        public var offsetsBySlot: [Int] { focusOffsets.isEmpty ? Array(repeating: 0, count: filters.count) : focusOffsets }
    }

    /// The processor process.
    public struct Processor: Sendable, Equatable {
        /// `processor.executable` (nil: beside `aperture`).
        public var executable: String?
        /// `processor.autostart`.
        public var autostart = true
        /// `processor.solve_field`: astrometry.net's solve-field program.
        public var solveField = "/usr/bin/solve-field"
        /// `processor.solve_time_limit`: how long one plate solve may run.
        public var solveTimeLimit = Duration.seconds(60)
    }

    /// The catalog process.
    public struct Catalog: Sendable, Equatable {
        /// `catalog.executable` (nil: beside `aperture`).
        public var executable: String?
        /// `catalog.reconcile_interval`: how often the catalog compares itself with the data folders.
        public var reconcileInterval = Duration.seconds(60)
    }

    /// The facility's NATS servers and its stream of frames (docs/scale-out.md).
    public struct NATS: Sendable, Equatable {
        /// `nats.url`: one or more server URLs, comma-separated.
        public var url = "nats://127.0.0.1:4222"
        /// `nats.credentials`: a `.creds` file, or empty for none.
        public var credentials = ""
        /// `nats.tls_ca`: PEM certificate authorities to trust (TLS), or empty.
        public var tlsCA = ""
        /// `nats.tls_cert`: this client's PEM certificate chain (mutual TLS), or empty.
        public var tlsCertificate = ""
        /// `nats.tls_key`: this client's PEM private key, or empty.
        public var tlsKey = ""
        /// `nats.stream`: the JetStream stream of frames.
        public var stream = "APERTURE_FRAMES"
        /// `nats.stream_replicas`: copies of the stream in a JetStream cluster.
        public var streamReplicas = 1
        /// `nats.stream_max_bytes`: the stream's size limit (publishes are refused past it), 0 for none.
        public var streamMaximumBytes = 0
        /// `nats.stream_max_age`: how long the stream keeps a message nobody acknowledged, 0 for ever.
        public var streamMaximumAge = Duration.seconds(7 * 86400)
        /// `nats.duplicate_window`: how long the server remembers message ids to drop re-sends.
        public var duplicateWindow = Duration.seconds(600)
    }

    /// The export of frames to the facility (docs/scale-out.md).
    public struct Export: Sendable, Equatable {
        /// `export.enabled`: whether the catalog sends its frames.
        public var enabled = false
        /// `export.chunk_bytes`: the most bytes of a file one message carries.
        public var chunkBytes = (1 << 20) - 4096
        /// `export.window`: messages sent and not yet acknowledged, at most.
        public var window = 32
        /// `export.ack_timeout`: how long a message may wait for the server's acknowledgment.
        public var ackTimeout = Duration.seconds(10)
        /// `export.backoff_max`: the longest pause between attempts while NATS is unreachable.
        public var backoffMaximum = Duration.seconds(30)
    }

    /// The gateway process.
    public struct Gateway: Sendable, Equatable {
        /// `gateway.executable` (nil: beside `aperture`).
        public var executable: String?
        /// `gateway.listen`'s host (brackets of an IPv6 address removed) and port (0: a free one).
        public var host = "127.0.0.1"
        /// `gateway.listen`'s port (0: a free one).
        public var port = 8000
        /// `gateway.token` (or `gateway.token_file`); empty: none.
        public var token = ""
        /// `gateway.max_body`, in bytes.
        public var maxBody = 1 << 20
        /// `gateway.sse_buffer`: events queued per `/v1/events` client.
        public var eventBuffer = 256
        /// `gateway.sse_clients`: `/v1/events` streams open at once.
        public var eventClients = 512
        /// `gateway.idle_timeout`.
        public var idleTimeout = Duration.seconds(60)
        /// `gateway.read_timeout`.
        public var readTimeout = Duration.seconds(30)
        /// `gateway.sse_write_timeout`.
        public var eventWriteTimeout = Duration.seconds(30)
        /// `gateway.allowed_hosts`, lower case (`*`: any).
        public var allowedHosts: [String] = []
        /// `gateway.cors_origins`: the browser origins (`scheme://host[:port]`, lower case) whose pages may call
        /// the gateway, as evora-server's CORS allowed; `*` for any; empty: none but the gateway's own pages.
        public var corsOrigins: [String] = []
    }

    /// Where the telescope stands (`site.*`); nil: unknown, and the keywords that need it are
    /// left out of the headers.
    public struct Site: Sendable, Equatable {
        /// `site.latitude`, degrees north.
        public var latitude: Double?
        /// `site.longitude`, degrees east.
        public var longitude: Double?
        /// `site.elevation`, metres above sea level.
        public var elevation: Double?
        /// `site.name`: the site's facility-wide name (FITS SITE, catalog rows, export subjects).
        public var name = "local"

        /// A site; what is not given is unknown.
        public init(latitude: Double? = nil, longitude: Double? = nil, elevation: Double? = nil, name: String = "local") {
            self.latitude = latitude
            self.longitude = longitude
            self.elevation = elevation
            self.name = name
        }
    }

    /// Where `/getWeatherData` and the dashboard's weather panel read the weather.
    public struct Weather: Sendable, Equatable {
        /// `weather.source`.
        public var source = WeatherSourceKind.none
        /// `weather.url`: the Alpaca server's base (`http://HOST:PORT`) or the JSON document's URL.
        public var url = ""
        /// `weather.alpaca_device`: the ObservingConditions device number.
        public var alpacaDevice = 0
        /// `weather.fields`: for the `http` source, which JSON member (a dotted path) holds each quantity.
        public var fields: [WeatherFieldMapping] = []
        /// `weather.timeout`: the longest wait for the source.
        public var timeout = Duration.seconds(3)
        /// `weather.max_age`: a reading younger than this is served again without asking the source.
        public var maximumAge = Duration.seconds(30)
    }

    /// The gateway's ASCOM Alpaca listener.
    public struct Alpaca: Sendable, Equatable {
        /// `alpaca.port` (0: a free port; -1: off).
        public var port = 11111
        /// `alpaca.discovery_port`.
        public var discoveryPort = 32227
        /// `alpaca.discovery`.
        public var discovery = AlpacaDiscoveryMode.auto
        /// `alpaca.allow_from` (empty: every client).
        public var allowFrom: [AddressRange] = []
        /// `alpaca.allow_unauthenticated`.
        public var allowUnauthenticated = false
    }

    /// The supervisor.
    public struct Supervisor: Sendable, Equatable {
        /// `supervisor.ping_interval`.
        public var pingInterval = Duration.seconds(1)
        /// `supervisor.ping_timeout`.
        public var pingTimeout = Duration.milliseconds(500)
        /// `supervisor.max_missed_pings`.
        public var maxMissedPings = 3
        /// `supervisor.start_timeout`.
        public var startTimeout = Duration.seconds(30)
        /// `supervisor.stop_grace`.
        public var stopGrace = Duration.seconds(5)
        /// `supervisor.restart_intensity`, `supervisor.restart_period`.
        public var restartIntensity = 5
        /// `supervisor.restart_period`: the window `restart_intensity` counts failures in.
        public var restartPeriod = Duration.seconds(60)
        /// `supervisor.backoff_initial`, `supervisor.backoff_max`.
        public var backoffInitial = Duration.milliseconds(100)
        /// `supervisor.backoff_max`: the longest restart delay.
        public var backoffMaximum = Duration.seconds(10)
        /// `supervisor.stable_period`.
        public var stablePeriod = Duration.seconds(60)
    }

    /// The facility archive (aperture-archive, docs/archive.md).
    public struct Archive: Sendable, Equatable {
        /// `archive.executable` (nil: beside `aperture`).
        public var executable: String?
        /// `archive.root`: the central data root, `ROOT/SITE/CAMERA/YYYYMMDD/...`.
        public var root = "./archive"
        /// `archive.postgres_url`: where the archive's PostgreSQL database is.
        public var postgres = PostgresURL(host: "127.0.0.1", port: 5432, user: "aperture", database: "aperture")
        /// `archive.postgres_password_file`: a file holding the database password (first line); nil: none.
        public var postgresPasswordFile: String?
        /// `archive.listen`'s host.
        public var host = "127.0.0.1"
        /// `archive.listen`'s port (0: a free one).
        public var port = 8100
        /// `archive.durable`: the JetStream durable consumer's name.
        public var durable = "aperture-archive"
        /// `archive.incomplete_timeout`: how long a row waits for its chunks before it is reported.
        public var incompleteTimeout = Duration.seconds(60)
        /// `archive.ack_wait`: how long the server waits for an acknowledgement before it sends a
        /// message again (longer than ``incompleteTimeout``).
        public var ackWait = Duration.seconds(90)
        /// `archive.max_ack_pending`: messages the consumer may hold unacknowledged.
        public var maxAckPending = 4096
    }
}

/// `log.level`: swift-log's levels, by name.
public enum LogLevel: String, Sendable, CaseIterable {
    /// Everything, down to each bus message.
    case trace
    /// Details for finding a fault.
    case debug
    /// What happened: starts, stops, saved files (the default).
    case info
    /// Noteworthy but normal events.
    case notice
    /// Something went wrong and was handled.
    case warning
    /// A request or a device failed.
    case error
    /// The process cannot go on.
    case critical
}

/// `camera.driver`.
public enum CameraDriverKind: String, Sendable, CaseIterable {
    /// A physical model of a CCD, built in.
    case simulator
    /// The Andor SDK2, loaded with dlopen (`andor.library`).
    case andor
}

/// `filterwheel.driver`.
public enum FilterWheelDriverKind: String, Sendable, CaseIterable {
    /// A wheel in memory.
    case simulator
    /// The evora TCP line protocol at `filterwheel.address`.
    case evora
}

/// `weather.source`.
public enum WeatherSourceKind: String, Sendable, CaseIterable {
    /// No weather source: `/getWeatherData` answers an error saying so.
    case none
    /// An ASCOM Alpaca ObservingConditions device (`weather.url`, `weather.alpaca_device`).
    case alpaca
    /// A JSON document over HTTP (`weather.url`), its members chosen by `weather.fields`.
    case http
}

/// One quantity of `weather.fields`: `QUANTITY=PATH`, e.g. `temperature_c=main.temp`.
public struct WeatherFieldMapping: Sendable, Equatable, CustomStringConvertible {
    /// The quantities a source can give, in the units their names say.
    public static let quantities = ["temperature_c", "temperature_f", "humidity", "dew_point_c", "pressure_hpa",
                                    "wind_speed_ms", "wind_speed_mph", "wind_gust_ms", "wind_direction",
                                    "rain_rate_mm", "cloud_cover", "sky_quality", "sky_temperature_c"]
    /// One of ``quantities``.
    public var quantity: String
    /// The member's dotted path in the JSON document (`main.temp`, `data.0.tempf`).
    public var path: [String]

    /// `quantity=a.b.c`.
    public var description: String { quantity + "=" + path.joined(separator: ".") }

    /// Reads `QUANTITY=PATH`; nil when it has another form or names an unknown quantity.
    public init?(_ text: String) {
        let parts = text.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, Self.quantities.contains(parts[0]) else { return nil }
        let path = parts[1].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty && $0.count <= 64 }) else { return nil }
        quantity = parts[0]
        self.path = path
    }
}

/// `alpaca.discovery`.
public enum AlpacaDiscoveryMode: String, Sendable, CaseIterable {
    /// On unless the gateway listens on loopback only.
    case auto
    /// Always answer discovery queries.
    case on
    /// Never answer them.
    case off
}

extension ApertureConfiguration {
    /// Checks the simulator's default pointing: `camera.simulator.ra` and `.dec` both set or
    /// neither, and with them (and the simulator driver) a readable `camera.simulator.catalog`.
    /// The camera process calls it at start, so it refuses to start without the catalogue it
    /// would need for every object frame.
    /// - Throws: ``ConfigurationError`` naming the key.
    public func checkSimulatorPointing() throws(ConfigurationError) {
        switch (camera.simulatorRA, camera.simulatorDec) {
        case (.some, nil):
            throw ConfigurationError("camera.simulator.dec: must be set with camera.simulator.ra (set both or neither)",
                                     key: "camera.simulator.dec")
        case (nil, .some):
            throw ConfigurationError("camera.simulator.ra: must be set with camera.simulator.dec (set both or neither)",
                                     key: "camera.simulator.ra")
        case (.some, .some) where camera.driver == .simulator:
            guard FileManager.default.isReadableFile(atPath: camera.simulatorCatalog) else {
                throw ConfigurationError("camera.simulator.catalog = '\(camera.simulatorCatalog)': cannot be read, and "
                    + "camera.simulator.ra/dec ask for the real sky (install astrometry-data-tycho2-08-littleendian)",
                                         key: "camera.simulator.catalog")
            }
        default:
            break
        }
    }

    /// Checks that an Alpaca listener beyond loopback was chosen knowingly: it needs
    /// `alpaca.allow_from` or `alpaca.allow_unauthenticated = true`, since Alpaca clients send no
    /// token. The gateway calls it at start, after its own "no token beyond loopback" rule.
    /// - Throws: ``ConfigurationError`` naming the keys.
    public func checkAlpacaListener() throws(ConfigurationError) {
        if alpaca.port >= 0, !Self.isLoopback(gateway.host), alpaca.allowFrom.isEmpty, !alpaca.allowUnauthenticated {
            throw ConfigurationError(
                "gateway.listen = \(gateway.host):\(gateway.port) is not a loopback address and alpaca.port = \(alpaca.port) is on: "
                + "Alpaca clients send no token, so the Alpaca listener would answer anyone who reaches it. "
                + "Set alpaca.allow_from (CIDRs of the clients, e.g. 192.168.1.0/24), or alpaca.allow_unauthenticated = true, "
                + "or alpaca.port = -1 to turn Alpaca off.", key: "alpaca.port")
        }
    }

    /// Checks that `filterwheel.focus_offsets`, when given, has one offset per filter of
    /// `filterwheel.filters`. The gateway calls it at start (its Alpaca FilterWheel serves them).
    /// - Throws: ``ConfigurationError`` naming the key, the value and the rule.
    public func checkFocusOffsets() throws(ConfigurationError) {
        let offsets = filterWheel.focusOffsets
        guard offsets.isEmpty || offsets.count == filterWheel.filters.count else {
            throw ConfigurationError(
                "filterwheel.focus_offsets = '\(offsets.map(String.init).joined(separator: ","))': \(offsets.count) offset(s) for "
                + "\(filterWheel.filters.count) filters (filterwheel.filters = \(filterWheel.filters.joined(separator: ","))); "
                + "give one integer per filter, in slot order, or leave it empty for 0 each", key: "filterwheel.focus_offsets")
        }
    }

    /// Checks that a weather source has what it needs: a URL for `alpaca` and `http`, and at
    /// least one field mapping for `http`. The gateway calls it at start.
    /// - Throws: ``ConfigurationError`` naming the key.
    public func checkWeatherSource() throws(ConfigurationError) {
        switch weather.source {
        case .none: return
        case .alpaca, .http:
            if weather.url.isEmpty {
                throw ConfigurationError("weather.source = \(weather.source.rawValue) needs weather.url "
                                         + "(the Alpaca server's http://HOST:PORT, or the JSON document's URL)", key: "weather.url")
            }
            if weather.source == .http, weather.fields.isEmpty {
                throw ConfigurationError("weather.source = http needs weather.fields, e.g. "
                                         + "temperature_c=main.temp,humidity=main.humidity,wind_speed_ms=wind.speed", key: "weather.fields")
            }
        }
    }

    /// Whether a listen host is loopback only: `localhost`, `::1`, or a numeric 127.x.x.x
    /// (a name such as `127.example.org` is not).
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        guard let address = AddressRange.bytes(of: host), address.count == 4 else { return false }
        return address[0] == 127
    }
}

/// `data.compression`.
public enum DataCompression: String, Sendable, CaseIterable {
    /// Plain FITS files, `PREFIX-NNNN.fits`.
    case none
    /// cfitsio's Rice tile compression (lossless for the 16-bit frames), `PREFIX-NNNN.fits.fz`:
    /// an empty primary HDU and the image in a compressed BINTABLE extension, as fpack writes.
    case rice
}

/// A PostgreSQL server and database, from `postgres://USER@HOST[:PORT]/DATABASE` (`archive.postgres_url`).
/// A password is never part of it (`archive.postgres_password_file`).
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    /// The server's host name or address.
    public var host: String
    /// The server's TCP port.
    public var port: Int
    /// The role to connect as.
    public var user: String
    /// The database.
    public var database: String

    /// The rule, for error messages.
    public static let rule = "postgres://USER@HOST[:PORT]/DATABASE, without a password"

    /// Creates a location.
    public init(host: String, port: Int, user: String, database: String) {
        self.host = host
        self.port = port
        self.user = user
        self.database = database
    }

    /// Parses a URL; the reason it is refused otherwise.
    public static func parse(_ text: String) -> Result<PostgresURL, ConfigurationKey.Invalid> {
        func name(_ part: Substring) -> Bool {
            !part.isEmpty && part.count <= 63 && part.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.".contains($0)) }
        }
        var rest = Substring(text)
        guard let scheme = ["postgres://", "postgresql://"].first(where: { rest.hasPrefix($0) }) else {
            return .failure(.init("must be \(rule) (it starts with postgres://)"))
        }
        rest = rest.dropFirst(scheme.count)
        guard let at = rest.firstIndex(of: "@") else { return .failure(.init("must name a user: \(rule)")) }
        let user = rest[..<at]
        if user.contains(":") { return .failure(.init("must not hold a password (use archive.postgres_password_file)")) }
        guard name(user) else { return .failure(.init("'\(user.prefix(64))' is not a user name (letters, digits, '_', '-', '.')")) }
        rest = rest[rest.index(after: at)...]
        guard let slash = rest.firstIndex(of: "/") else { return .failure(.init("must name a database: \(rule)")) }
        var host = rest[..<slash]
        let database = rest[rest.index(after: slash)...]
        guard name(database) else {
            return .failure(.init("'\(database.prefix(64))' is not a database name (letters, digits, '_', '-', '.')"))
        }
        var port = 5432
        if let colon = host.lastIndex(of: ":"), !host.hasSuffix("]") {
            guard let number = Int(host[host.index(after: colon)...]), (1...65535).contains(number) else {
                return .failure(.init("'\(host[host.index(after: colon)...].prefix(16))' is not a port from 1 to 65535"))
            }
            port = number
            host = host[..<colon]
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        guard !host.isEmpty, host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:_".contains($0)) }) else {
            return .failure(.init("must name a host: \(rule)"))
        }
        return .success(PostgresURL(host: String(host), port: port, user: String(user), database: String(database)))
    }

    /// The URL, as it is written in the configuration.
    public var description: String {
        "postgres://\(user)@\(host.contains(":") ? "[\(host)]" : host):\(port)/\(database)"
    }
}
