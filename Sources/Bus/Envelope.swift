import Foundation

/// Facts about the wire protocol (see docs/protocol.md).
public enum BusProtocol {
    /// The envelope version this build speaks; carried as `"v"` in every message.
    public static let version = 1
    /// The largest request a reply server accepts; larger ones get `bad_request`.
    public static let defaultMaxRequestBytes = 1 << 20
    /// The longest request id accepted.
    public static let maxIdLength = 128
}

/// A command a process answers on its control socket, with typed arguments and result.
///
/// ```swift
/// enum Ping: BusCommand {
///     static let name = "ping"
///     typealias Result = PingReply
/// }
/// ```
public protocol BusCommand: Sendable {
    /// The arguments, sent as the request's `args` object.
    associatedtype Arguments: Codable & Sendable = NoArguments
    /// The result, sent as the reply's `result` object.
    associatedtype Result: Codable & Sendable
    /// The command's name on the wire.
    static var name: String { get }
}

/// The arguments of a command that takes none; encoded as `{}`.
public struct NoArguments: Codable, Sendable, Hashable {
    /// Creates the empty arguments, sent as `{}`.
    public init() {}

    /// Accepts any JSON object (extra members are ignored); anything else is refused.
    public init(from decoder: any Decoder) throws {
        _ = try decoder.container(keyedBy: AnyKey.self)
    }

    /// Writes `{}`.
    public func encode(to encoder: any Encoder) throws {
        _ = encoder.container(keyedBy: AnyKey.self)
    }

    private struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// `ping`: answered by every process on its control socket; the supervisor's heartbeat.
public enum Ping: BusCommand {
    /// The command's name: answered on every control socket (`*.ctl`), even when 64 commands are running.
    public static let name = "ping"
    /// The reply: who answers, for how long it has run, and whether it is ready.
    public typealias Result = PingReply
}

/// The reply to ``Ping``.
public struct PingReply: Codable, Sendable, Hashable {
    /// The executable's name, e.g. `aperture-camera`.
    public var process: String
    /// The process id.
    public var pid: Int32
    /// Seconds since the process started.
    public var uptime: Double
    /// Whether the process finished starting (the HTTP port bound; for the camera, its first
    /// connection attempt is over, whether or not it succeeded; for `aperture`, every child has
    /// been ready once).
    public var ready: Bool
    /// The envelope version the process speaks.
    public var version: Int

    /// Creates the reply; `version` defaults to this build's ``BusProtocol/version``.
    public init(process: String, pid: Int32, uptime: Double, ready: Bool, version: Int = BusProtocol.version) {
        self.process = process
        self.pid = pid
        self.uptime = uptime
        self.ready = ready
        self.version = version
    }
}

// MARK: - Wire structures

/// `{"v":1,"id":"...","command":"...","args":{...}}`
struct RequestEnvelope<Arguments: Encodable>: Encodable {
    var v = BusProtocol.version
    var id: String
    var command: String
    var args: Arguments
}

/// The part of a request every command shares, decoded before the arguments.
struct RequestHeader: Decodable {
    var v: Int?
    var id: String
    var command: String
}

/// Only the id, decoded leniently so that an error reply can still name its request.
struct RequestIdOnly: Decodable {
    var id: String?
}

/// The `args` member, decoded once the command (and so its type) is known.
struct RequestArguments<Arguments: Decodable>: Decodable {
    var args: Arguments?
}

/// The `error` object of a failed reply.
struct ReplyErrorBody: Codable {
    var code: BusError.Code
    var message: String
    /// The request field at fault, when one is (omitted otherwise).
    var field: String?
}

/// `{"v":1,"id":"...","result":{...}}` or `{"v":1,"id":"...","error":{"code":..,"message":..}}`
struct ReplyEnvelope<Result: Encodable>: Encodable {
    var v = BusProtocol.version
    var id: String?
    var result: Result?
    var error: ReplyErrorBody?

    enum CodingKeys: String, CodingKey { case v, id, result, error }

    /// `id` is always present (null when the request's id could not be read).
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(v, forKey: .v)
        try container.encode(id, forKey: .id)
        try container.encodeIfPresent(result, forKey: .result)
        try container.encodeIfPresent(error, forKey: .error)
    }
}

/// The part of a reply every command shares.
struct ReplyHeader: Decodable {
    var v: Int?
    var id: String?
    var error: ReplyErrorBody?
}

/// The `result` member of a successful reply.
struct ReplyResult<Result: Decodable>: Decodable {
    var result: Result
}

/// The JSON coders the bus uses: plain keys, no escaping of slashes (paths are common).
enum BusJSON {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return encoder
    }

    static func decoder() -> JSONDecoder { JSONDecoder() }

    /// Describes a decoding failure in words that name the offending field.
    static func describe(_ error: any Error, prefix: String = "") -> String {
        guard let decodingError = error as? DecodingError else { return "\(error)" }
        func path(_ keys: [any CodingKey]) -> String {
            let joined = keys.map { key in key.intValue.map { "[\($0)]" } ?? key.stringValue }
                .reduce(into: "") { result, part in
                    if part.hasPrefix("[") || result.isEmpty { result += part } else { result += "." + part }
                }
            return prefix.isEmpty ? joined : (joined.isEmpty ? prefix : prefix + "." + joined)
        }
        if case .typeMismatch(_, let context) = decodingError, context.codingPath.isEmpty {
            return "the message must be a JSON object"
        }
        switch decodingError {
        case .keyNotFound(let key, let context):
            return "missing field '\(path(context.codingPath + [key]))'"
        case .typeMismatch(let type, let context):
            return "field '\(path(context.codingPath))' must be \(typeName(type))"
        case .valueNotFound(let type, let context):
            return "field '\(path(context.codingPath))' must be \(typeName(type)), not null"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                // Foundation reports a number that does not fit its field (1.5 for an integer)
                // without a path; say that rather than blame the JSON.
                if context.debugDescription.contains("not representable") {
                    return "a number does not fit its field: \(context.debugDescription) (an integer is expected)"
                }
                return "message is not valid JSON"
            }
            return "field '\(path(context.codingPath))' is invalid: \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int32.Type, is Int64.Type, is UInt.Type, is UInt32.Type, is UInt16.Type:
            return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = "\(type)"
            if name.hasPrefix("Dictionary") || name.hasPrefix("KeyedDecodingContainer") { return "an object" }
            if name.hasPrefix("Array") || name.hasPrefix("UnkeyedDecodingContainer") { return "an array" }
            return "of type \(name)"
        }
    }
}
