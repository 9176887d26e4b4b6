import ApertureConfig
import Bus
import ChildRuntime
import Logging
import ServiceLifecycle

/// The processor process. This part is the walking skeleton: it answers `ping` on
/// `processor.ctl` and reports ready; frame analysis arrives with issue 5.
public enum ProcessorApplication {
    /// Builds the processor's commands and services.
    /// - Parameters:
    ///   - context: the child's context.
    ///   - commands: the control socket's router (`ping` is already there).
    /// - Returns: the services to run.
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        context.readiness.set(true)
        return []
    }
}
