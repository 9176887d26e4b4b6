import ApertureConfig
import AsyncHTTPClient
import Bus
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// One weather reading: each quantity the source gave, in the unit its name says
/// (``WeatherFieldMapping/quantities``), and when it was read.
struct WeatherReading: Sendable, Equatable {
    /// Quantity name → value (`temperature_c`, `humidity`, `wind_speed_ms`...).
    var values: [String: Double]
    /// When the source was read.
    var time: Date
    /// `alpaca` or `http`.
    var source: String
}

/// Reads the weather from `weather.source` for `/getWeatherData`, `/v1/weather` and the
/// dashboard: an ASCOM Alpaca ObservingConditions device, or a JSON document over HTTP with a
/// field mapping.
///
/// A reading is served again for `weather.max_age`; concurrent requests share one read of the
/// source, which has `weather.timeout` to answer, so no client can stall the gateway or hammer
/// the source. Every value is checked where it enters: a finite number, within the quantity's
/// physical range (``plausible``), or it is left out and named in the log.
final class WeatherSource: Sendable {
    let configuration: ApertureConfiguration.Weather
    private let logger: Logger
    private let state = Mutex<State>(State())

    private struct State {
        var last: WeatherReading?
        var inFlight: Task<WeatherReading, any Error>?
    }

    /// The largest document read from a source.
    static let maximumBody = 1 << 20

    /// The Alpaca ObservingConditions members read, and the quantity each gives.
    static let alpacaMembers: [(member: String, quantity: String)] = [
        ("temperature", "temperature_c"), ("humidity", "humidity"), ("dewpoint", "dew_point_c"),
        ("pressure", "pressure_hpa"), ("windspeed", "wind_speed_ms"), ("windgust", "wind_gust_ms"),
        ("winddirection", "wind_direction"), ("rainrate", "rain_rate_mm"), ("cloudcover", "cloud_cover"),
        ("skyquality", "sky_quality"), ("skytemperature", "sky_temperature_c"),
    ]

    /// The range a value of each quantity must lie in to be believed (ObservingConditions' own
    /// ranges where it gives them).
    static let plausible: [String: ClosedRange<Double>] = [
        "temperature_c": -100...70, "temperature_f": -148...158, "humidity": 0...100, "dew_point_c": -100...70,
        "pressure_hpa": 0...1200, "wind_speed_ms": 0...200, "wind_speed_mph": 0...450, "wind_gust_ms": 0...200,
        "wind_direction": 0...360, "rain_rate_mm": 0...1000, "cloud_cover": 0...100, "sky_quality": -10...30,
        "sky_temperature_c": -150...70,
    ]

    /// `weather.url` as messages show it: scheme, host, port and path, without a query or a
    /// `user:password@` (weather services take API keys there; the replies go to any client).
    let shownURL: String

    init(configuration: ApertureConfiguration.Weather, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        shownURL = Self.redacted(configuration.url)
    }

