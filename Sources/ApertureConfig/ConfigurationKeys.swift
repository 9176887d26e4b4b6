import ApertureProtocol
import Foundation

extension ApertureConfiguration {
    /// Every key, declared once: its name, the field it sets, its allowed values and its meaning.
    /// The field's type and default are in ``ApertureConfiguration``. Applied in this order from
    /// the environment (`gateway.token_file` after `gateway.token`, so the file wins).
    public static let keys: [ConfigurationKey] = [
        // Where things live.
        .text("runtime.directory", \.storage.runtimeDirectory, rule: "a directory path of at most \(maximumRuntimePath) bytes",
              defaultNote: "./run ($RUNTIME_DIRECTORY under systemd)", "directory of the bus's ipc sockets, created 0700") {
            if $0.isEmpty { return "must not be empty" }
            return $0.utf8.count <= maximumRuntimePath
                ? nil : "is too long for unix socket paths (at most \(maximumRuntimePath) bytes)"
        },
        .text("data.root", \.storage.dataRoot, rule: "a directory path",
              "where FITS files go: DATA_ROOT/YYYYMMDD/PREFIX-NNNN.fits") { $0.isEmpty ? "must not be empty" : nil },
        .text("data.prefix", \.storage.filePrefix, rule: fileNameRule, "file name prefix") {
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
            return !$0.isEmpty && $0.unicodeScalars.allSatisfy(allowed.contains) && !$0.hasPrefix(".")
                ? nil : "must be \(fileNameRule)"
        },
        .choice("data.compression", \.storage.compression,
                "how frames are saved: none (PREFIX-NNNN.fits) or rice (PREFIX-NNNN.fits.fz, cfitsio's lossless Rice tile compression, as fpack)"),
        .text("state.directory", \.storage.stateDirectory, rule: "a directory path",
              defaultNote: "./state ($STATE_DIRECTORY under systemd)",
              "state kept across restarts (the Alpaca device's UniqueID)") { $0.isEmpty ? "must not be empty" : nil },
        .choice("log.level", \.log.level, "the lowest level logged (journald priority under systemd)"),

        // The camera.
        .choice("camera.driver", \.camera.driver, "the camera: the built-in simulator, or an Andor CCD through the SDK2"),
        .text("camera.name", \.camera.name, rule: facilityNameRule,
              "the camera's facility-wide name: FITS CAMERA, the catalog's camera column, the export's subjects; "
              + "aperture@NAME.service sets it to NAME", check: facilityName),
        .executable("camera.executable", \.camera.executable, "the camera process's program"),
        .integer("camera.width", \.camera.width, 16...16384, "simulated sensor width in pixels"),
        .integer("camera.height", \.camera.height, 16...16384, "simulated sensor height in pixels"),
        .value("camera.seed", \.camera.seed, rule: "a non-negative integer",
               "simulator random seed: the same seed gives the same frames") { (text: String) throws(ConfigurationKey.Invalid) in
            guard let seed = UInt64(text) else { throw .init("must be a non-negative integer") }
            return seed
        },
        .number("camera.time_scale", \.camera.timeScale, rule: "a number above 0 and at most 100",
                "simulator: real seconds per simulated second (0.01 = 100x faster)") { $0 > 0 && $0 <= 100 },
        .seconds("camera.max_exposure", \.camera.maximumExposure, 0.001...86400, "longest exposure accepted, in seconds"),
        .text("camera.instrument", \.camera.instrument, rule: fitsStringRule, "FITS INSTRUME", check: fitsString),
        .text("camera.telescope", \.camera.telescope, rule: fitsStringRule, "FITS TELESCOP", check: fitsString),
        .text("camera.observer", \.camera.observer, rule: fitsStringRule, "FITS OBSERVER when a request names none",
              check: fitsString),
        .number("camera.warmup_temperature", \.camera.warmupTemperature, rule: "degrees Celsius from -120 to 40",
                "warm the sensor to at least this (C) before releasing the camera") { (-120...40).contains($0) },
        .seconds("camera.warmup_timeout", \.camera.warmupTimeout, 0...3600, "longest wait for the warm-up at shutdown, in seconds"),
        .seconds("camera.sdk_call_timeout", \.camera.sdkCallTimeout, 0.5...3600,
                 "an SDK call running longer than this (s) marks the camera wedged"),
        .seconds("camera.telemetry_interval", \.camera.telemetryInterval, 0.05...60, "seconds between telemetry events"),
        .integer("camera.ring_slots", \.camera.ringSlots, 2...1024,
                 "frames held by the shared-memory frame ring (camera.frames in the runtime directory)"),
        .value("camera.simulator.ra", \.camera.simulatorRA, rule: "degrees from 0 up to (not including) 360, or empty for none",
               defaultNote: "(none)", "simulator: right ascension (J2000) of an exposure that names none: the "
                   + "real stars of camera.simulator.catalog instead of a synthetic field; with camera.simulator.dec",
               parse: { (text: String) throws(ConfigurationKey.Invalid) -> Double? in
                   if text.isEmpty { return nil }
                   guard let degrees = Double(text), degrees.isFinite, (0..<360).contains(degrees) else {
                       throw .init("must be degrees from 0 up to (not including) 360")
                   }
                   return degrees
               }, show: { $0.map(numberText) }),
        .value("camera.simulator.dec", \.camera.simulatorDec, rule: "degrees from -90 to 90, or empty for none", defaultNote: "(none)",
               "simulator: declination (J2000) of an exposure that names none; with camera.simulator.ra",
               parse: { (text: String) throws(ConfigurationKey.Invalid) -> Double? in
                   if text.isEmpty { return nil }
                   guard let degrees = Double(text), degrees.isFinite, (-90...90).contains(degrees) else {
                       throw .init("must be degrees from -90 to 90")
                   }
                   return degrees
               }, show: { $0.map(numberText) }),
        .number("camera.simulator.focal_length", \.camera.simulatorFocalLength, rule: "millimetres above 0 and at most 100000",
                "simulator: the telescope's focal length in mm (FOCALLEN; sets the pixel scale)") { $0 > 0 && $0 <= 100_000 },
        .number("camera.simulator.rotation", \.camera.simulatorRotation, rule: "degrees from -360 to 360",
                "simulator: the field's rotation in degrees (0: north up, east left)") { (-360...360).contains($0) },
        .text("camera.simulator.catalog", \.camera.simulatorCatalog, rule: "a file path",
              "simulator: the astrometry.net index file whose stars a pointed exposure shows") {
            $0.isEmpty ? "must name a file" : nil
        },
        .text("andor.library", \.andor.library, rule: "a library name or path", "the Andor SDK2 library (dlopen path)") {
            $0.isEmpty ? "must name a library" : nil
        },
        .text("andor.config_dir", \.andor.configDirectory, rule: "a directory path", "directory passed to the SDK's Initialize") {
            $0.isEmpty ? "must name a directory" : nil
        },
        .choice("filterwheel.driver", \.filterWheel.driver, "the filter wheel: in memory, or an evora server (TCP line protocol)"),
        .text("filterwheel.address", \.filterWheel.address, rule: "HOST:PORT with a port from 1 to 65535",
              "HOST:PORT of the evora filter wheel server") {
            guard let colon = $0.lastIndex(of: ":"), let port = Int($0[$0.index(after: colon)...]),
                  (1...65535).contains(port), colon != $0.startIndex else {
                return "must be HOST:PORT with a port from 1 to 65535"
            }
            return nil
        },
        .list("filterwheel.filters", \.filterWheel.filters, rule: "distinct, non-empty names separated by commas",
              "filter names by slot, comma separated") { (names: [String]) throws(ConfigurationKey.Invalid) in
            guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty && $0.count <= 32 }), Set(names).count == names.count else {
                throw .init("must be distinct, non-empty names separated by commas")
            }
            return names
        },
        .value("filterwheel.focus_offsets", \.filterWheel.focusOffsets,
               rule: "integers from -1000000 to 1000000 separated by commas, one per filter, or empty for 0 each",
               defaultNote: "(empty: 0 for every filter)",
               "focuser steps to add for each filter, by slot (the Alpaca filter wheel's FocusOffsets)",
               parse: { (text: String) throws(ConfigurationKey.Invalid) -> [Int] in
                   if text.trimmingCharacters(in: .whitespaces).isEmpty { return [] }
                   return try text.split(separator: ",", omittingEmptySubsequences: false).map { (item: Substring) throws(ConfigurationKey.Invalid) -> Int in
                       guard let value = Int(item.trimmingCharacters(in: .whitespaces)), (-1_000_000...1_000_000).contains(value) else {
                           throw .init("must be integers from -1000000 to 1000000 separated by commas ('\(item)' is not)")
                       }
                       return value
                   }
               }, show: { $0.map(String.init).joined(separator: ",") }),

        // The processor.
        .executable("processor.executable", \.processor.executable, "the processor process's program"),
        .flag("processor.autostart", \.processor.autostart, "analyse frames from the start (psen start/stop switch it later)"),
        .text("processor.solve_field", \.processor.solveField, rule: "an absolute path",
              "astrometry.net's solve-field, run by plate solves (Debian package astrometry.net)") {
            $0.hasPrefix("/") ? nil : "must be an absolute path"
        },
        .seconds("processor.solve_time_limit", \.processor.solveTimeLimit, 1...600,
                 "the longest a plate solve may run (s) when the request gives no time_limit"),

        // The catalog.
        .executable("catalog.executable", \.catalog.executable, "the catalog process's program"),
        .seconds("catalog.reconcile_interval", \.catalog.reconcileInterval, 1...86400,
                 "seconds between the catalog's comparisons with the data folders (files the events missed, files gone)"),

        // The gateway.
        .executable("gateway.executable", \.gateway.executable, "the gateway process's program"),
        ConfigurationKey("gateway.listen", rule: "HOST:PORT with a port from 0 to 65535",
                         "HTTP listen address HOST:PORT; port 0 picks a free port", parse: listenAddress,
                         assign: { $0.gateway.host = $1.host; $0.gateway.port = $1.port },
                         show: { ($0.gateway.host.contains(":") ? "[\($0.gateway.host)]" : $0.gateway.host) + ":\($0.gateway.port)" }),
        .text("gateway.token", \.gateway.token, rule: "at least 16 printable ASCII characters without spaces, or empty",
              "bearer token required by state-changing HTTP requests; required when gateway.listen is not loopback") {
            if !$0.isEmpty && $0.count < 16 { return "must be at least 16 characters (or empty for none)" }
            return $0.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) ? nil : "must be printable ASCII without spaces"
        },
        ConfigurationKey("gateway.token_file", rule: "a readable file", defaultNote: "(none)",
                         "a file holding gateway.token (first line), e.g. a systemd credential", action: tokenFile),
        .integer("gateway.max_body", \.gateway.maxBody, 1024...(1 << 30), rule: "a number of bytes from 1024 to 1073741824",
                 "largest HTTP request body accepted, in bytes"),
        .integer("gateway.sse_buffer", \.gateway.eventBuffer, 1...100_000, rule: "from 1 to 100000",
                 "events queued per /v1/events client before the oldest are dropped (and counted)"),
        .integer("gateway.sse_clients", \.gateway.eventClients, 1...4096, "most /v1/events streams open at once"),
        .seconds("gateway.idle_timeout", \.gateway.idleTimeout, 1...3600,
                 "seconds a connection of either HTTP listener may stay open with no request in progress"),
        .seconds("gateway.read_timeout", \.gateway.readTimeout, 1...3600,
                 "seconds a client has to send a request's body once its head arrived"),
        .seconds("gateway.sse_write_timeout", \.gateway.eventWriteTimeout, 1...3600,
                 "seconds a write to a /v1/events client may wait before the stream is ended"),
        .list("gateway.allowed_hosts", \.gateway.allowedHosts, rule: "host names separated by commas, or *",
              "Host names accepted besides IP addresses, localhost, the machine's name and the listen host; * for any") {
            (names: [String]) throws(ConfigurationKey.Invalid) in
            let names = names.map { $0.lowercased() }.filter { !$0.isEmpty }
            let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyz0123456789-.*")
            for name in names where !name.unicodeScalars.allSatisfy(allowed.contains) || (name.contains("*") && name != "*") {
                throw .init("'\(name)' is not a host name (letters, digits, '-' and '.', without a port) or *")
            }
            return names
        },

        .list("gateway.cors_origins", \.gateway.corsOrigins, rule: "origins such as http://host:3000 separated by commas, or *",
              "browser origins whose pages may call the gateway (CORS, as evora-server allowed); * for any; empty for none") {
            (origins: [String]) throws(ConfigurationKey.Invalid) in
            try origins.filter { !$0.isEmpty }.map { (origin: String) throws(ConfigurationKey.Invalid) -> String in
                if origin == "*" { return origin }
                let lower = origin.lowercased()
                guard let range = lower.range(of: "://"), ["http", "https"].contains(String(lower[..<range.lowerBound])),
                      !lower[range.upperBound...].isEmpty, !lower[range.upperBound...].contains("/") else {
                    throw .init("'\(origin)' is not an origin such as http://evora.local:3000 (scheme and host, no path), or *")
                }
                return lower
            }
        },

        // Alpaca.
        .integer("alpaca.port", \.alpaca.port, -1...65535, rule: "a port from 0 to 65535, or -1 for off",
                 "ASCOM Alpaca listener port on the gateway's host; 0 picks a free port, -1 turns it off"),
        .integer("alpaca.discovery_port", \.alpaca.discoveryPort, 0...65535, rule: "a port from 0 to 65535",
                 "Alpaca UDP discovery port"),
        .choice("alpaca.discovery", \.alpaca.discovery, "Alpaca UDP discovery; auto: on unless the gateway listens on loopback only"),
        .list("alpaca.allow_from", \.alpaca.allowFrom, rule: "CIDRs separated by commas",
              "CIDRs (IPv4, IPv6) whose clients the Alpaca listener answers; others get 403") {
            (texts: [String]) throws(ConfigurationKey.Invalid) in
            var ranges: [AddressRange] = []
            for text in texts where !text.isEmpty {
                guard let range = AddressRange(text) else {
                    throw .init("'\(text)' is not a CIDR such as 192.168.1.0/24, 10.0.0.7 or fd00::/8")
                }
                ranges.append(range)
            }
            return ranges
        },
        .flag("alpaca.allow_unauthenticated", \.alpaca.allowUnauthenticated,
              "answer every Alpaca client on a non-loopback gateway.listen"),

        // The site (FITS SITELAT, SITELONG, SITEELEV, and AIRMASS with a pointing).
        .optionalNumber("site.latitude", \.site.latitude, -90...90, unit: "degrees north",
                        "the site's latitude: FITS SITELAT, and AIRMASS with site.longitude and a pointing"),
        .optionalNumber("site.longitude", \.site.longitude, -180...180, unit: "degrees east",
                        "the site's longitude: FITS SITELONG, and AIRMASS with site.latitude and a pointing"),
        .optionalNumber("site.elevation", \.site.elevation, -500...9000, unit: "metres",
                        "the site's elevation above sea level: FITS SITEELEV"),
        .text("site.name", \.site.name, rule: facilityNameRule,
              "the site's facility-wide name: FITS SITE, the catalog's site column, the export's subjects",
              check: facilityName),

        // The facility's NATS (docs/scale-out.md).
        .text("nats.url", \.nats.url, rule: "nats:// or tls:// URLs separated by commas",
              "the facility's NATS servers (the export, live status, aperture-archive)") { text in
            let urls = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            return !urls.isEmpty && urls.allSatisfy { ($0.hasPrefix("nats://") || $0.hasPrefix("tls://")) && $0.count > 7 }
                ? nil : "must be nats:// or tls:// URLs separated by commas"
        },
        .text("nats.credentials", \.nats.credentials, rule: "an absolute path, or empty",
              "a NATS .creds file (user JWT and NKey seed) for a secured server", check: optionalAbsolutePath),
        .text("nats.tls_ca", \.nats.tlsCA, rule: "an absolute path, or empty",
              "PEM certificate authorities to trust: the connection uses TLS", check: optionalAbsolutePath),
        .text("nats.tls_cert", \.nats.tlsCertificate, rule: "an absolute path, or empty",
              "this client's PEM certificate chain, for servers that verify clients (with nats.tls_key)", check: optionalAbsolutePath),
        .text("nats.tls_key", \.nats.tlsKey, rule: "an absolute path, or empty", "this client's PEM private key",
              check: optionalAbsolutePath),
        .text("nats.stream", \.nats.stream, rule: "1 to 64 letters, digits, '_' or '-'",
              "the JetStream stream that carries frames to aperture-archive") { name in
            (1...64).contains(name.utf8.count) && name.unicodeScalars.allSatisfy {
                CharacterSet.alphanumerics.contains($0) && $0.isASCII || $0 == "_" || $0 == "-"
            } ? nil : "must be 1 to 64 letters, digits, '_' or '-'"
        },
        .integer("nats.stream_replicas", \.nats.streamReplicas, 1...5,
                 "copies of the stream in a JetStream cluster (3 in production)"),
        .integer("nats.stream_max_bytes", \.nats.streamMaximumBytes, 0...(1 << 50), rule: "a number of bytes from 0 (no limit) to 2^50",
                 "the stream's size: past it new frames are refused (and wait on the camera hosts), never old ones discarded"),
        .seconds("nats.stream_max_age", \.nats.streamMaximumAge, 0...31_536_000,
                 "how long the stream keeps a message not yet consumed (0: for ever)"),
        .seconds("nats.duplicate_window", \.nats.duplicateWindow, 1...86400,
                 "how long the server drops a re-sent message id (beyond it the archive is idempotent itself)"),

        // The export of frames to the facility (docs/scale-out.md).
        .flag("export.enabled", \.export.enabled, "send every catalogued frame (file and row) to the facility's JetStream"),
        .integer("export.chunk_bytes", \.export.chunkBytes, 1024...(1 << 20),
                 "the most bytes of a file one message carries (with its headers it must fit the server's max_payload)"),
        .integer("export.window", \.export.window, 1...1024, "messages sent and not yet acknowledged, at most"),
        .seconds("export.ack_timeout", \.export.ackTimeout, 0.1...300,
                 "how long a message waits for JetStream's acknowledgment before it counts as not sent"),
        .seconds("export.backoff_max", \.export.backoffMaximum, 0.1...3600,
                 "the longest pause between attempts while NATS is unreachable (the pause doubles from 0.1 s)"),

        // The weather (evora's /getWeatherData, the dashboard).
        .choice("weather.source", \.weather.source, "where the weather comes from: none, an Alpaca ObservingConditions device, or a JSON URL"),
        .text("weather.url", \.weather.url, rule: "an http:// or https:// URL, or empty",
              "the Alpaca server (http://HOST:PORT) or the JSON document's URL") {
            $0.isEmpty || $0.lowercased().hasPrefix("http://") || $0.lowercased().hasPrefix("https://")
                ? nil : "must be an http:// or https:// URL"
        },
        .integer("weather.alpaca_device", \.weather.alpacaDevice, 0...99, "the Alpaca ObservingConditions device number"),
        .list("weather.fields", \.weather.fields, rule: "QUANTITY=PATH pairs separated by commas",
              "for weather.source = http: the JSON member holding each quantity, e.g. temperature_c=main.temp,humidity=main.humidity") {
            (pairs: [String]) throws(ConfigurationKey.Invalid) in
            try pairs.filter { !$0.isEmpty }.map { (pair: String) throws(ConfigurationKey.Invalid) -> WeatherFieldMapping in
                guard let mapping = WeatherFieldMapping(pair) else {
                    throw .init("'\(pair)' is not QUANTITY=PATH with QUANTITY one of "
                                + WeatherFieldMapping.quantities.joined(separator: ", "))
                }
                return mapping
            }
        },
        .seconds("weather.timeout", \.weather.timeout, 0.1...30, "seconds the weather source has to answer"),
        .seconds("weather.max_age", \.weather.maximumAge, 0...3600, "seconds a weather reading is served again before the source is asked anew"),

        // The supervisor.
        .seconds("supervisor.ping_interval", \.supervisor.pingInterval, 0.05...60, "seconds between heartbeat pings to each child"),
        .seconds("supervisor.ping_timeout", \.supervisor.pingTimeout, 0.01...60, "seconds a child has to answer a ping"),
        .integer("supervisor.max_missed_pings", \.supervisor.maxMissedPings, 1...100,
                 "consecutive missed pings after which a child is killed and restarted"),
        .seconds("supervisor.start_timeout", \.supervisor.startTimeout, 0.1...600, "seconds a child has to answer its first ping"),
        .seconds("supervisor.stop_grace", \.supervisor.stopGrace, 0...300,
                 "seconds a child has to exit after SIGTERM before SIGKILL"),
        .integer("supervisor.restart_intensity", \.supervisor.restartIntensity, 0...1000,
                 "more failures than this within restart_period and a child goes FATAL"),
        .seconds("supervisor.restart_period", \.supervisor.restartPeriod, 1...86400, "seconds over which failures count"),
        .seconds("supervisor.backoff_initial", \.supervisor.backoffInitial, 0...60,
                 "seconds before the second consecutive restart (the first is immediate)"),
        .seconds("supervisor.backoff_max", \.supervisor.backoffMaximum, 0...3600, "longest delay between restarts, in seconds"),
        .seconds("supervisor.stable_period", \.supervisor.stablePeriod, 1...86400, "seconds of running that forget earlier failures"),

        // The facility archive, aperture-archive (docs/archive.md).
        .executable("archive.executable", \.archive.executable, "the archive process's program (aperture run --role archive)"),
        .text("archive.root", \.archive.root, rule: "a directory path",
              "the archive's central data root: ROOT/SITE/CAMERA/YYYYMMDD/NAME, chunks spooled in ROOT/.spool") {
            $0.isEmpty ? "must not be empty" : nil
        },
        .value("archive.postgres_url", \.archive.postgres, rule: PostgresURL.rule,
               "the archive's PostgreSQL server, role and database", parse: { (text: String) throws(ConfigurationKey.Invalid) in
                   try PostgresURL.parse(text).get()
               }),
        .value("archive.postgres_password_file", \.archive.postgresPasswordFile, rule: "an absolute path, or empty for none",
               defaultNote: "(none)", "a file holding the PostgreSQL password (first line), e.g. a systemd credential",
               parse: { (text: String) throws(ConfigurationKey.Invalid) -> String? in
                   if text.isEmpty { return nil }
                   guard text.hasPrefix("/") else { throw .init("must be an absolute path") }
                   return text
               }, show: { $0 ?? "" }),
        ConfigurationKey("archive.listen", rule: "HOST:PORT with a port from 0 to 65535",
                         "the archive's HTTP listen address HOST:PORT (/v1/frames, the facility dashboard); port 0 picks a free port",
                         parse: listenAddress,
                         assign: { $0.archive.host = $1.host; $0.archive.port = $1.port },
                         show: { ($0.archive.host.contains(":") ? "[\($0.archive.host)]" : $0.archive.host) + ":\($0.archive.port)" }),
        .text("archive.durable", \.archive.durable, rule: "1 to 32 letters, digits, '_' or '-'",
              "the archive's durable JetStream consumer (one per archive; a second archive with the same name shares the work)") {
            (1...32).contains($0.utf8.count) && $0.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-") })
                ? nil : "must be 1 to 32 letters, digits, '_' or '-'"
        },
        .seconds("archive.incomplete_timeout", \.archive.incompleteTimeout, 1...3600,
                 "seconds a frame's row waits for its chunks before the frame is reported incomplete and its row redelivered"),
        .seconds("archive.ack_wait", \.archive.ackWait, 1...86400,
                 "seconds the server waits for the archive's acknowledgement before it delivers a message again; "
                     + "more than archive.incomplete_timeout"),
        .integer("archive.max_ack_pending", \.archive.maxAckPending, 64...1_000_000,
                 "messages the archive's consumer may hold unacknowledged (chunks of frames in flight)"),
    ]

    /// The longest runtime directory whose sockets' paths (`/processor.events`, the longest
    /// name) fit a unix socket address (107 bytes).
    static let maximumRuntimePath = 107 - "/processor.events".utf8.count
    private static let fileNameRule = "letters, digits, '-', '_' or '.', not starting with '.'"
    private static let fitsStringRule = "printable ASCII of at most 68 characters (a FITS string)"

    /// ``FacilityName``'s rule, as the key list states it ("1 to 32 letters, ...").
    private static let facilityNameRule = String(FacilityName.rule.dropFirst("is not ".count))

    /// `site.name`, `camera.name`: the reason a name breaks ``FacilityName``'s rule, or nil.
    private static func facilityName(_ text: String) -> String? {
        FacilityName.isValid(text) ? nil : FacilityName.rule
    }

    private static func optionalAbsolutePath(_ text: String) -> String? {
        text.isEmpty || text.hasPrefix("/") ? nil : "must be an absolute path, or empty"
    }

    private static func fitsString(_ text: String) -> String? {
        text.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) && text.count <= 68
            ? nil : "must be \(fitsStringRule)"
    }

    /// `HOST:PORT`, brackets around an IPv6 host removed.
    private static func listenAddress(_ text: String) throws(ConfigurationKey.Invalid) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw .init("must be HOST:PORT with a port from 0 to 65535")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .init("must name a host") }
        return (host, port)
    }

    /// `gateway.token_file`: the token is the file's first line, checked as `gateway.token`.
    private static func tokenFile(_ configuration: inout ApertureConfiguration, _ path: String,
                                  _ source: String) throws(ConfigurationError) {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ConfigurationError("\(source): gateway.token_file = '\(path)': cannot be read", key: "gateway.token_file")
        }
        let token = text.split(separator: "\n").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        try configuration.set("gateway.token", token, source: "\(source) (\(path))")
    }
}
