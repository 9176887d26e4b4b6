import Bus
import FrameAnalysis

extension BusError {
    /// An analysis failure as the processor reports it on the bus: the one place where
    /// `FrameAnalysis`'s codes become ``ErrorCode``s.
    public init(_ error: AnalysisError) {
        let code: ErrorCode = switch error.code {
        case .invalidArgument: .invalidArgument
        case .insufficientData: .insufficientData
        case .notAMinimum: .notAMinimum
        }
        self.init(code, error.message, field: error.field)
    }
}
