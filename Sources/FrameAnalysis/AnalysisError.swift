/// A failure of frame analysis or of a request to it, with a stable machine-readable code.
///
/// The codes are the ones the processor reports on the bus and over HTTP: an invalid ROI or
/// configuration is `invalid_argument` with a message naming the field and the rule broken.
public struct AnalysisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, lower-case code.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The code as sent: lower-case with underscores.
        public let rawValue: String
        /// A code from its text (codes are compared by text).
        /// - Parameter rawValue: the code, e.g. `invalid_argument`.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The code's text.
        public var description: String { rawValue }

        /// A value is malformed or out of range (an ROI outside the image, a frame whose pixel
        /// count does not match its size, a histogram with no bins); the message names the field.
        public static let invalidArgument = Code(rawValue: "invalid_argument")
        /// Too few usable points for a fit (fewer than 3 distinct focus positions).
        public static let insufficientData = Code(rawValue: "insufficient_data")
        /// A focus fit whose parabola opens downwards or is flat: there is no best focus.
        public static let notAMinimum = Code(rawValue: "not_a_minimum")
    }

    /// What went wrong, for programs.
    public var code: Code
    /// What went wrong, for people: names the field and the rule broken.
    public var message: String

    /// - Parameters:
    ///   - code: the stable code.
    ///   - message: the explanation, naming the field.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
