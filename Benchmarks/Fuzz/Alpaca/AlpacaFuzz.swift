import FuzzSupport
import Foundation
import GatewayService

/// Fuzzes the Alpaca parameter parser: the first byte says whether the text is a PUT body
/// (case-sensitive keys) or a GET query; the rest is parsed, then every accessor is asked for
/// the members' parameter names (and for each key the text holds, in its own spelling).
enum AlpacaFuzz: FuzzTarget {
    static let name = "aperture-fuzz-alpaca"

    /// The parameter names Alpaca camera members read.
    static let names = [
        "ClientID", "ClientTransactionID", "Connected", "Action", "Parameters", "Command", "Raw",
        "BinX", "BinY", "NumX", "NumY", "StartX", "StartY", "Gain", "Offset", "ReadoutMode",
        "CoolerOn", "SetCCDTemperature", "Duration", "Light", "Direction", "FastReadout", "SubExposureDuration",
    ]

    static func run(_ data: Data) {
        guard let selector = data.first else { return }
        let text = String(decoding: data.dropFirst(), as: UTF8.self)
        let parameters = AlpacaParameters.parse(selector & 1 == 0 ? text : nil, caseSensitive: selector & 2 != 0)
        for name in names + parameters.pairs.prefix(16).map(\.key) {
            _ = try? parameters.value(name)
            _ = try? parameters.required(name)
            _ = try? parameters.int(name)
            _ = try? parameters.double(name)
            _ = try? parameters.bool(name)
            _ = parameters.transactionNumber(name)
        }
    }
}

@main extension AlpacaFuzz {}
