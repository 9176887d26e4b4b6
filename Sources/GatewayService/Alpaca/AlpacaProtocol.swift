import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

// The wire rules of ASCOM Alpaca API v1 (docs/alpaca.md): the reply envelope, the error
// numbers, how parameters are read (GET keys case-insensitive, PUT form keys case-sensitive),
// and what a malformed request gets (HTTP 400, text/plain).

/// A device error: HTTP 200 with `ErrorNumber` and `ErrorMessage` set.
struct AlpacaError: Error, Sendable, Hashable {
    var number: Int
    var message: String

    init(_ number: Int, _ message: String) {
        self.number = number
        self.message = message
    }

    /// 0x400: the device cannot do this (a listed member it does not implement).
    static func notImplemented(_ message: String) -> AlpacaError { AlpacaError(0x400, message) }
    /// 0x401: a value out of range.
    static func invalidValue(_ message: String) -> AlpacaError { AlpacaError(0x401, message) }
    /// 0x402: a value read before it was ever set (lastexposureduration before an exposure).
    static func valueNotSet(_ message: String) -> AlpacaError { AlpacaError(0x402, message) }
    /// 0x407: the client has not connected the device.
    static func notConnected(_ member: String, device: String = "camera") -> AlpacaError {
        AlpacaError(0x407, "\(member): the \(device) is not connected; set Connected = true (or call connect) first")
    }
    /// 0x40B: the request is not valid now (the camera is busy, no image yet).
    static func invalidOperation(_ message: String) -> AlpacaError { AlpacaError(0x40B, message) }
    /// 0x40C: an action name the device does not list in supportedactions.
    static func actionNotImplemented(_ message: String) -> AlpacaError { AlpacaError(0x40C, message) }
    /// 0x500: the driver's own failure (the camera process is down, an SDK error).
    static func driver(_ message: String) -> AlpacaError { AlpacaError(0x500, message) }

    /// Maps a failure of the camera process (as the gateway reports it) to its Alpaca meaning:
    /// the one place where an error code becomes an Alpaca error number.
    init(_ error: APIError) {
        switch error.code {
        case .busy: self = .invalidOperation("the camera is busy: \(error.message)")
        case .invalidArgument: self = .invalidValue(error.message)
        case .notConnected: self = AlpacaError(0x407, "the camera hardware is not connected: \(error.message)")
        case .notSupported: self = .notImplemented(error.message)
        default: self = .driver("\(error.code): \(error.message)")
        }
    }
}

