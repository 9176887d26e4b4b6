import Foundation

/// A request as it arrived on a control socket, before its arguments are decoded.
public struct IncomingRequest: Sendable {
    /// The request's id, echoed in the reply.
    public let id: String
    /// The command name.
    public let command: String
    /// The whole message.
    public let message: Data
}

/// Maps command names to typed handlers and turns any message into exactly one reply.
///
/// Every failure becomes an error reply with a stable code: a message that is not JSON, too
/// large, lacks `id` or `command`, or has arguments of the wrong shape gets `bad_request`; an
/// unknown name gets `unknown_command`; a handler's ``BusError`` keeps its code; any other error
/// thrown by a handler becomes `internal`. Nothing a peer sends can crash or hang the server.
public struct CommandRouter: Sendable {
    /// A handler for one command, producing the whole encoded reply.
    typealias Handler = @Sendable (IncomingRequest) async throws -> Data

    private var handlers: [String: Handler] = [:]

    /// Creates an empty router.
    public init() {}

    /// The command names this router answers, sorted.
    public var commands: [String] { handlers.keys.sorted() }

    /// Registers the handler of a command, replacing any earlier one.
    /// - Parameters:
    ///   - command: the command type (its name and argument/result types).
    ///   - handler: receives the decoded arguments; throws ``BusError`` to reply with an error.
    public mutating func register<C: BusCommand>(
        _ command: C.Type,
        _ handler: @escaping @Sendable (C.Arguments) async throws -> C.Result
    ) {
        handlers[C.name] = { request in
            let arguments: C.Arguments
            do {
                let decoded = try BusJSON.decoder().decode(RequestArguments<C.Arguments>.self, from: request.message)
                if let args = decoded.args {
                    arguments = args
                } else {
                    arguments = try BusJSON.decoder().decode(C.Arguments.self, from: Data("{}".utf8))
                }
            } catch {
                var detail = BusJSON.describe(error)
                var field: String?
                if let misfit = JSONNumberFit.misfit(explaining: error, in: request.message,
                                                     decoding: RequestArguments<C.Arguments>.self) {
                    detail = "field '\(misfit.field)': \(misfit.rule)"
                    field = misfit.field.hasPrefix("args.") ? String(misfit.field.dropFirst(5)) : misfit.field
                }
                throw BusError(.badRequest, "invalid arguments for '\(C.name)': \(detail)", field: field)
            }
            let result = try await handler(arguments)
            return try BusJSON.encoder().encode(ReplyEnvelope(id: request.id, result: result))
        }
    }

    /// The commands answered even when a server is full (``ReplyServer``): cheap, and what the
    /// supervisor's heartbeat depends on.
    public static let immediateCommands: Set<String> = [Ping.name]

    /// Produces the reply to one message. Never throws: every failure is an error reply.
    /// - Parameters:
    ///   - message: the request as received.
    ///   - maxBytes: the largest request accepted.
    ///   - refusal: when set, only ``immediateCommands`` run; any other command is answered
    ///     with this error (a server that is full).
    public func reply(to message: Data, maxBytes: Int = BusProtocol.defaultMaxRequestBytes,
                      onlyImmediate refusal: BusError? = nil) async -> Data {
        if message.count > maxBytes {
            return Self.errorReply(id: nil, BusError(.badRequest,
                "message of \(message.count) bytes exceeds the limit of \(maxBytes) bytes"))
        }
        let header: RequestHeader
        do {
            header = try BusJSON.decoder().decode(RequestHeader.self, from: message)
        } catch {
            let id = (try? BusJSON.decoder().decode(RequestIdOnly.self, from: message))?.id
            return Self.errorReply(id: id, BusError(.badRequest, BusJSON.describe(error)))
        }
        if let version = header.v, version != BusProtocol.version {
            return Self.errorReply(id: header.id, BusError(.badRequest,
                "protocol version \(version) is not supported; this peer speaks version \(BusProtocol.version)"))
        }
        if header.id.isEmpty || header.id.count > BusProtocol.maxIdLength {
            return Self.errorReply(id: nil, BusError(.badRequest,
                "field 'id' must be a string of 1 to \(BusProtocol.maxIdLength) characters"))
        }
        if let refusal, !Self.immediateCommands.contains(header.command) {
            return Self.errorReply(id: header.id, refusal)
        }
        guard let handler = handlers[header.command] else {
            return Self.errorReply(id: header.id, BusError(.unknownCommand,
                "unknown command '\(header.command)'; this peer answers: \(commands.joined(separator: ", "))"))
        }
        do {
            return try await handler(IncomingRequest(id: header.id, command: header.command, message: message))
        } catch let error as BusError {
            return Self.errorReply(id: header.id, error)
        } catch {
            return Self.errorReply(id: header.id, BusError(.internal, "'\(header.command)' failed: \(error)"))
        }
    }

    /// Encodes an error reply.
    static func errorReply(id: String?, _ error: BusError) -> Data {
        let envelope = ReplyEnvelope<NoArguments>(id: id, result: nil,
                                                  error: ReplyErrorBody(code: error.code, message: error.message, field: error.field))
        // Encoding strings and a code cannot fail; fall back to a fixed reply to be total.
        return (try? BusJSON.encoder().encode(envelope))
            ?? Data(#"{"v":1,"id":null,"error":{"code":"internal","message":"cannot encode error"}}"#.utf8)
    }
}
