internal import CNNG

/// An error from the bus: a stable machine-readable ``code`` and a human ``message``.
///
/// Errors that travel on the wire (in a reply's `error` object) keep the code their sender
/// chose, so a code this build does not know is still carried faithfully. Errors raised
/// locally (a timeout, a closed socket) carry the NNG status and its text when one caused them.
public struct BusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The stable code (one type for every process: ``ErrorCode``).
    public typealias Code = ErrorCode

    /// The stable code.
    public var code: Code
    /// A message for humans, naming what was wrong.
    public var message: String
    /// The request field at fault (`time`, `roi_signal`, `camera.setpoint`), when one is; on the
    /// wire as the error object's `field`.
    public var field: String?
    /// The NNG status behind this error, when an NNG call caused it.
    public var nngStatus: Int32?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the stable code.
    ///   - message: what went wrong, naming the field, path or peer.
    ///   - field: the request field at fault, if any.
    ///   - nngStatus: the NNG status that caused it, if any.
    public init(_ code: Code, _ message: String, field: String? = nil, nngStatus: Int32? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.nngStatus = nngStatus
    }

    /// `invalid_argument` for `field`: the message is `field: detail`.
    public static func invalid(_ field: String, _ detail: String) -> BusError {
        BusError(.invalidArgument, "\(field): \(detail)", field: field)
    }

    /// `code: message`, as in logs.
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
