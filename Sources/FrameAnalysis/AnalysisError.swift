/// A failure of frame analysis or of a request to it, with a stable machine-readable code.
///
/// The codes are the ones the processor reports on the bus and over HTTP: an invalid ROI or
/// configuration is `invalid_argument` with a message naming the field and the rule broken.
public struct AnalysisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure: a closed set, mapped to the bus's codes in one place
    /// (`BusError.init(_: AnalysisError)` in ApertureProtocol).
    public enum Code: String, Sendable, Hashable, CustomStringConvertible {
        /// A value is malformed or out of range (an ROI outside the image, a frame whose pixel
        /// count does not match its size, a histogram with no bins); `field` names it.
        case invalidArgument = "invalid_argument"
        /// Too few usable points for a fit (fewer than 3 distinct focus positions).
        case insufficientData = "insufficient_data"
        /// A focus fit whose parabola opens downwards or is flat: there is no best focus.
        case notAMinimum = "not_a_minimum"

        /// The code's text.
        public var description: String { rawValue }
    }

    /// What went wrong, for programs.
    public var code: Code
    /// What went wrong, for people: names the field and the rule broken.
    public var message: String
    /// The field at fault, when one is.
    public var field: String?

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: the stable code.
    ///   - message: the explanation, naming the field.
    ///   - field: the field at fault, if any.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    /// `invalid_argument` for `field`: the message is `field: detail`.
    public static func invalid(_ field: String, _ detail: String) -> AnalysisError {
        AnalysisError(.invalidArgument, "\(field): \(detail)", field: field)
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
