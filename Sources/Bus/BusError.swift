internal import CNNG

/// An error from the bus: a stable machine-readable ``code`` and a human ``message``.
///
/// Errors that travel on the wire (in a reply's `error` object) keep the code their sender
/// chose, so a code this build does not know is still carried faithfully. Errors raised
/// locally (a timeout, a closed socket) carry the NNG status and its text when one caused them.
public struct BusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, lower-case error code, identical on the wire and in Swift.
    public struct Code: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public init(from decoder: any Decoder) throws {
            self.rawValue = try decoder.singleValueContainer().decode(String.self)
        }
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }
        public var description: String { rawValue }

        /// The message could not be parsed, is too large, or its arguments are invalid.
        public static let badRequest = Code("bad_request")
        /// The command name is not one the peer answers.
        public static let unknownCommand = Code("unknown_command")
        /// No reply arrived before the request's deadline.
        public static let timeout = Code("timeout")
        /// The socket was closed (locally) while the operation was pending.
        public static let closed = Code("closed")
        /// The operation was cancelled by its task.
        public static let cancelled = Code("cancelled")
        /// The peer could not handle the command because of a fault on its side.
        public static let `internal` = Code("internal")
        /// The peer is busy with something that excludes this command (an exposure, say).
        public static let busy = Code("busy")
        /// An NNG call failed for a reason other than the ones above.
        public static let transport = Code("transport")
        /// The local arguments were invalid (a bad endpoint address, say).
        public static let invalidArgument = Code("invalid_argument")
    }

    /// The stable code.
    public var code: Code
    /// A message for humans, naming what was wrong.
    public var message: String
    /// The NNG status behind this error, when an NNG call caused it.
    public var nngStatus: Int32?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the stable code.
    ///   - message: what went wrong, naming the field, path or peer.
    ///   - nngStatus: the NNG status that caused it, if any.
    public init(_ code: Code, _ message: String, nngStatus: Int32? = nil) {
        self.code = code
        self.message = message
        self.nngStatus = nngStatus
    }

    public var description: String { "\(code): \(message)" }

    /// Builds an error from a failed NNG call, mapping the statuses that matter to their codes.
    static func nng(_ status: Int32, _ what: String) -> BusError {
        let text = String(cString: nng_strerror(status))
        let code: Code
        switch UInt32(status) {
        case NNG_ETIMEDOUT.rawValue: code = .timeout
        case NNG_ECLOSED.rawValue: code = .closed
        case NNG_ECANCELED.rawValue: code = .cancelled
        case NNG_EINVAL.rawValue, NNG_EADDRINVAL.rawValue: code = .invalidArgument
        default: code = .transport
        }
        return BusError(code, "\(what): \(text)", nngStatus: status)
    }
}

/// Throws a ``BusError`` when an NNG call returned a non-zero status.
@inline(__always)
func nngCheck(_ status: Int32, _ what: @autoclosure () -> String) throws(BusError) {
    if status != 0 { throw BusError.nng(status, what()) }
}