    /// A URL without its query, fragment and credentials.
    static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else { return "the configured weather.url" }
        parts.user = nil
        parts.password = nil
        parts.query = nil
        parts.fragment = nil
        return parts.string ?? "the configured weather.url"
    }

    /// The latest reading: the cached one while younger than `weather.max_age`, else a new read.
    /// - Throws: ``APIError`` 404 `not_configured` without a source; 502 `upstream_failed` when
    ///   the source failed or gave nothing usable; 504 `upstream_failed` when it did not answer
    ///   within `weather.timeout`.
    func reading(now: Date = Date()) async throws(APIError) -> WeatherReading {
        guard configuration.source != .none else {
            throw APIError(.notFound, .notConfigured,
                           "no weather source is configured: set weather.source (alpaca or http) and weather.url "
                           + "(docs/configuration.md)", field: "weather.source")
        }
        let task: Task<WeatherReading, any Error> = state.withLock { state in
            if let last = state.last, now.timeIntervalSince(last.time) < configuration.maximumAge.seconds {
                return Task { last }
            }
            if let running = state.inFlight { return running }
            let running = Task { try await self.read() }
            state.inFlight = running
            return running
        }
        do {
            let reading = try await task.value
            state.withLock { state in
                if state.inFlight == task { state.inFlight = nil }
                if reading.time > (state.last?.time ?? .distantPast) { state.last = reading }
            }
            return reading
        } catch {
            state.withLock { state in if state.inFlight == task { state.inFlight = nil } }
            throw error as? APIError ?? APIError(.badGateway, .upstreamFailed, "weather source: \(error)", field: "weather.url")
        }
    }

    /// Reads the source once.
    private func read() async throws -> WeatherReading {
        let values: [String: Double]
        switch configuration.source {
        case .none: values = [:]
        case .alpaca: values = try await readAlpaca()
        case .http: values = try readDocument(try await fetch(configuration.url))
        }
        let checked = Self.checked(values, logger: logger)
        guard !checked.isEmpty else {
            throw APIError(.badGateway, .upstreamFailed,
                           "the weather source at \(shownURL) gave no usable value", field: "weather.url")
        }
        return WeatherReading(values: Self.derived(checked), time: Date(), source: configuration.source.rawValue)
    }

    /// GETs a URL within `weather.timeout`; the body, at most ``maximumBody`` bytes.
    private func fetch(_ url: String) async throws(APIError) -> ByteBuffer {
        let shown = Self.redacted(url)
        let deadline = NIODeadline.now() + .nanoseconds(Int64(configuration.timeout.seconds * 1e9))
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.replaceOrAdd(name: "Accept", value: "application/json")
            request.headers.replaceOrAdd(name: "User-Agent", value: "aperture-gateway")
            let response = try await HTTPClient.shared.execute(request, deadline: deadline, logger: logger)
            let body = try await response.body.collect(upTo: Self.maximumBody)
            guard response.status.code == 200 else {
                throw APIError(.badGateway, .upstreamFailed,
                               "the weather source \(shown) answered HTTP \(response.status.code)", field: "weather.url")
            }
            return body
        } catch let error as APIError {
            throw error
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw APIError(.gatewayTimeout, .upstreamFailed,
                           "the weather source \(shown) did not answer within weather.timeout = \(configuration.timeout.seconds) s",
                           field: "weather.url")
        } catch {
            throw APIError(.badGateway, .upstreamFailed, "the weather source \(shown) could not be read: \(error)", field: "weather.url")
        }
    }

    /// Reads every ObservingConditions member at once; members the device does not implement
    /// (0x400) are left out.
    private func readAlpaca() async throws -> [String: Double] {
        let base = configuration.url.hasSuffix("/") ? String(configuration.url.dropLast()) : configuration.url
        let device = "\(base)/api/v1/observingconditions/\(configuration.alpacaDevice)"
        return try await withThrowingTaskGroup(of: (String, Double?).self) { group in
            for (index, (member, quantity)) in Self.alpacaMembers.enumerated() {
                group.addTask {
                    let body = try await self.fetch("\(device)/\(member)?ClientID=1&ClientTransactionID=\(index + 1)")
                    return (quantity, try Self.alpacaValue(body, member: member, device: Self.redacted(device)))
                }
            }
            var values: [String: Double] = [:]
            for try await (quantity, value) in group {
                if let value { values[quantity] = value }
            }
            return values
        }
    }

    /// The `Value` of an Alpaca reply; nil when the member is not implemented.
    static func alpacaValue(_ body: ByteBuffer, member: String, device: String) throws(APIError) -> Double? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any] else {
            throw APIError(.badGateway, .upstreamFailed, "\(device)/\(member) did not answer an Alpaca JSON reply", field: "weather.url")
        }
        let errorNumber = (object["ErrorNumber"] as? NSNumber)?.intValue ?? 0
        if errorNumber == 0x400 { return nil }
        guard errorNumber == 0 else {
            let message = object["ErrorMessage"] as? String ?? ""
            throw APIError(.badGateway, .upstreamFailed,
                           "\(device)/\(member) answered Alpaca error 0x\(String(errorNumber, radix: 16, uppercase: true)): \(message)",
                           field: "weather.url")
        }
        return number(object["Value"])
    }

    /// The mapped members of a JSON document.
    private func readDocument(_ body: ByteBuffer) throws(APIError) -> [String: Double] {
        guard let document = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView), options: [.fragmentsAllowed]) else {
            throw APIError(.badGateway, .upstreamFailed, "the weather source \(shownURL) did not answer JSON",
                           field: "weather.url")
        }
        var values: [String: Double] = [:]
        for mapping in configuration.fields {
            if let value = Self.number(Self.member(mapping.path, of: document)) {
                values[mapping.quantity] = value
            } else {
                logger.debug("weather: \(mapping) is not a number in the document of \(shownURL)")
            }
        }
        return values
    }

    /// The member at a dotted path: object keys, and array indices written as numbers.
    static func member(_ path: [String], of document: Any) -> Any? {
        var current: Any? = document
        for component in path {
            if let object = current as? [String: Any] {
                current = object[component]
            } else if let array = current as? [Any], let index = Int(component), array.indices.contains(index) {
                current = array[index]
            } else {
                return nil
            }
        }
        return current
    }

    /// A JSON number (not `true`/`false`) or a numeric string, when finite.
    static func number(_ value: Any?) -> Double? {
        let number: Double?
        switch value {
        case let text as String: number = Double(text.trimmingCharacters(in: .whitespaces))
        default: number = JSONNumberFit.number(value)?.doubleValue  // nil for JSON true: not a number
        }
        guard let number, number.isFinite else { return nil }
        return number
    }

    /// The values within their quantity's plausible range; the others are logged and left out.
    static func checked(_ values: [String: Double], logger: Logger) -> [String: Double] {
        values.filter { quantity, value in
            guard let range = plausible[quantity], !range.contains(value) else { return true }
            logger.warning("weather: \(quantity) = \(value) is outside \(range.lowerBound)...\(range.upperBound); left out")
            return false
        }
    }

    /// Fills each quantity given in only one unit into the other (C and F, m/s and mph).
    static func derived(_ values: [String: Double]) -> [String: Double] {
        var values = values
        if values["temperature_c"] == nil, let fahrenheit = values["temperature_f"] {
            values["temperature_c"] = (fahrenheit - 32) * 5 / 9
        }
        if values["temperature_f"] == nil, let celsius = values["temperature_c"] {
            values["temperature_f"] = celsius * 9 / 5 + 32
        }
        if values["wind_speed_ms"] == nil, let mph = values["wind_speed_mph"] {
            values["wind_speed_ms"] = mph * metresPerSecondPerMPH
        }
        if values["wind_speed_mph"] == nil, let speed = values["wind_speed_ms"] {
            values["wind_speed_mph"] = speed / metresPerSecondPerMPH
        }
        return values
    }

    /// 1 mile per hour in metres per second.
    static let metresPerSecondPerMPH = 0.44704
}
