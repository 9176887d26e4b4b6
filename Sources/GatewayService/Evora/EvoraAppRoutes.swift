import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The rest of evora-server's `app.py`: `/getWeatherData`, `/testLongExposure`, and the focuser
/// placeholders `/getFocus` and `/setFocus`.
enum EvoraAppRoutes {
    static func register(on router: Router<GatewayApplication.Context>, gateway: Gateway) {
        router.get("getWeatherData") { _, _ -> Response in
            await weatherData(gateway: gateway)
        }
        router.get("testLongExposure") { request, _ -> Response in
            try await EvoraRoutes.evora {
                try gateway.authorize(request)
                return try await testLongExposure(gateway: gateway)
            }
        }
        // evora-server answers both with this message (its focuser is another service); so does
        // Aperture, with 501 instead of 200.
        for path in ["getFocus", "setFocus"] {
            router.get(RouterPath(stringLiteral: path)) { _, _ -> Response in
                JSONResponse.make(["message": "Not implemented"], status: .notImplemented)
            }
        }
    }

    /// `GET /getWeatherData`: the weather with the names evora's web client reads (those of
    /// the Ambient Weather station evora-server relayed: `tempf`, `humidity`, `windspeedmph`...),
    /// and beside them Aperture's own (`temperature_c`, `wind_speed_ms`...). Without a source, or
    /// when it fails, the evora members are null and `error` says why, with 404, 502 or 504.
    static func weatherData(gateway: Gateway) async -> Response {
        do throws(APIError) {
            let reading = try await gateway.weather.reading()
            return JSONResponse.make(EvoraWeather(reading))
        } catch {
            return JSONResponse.make(EvoraWeather(error: error), status: error.status)
        }
    }

    /// `GET /testLongExposure`: evora's check that a long acquisition does not freeze the server:
    /// a 10 s exposure that is not saved, answered with evora's text when it is done.
    static func testLongExposure(gateway: Gateway) async throws(APIError) -> Response {
        var request = ExposureRequest(type: .object, time: 10)
        request.mode = .preview
        request.count = 1
        let record = try await gateway.camera(ExposeCommand.self, request)
        let finished = try await EvoraRoutes.waitUntilDone(record, gateway: gateway)
        guard finished.status == .completed else {
            throw APIError(finished.error?.busError ?? BusError(.internal, "the exposure \(finished.status.rawValue)"), from: .camera)
        }
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: "Finished Acquiring after 10s")))
    }
}

/// `/getWeatherData`'s reply.
struct EvoraWeather: Encodable {
    /// The reading, absent on failure.
    var reading: WeatherReading?
    /// Why there is no reading.
    var error: APIError?

    init(_ reading: WeatherReading) { self.reading = reading }
    init(error: APIError) { self.error = error }

    /// The Ambient Weather members evora's client and scripts read, from Aperture's quantities.
    static let evoraMembers: [(name: String, quantity: String, convert: @Sendable (Double) -> Double)] = [
        ("tempf", "temperature_f", { $0 }),
        ("humidity", "humidity", { $0 }),
        ("windspeedmph", "wind_speed_mph", { $0 }),
        ("windgustmph", "wind_gust_ms", { $0 / WeatherSource.metresPerSecondPerMPH }),
        ("winddir", "wind_direction", { $0 }),
        ("dewPoint", "dew_point_c", { $0 * 9 / 5 + 32 }),
        ("baromrelin", "pressure_hpa", { $0 * 0.029_529_983 }),
        ("hourlyrainin", "rain_rate_mm", { $0 / 25.4 }),
    ]

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for member in Self.evoraMembers {
            try container.encode(reading?.values[member.quantity].map(member.convert), forKey: Key(member.name))
        }
        if let reading {
            for quantity in WeatherFieldMapping.quantities {
                if let value = reading.values[quantity] { try container.encode(value, forKey: Key(quantity)) }
            }
            let milliseconds = Int64((reading.time.timeIntervalSince1970 * 1000).rounded())
            try container.encode(milliseconds, forKey: Key("dateutc"))
            try container.encode(ISO8601DateFormatter().string(from: reading.time), forKey: Key("date"))
            try container.encode(max(0, Date().timeIntervalSince(reading.time)), forKey: Key("age_seconds"))
            try container.encode(reading.source, forKey: Key("source"))
        }
        if let error {
            try container.encode(error.message, forKey: Key("message"))
            try container.encode(EvoraRoutes.Failure.Detail(error), forKey: Key("error"))
        }
    }
}
