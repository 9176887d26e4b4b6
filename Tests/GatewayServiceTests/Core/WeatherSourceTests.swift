import Foundation
@testable import GatewayService
import Testing

/// The weather source's parts that need no server (the end-to-end tests read real peers).
struct WeatherSourceTests {
    /// Weather services take API keys in the query (Ambient Weather: apiKey, applicationKey):
    /// messages, which any client reads, show the URL without them.
    @Test func messagesShowTheURLWithoutItsQueryOrCredentials() {
        #expect(WeatherSource.redacted("https://user:secret@api.example.com:8443/v1/devices?apiKey=K&applicationKey=A#x")
                == "https://api.example.com:8443/v1/devices")
        #expect(WeatherSource.redacted("http://192.168.1.20:11111") == "http://192.168.1.20:11111")
    }

    @Test func membersAreFoundByDottedPathsAndOnlyNumbersCount() throws {
        let document = try JSONSerialization.jsonObject(with: Data(#"{"a": {"b": [1, {"c": "2.5"}]}, "t": true, "n": null}"#.utf8))
        #expect(WeatherSource.number(WeatherSource.member(["a", "b", "0"], of: document)) == 1)
        #expect(WeatherSource.number(WeatherSource.member(["a", "b", "1", "c"], of: document)) == 2.5)
        #expect(WeatherSource.number(WeatherSource.member(["t"], of: document)) == nil, "JSON true is not a number")
        #expect(WeatherSource.number(WeatherSource.member(["n"], of: document)) == nil)
        #expect(WeatherSource.member(["a", "b", "9"], of: document) == nil)
    }

    @Test func quantitiesGivenInOneUnitAreGivenInTheOther() {
        let values = WeatherSource.derived(["temperature_f": 50, "wind_speed_ms": 4.4704])
        #expect(values["temperature_c"] == 10)
        #expect(abs((values["wind_speed_mph"] ?? 0) - 10) < 1e-12)
    }
}