/// A malformed request: HTTP 400 with a text/plain body that says what is wrong.
package struct AlpacaBadRequest: Error, Sendable {
    var message: String
    var status: HTTPResponse.Status = .badRequest

    init(_ message: String, status: HTTPResponse.Status = .badRequest) {
        self.message = message
        self.status = status
    }

    var response: Response {
        Response(status: status,
                 headers: [.contentType: "text/plain; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}

/// A reply's `Value`.
indirect enum AlpacaValue: Sendable {
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([AlpacaValue])
    /// Keys in order.
    case object([(String, AlpacaValue)])

    static func strings(_ values: [String]) -> AlpacaValue { .array(values.map { .string($0) }) }

    /// Appends the JSON text of the value.
    func write(to out: inout String) {
        switch self {
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value):
            if value.isFinite {
                if value == value.rounded(), abs(value) < 1e15 { out += String(Int64(value)) + ".0" } else { out += "\(value)" }
            } else {
                out += "0"
            }
        case .string(let value): AlpacaValue.writeString(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, (key, value)) in members.enumerated() {
                if index > 0 { out += "," }
                AlpacaValue.writeString(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// The transaction ids of one request.
struct AlpacaTransaction: Sendable {
    var client: UInt32
    var server: UInt32
}

enum AlpacaEnvelope {
    /// `{"Value": ..., "ClientTransactionID", "ServerTransactionID", "ErrorNumber", "ErrorMessage"}`;
    /// without `Value` for a PUT member that returns nothing, and for errors.
    static func response(value: AlpacaValue?, error: AlpacaError? = nil, transaction: AlpacaTransaction) -> Response {
        var text = "{"
        if let value, error == nil {
            text += "\"Value\":"
            value.write(to: &text)
            text += ","
        }
        text += "\"ClientTransactionID\":\(transaction.client),\"ServerTransactionID\":\(transaction.server),"
        text += "\"ErrorNumber\":\(error?.number ?? 0),\"ErrorMessage\":"
        AlpacaValue.writeString(error?.message ?? "", to: &text)
        text += "}"
        return Response(status: .ok,
                        headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The parameters of one request: the query of a GET (keys case-insensitive) or the
/// form-urlencoded body of a PUT (keys case-sensitive).
package struct AlpacaParameters: Sendable {
    /// The parameters in the order they came, percent-decoded.
    package let pairs: [(key: String, value: String)]
    let caseSensitive: Bool

    init(pairs: [(key: String, value: String)], caseSensitive: Bool) {
        self.pairs = pairs
        self.caseSensitive = caseSensitive
    }

    /// Parses `a=1&b=x+y` (percent-decoding, `+` as a space).
    package static func parse(_ text: String?, caseSensitive: Bool) -> AlpacaParameters {
        AlpacaParameters(pairs: RequestBody.formPairs(text ?? ""), caseSensitive: caseSensitive)
    }

    /// The value of `name`: exact for a PUT (a key that differs only in case is a malformed
    /// request), case-insensitive for a GET.
    package func value(_ name: String) throws(AlpacaBadRequest) -> String? {
        if let exact = pairs.first(where: { $0.key == name }) { return exact.value }
        if let other = pairs.first(where: { $0.key.caseInsensitiveCompare(name) == .orderedSame }) {
            if caseSensitive {
                throw AlpacaBadRequest("parameter '\(other.key)' is miscased: PUT parameters are case-sensitive, "
                    + "this one is spelled '\(name)'")
            }
            return other.value
        }
        return nil
    }

    /// The value of `name`; a request without it is malformed (HTTP 400 naming it).
    package func required(_ name: String) throws(AlpacaBadRequest) -> String {
        guard let value = try value(name) else {
            throw AlpacaBadRequest("missing parameter '\(name)'")
        }
        return value
    }

    /// `name` as an integer; anything else is malformed (HTTP 400 naming it and the text).
    package func int(_ name: String) throws(AlpacaBadRequest) -> Int {
        let text = try required(name)
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw AlpacaBadRequest("parameter '\(name)' must be an integer (got '\(text)')")
        }
        return value
    }

    /// `name` as a finite number; anything else (NaN and infinities included) is malformed.
    package func double(_ name: String) throws(AlpacaBadRequest) -> Double {
        let text = try required(name)
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw AlpacaBadRequest("parameter '\(name)' must be a finite number (got '\(text)')")
        }
        return value
    }

    /// `name` as `true` or `false`, in any case; anything else is malformed.
    package func bool(_ name: String) throws(AlpacaBadRequest) -> Bool {
        let text = try required(name)
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true": return true
        case "false": return false
        default: throw AlpacaBadRequest("parameter '\(name)' must be True or False (got '\(text)')")
        }
    }

    /// `ClientTransactionID` (or `ClientID`): a uint32; absent, miscased in a PUT, or not a
    /// uint32, it counts as 0, as the Alpaca reference says.
    package func transactionNumber(_ name: String) -> UInt32 {
        let match = caseSensitive
            ? pairs.first(where: { $0.key == name })
            : pairs.first(where: { $0.key.caseInsensitiveCompare(name) == .orderedSame })
        guard let text = match?.value else { return 0 }
        return UInt32(text.trimmingCharacters(in: .whitespaces)) ?? 0
    }
}

/// UTC times as Alpaca writes them: `2024-05-01T21:03:04.512` (ISO 8601, no zone).
enum AlpacaTime {
    static func string(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        var milliseconds = Int(((interval - Double(seconds)) * 1000).rounded())
        if milliseconds >= 1000 {
            seconds += 1
            milliseconds -= 1000
        }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, milliseconds)
    }
}
