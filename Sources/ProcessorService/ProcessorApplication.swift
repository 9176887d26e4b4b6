import ApertureConfig
import ApertureProtocol
import Bus
import ChildRuntime
import Logging
import ServiceLifecycle

/// The processor process: analyses frames live (ROIs, statistics, focus) as the camera
/// publishes them, answers processor.ctl and publishes processor.events.
public enum ProcessorApplication {
    /// Builds the processor's commands and services.
    /// - Parameters:
    ///   - context: the child's context.
    ///   - commands: the control socket's router (`ping` is already there).
    /// - Returns: the services to run.
    /// - Throws: ``BusError`` when processor.events cannot listen.
    public static func build(context: ChildContext, commands: inout CommandRouter) throws -> [any Service] {
        let events = try Publisher(listening: context.runtime.endpoint(EndpointName.processorEvents))
        let processor = FrameProcessor(runtime: context.runtime, events: events,
                                       autostart: context.configuration.processor.autostart, logger: context.logger,
                                       dataRoot: context.configuration.storage.dataRoot)
        commands.register(ProcessorStartCommand.self) { _ in processor.setProcessing(true) }
        commands.register(ProcessorStopCommand.self) { _ in processor.setProcessing(false) }
        commands.register(ProcessorStatusCommand.self) { _ in processor.processingState }
        commands.register(GetROICommand.self) { arguments in processor.roi(arguments.which) }
        commands.register(SetROICommand.self) { arguments in try await processor.setROI(arguments.which, arguments.roi) }
        commands.register(ConfigureCommand.self) { configuration in try await processor.configure(configuration) }
        commands.register(ConfigurationCommand.self) { _ in processor.configuration }
        commands.register(StatisticsCommand.self) { _ in processor.statistics() }
        commands.register(ResultsCommand.self) { arguments in
            .init(results: processor.results(count: arguments.count, exposureId: arguments.exposureId))
        }
        commands.register(FocusFitCommand.self) { arguments in
            try processor.focusFit(exposureIds: arguments.exposureIds, metric: arguments.metric)
        }
        FocusSessionCommands.register(on: &commands, context: context, processor: processor)
        let solver = PlateSolver(configuration: context.configuration, scratchRoot: context.runtime.path, logger: context.logger)
        commands.register(SolveCommand.self) { arguments in try await solver.solve(arguments) }
        commands.register(SolutionQueryCommand.self) { arguments in try solver.solution(id: arguments.id) }
        context.readiness.set(true)
        return [ProcessorLoopService(processor: processor, events: events)]
    }
}

/// Runs the frame loop until graceful shutdown.
struct ProcessorLoopService: Service {
    let processor: FrameProcessor
    let events: Publisher

    func run() async throws {
        let loop = Task { await processor.run() }
        try? await gracefulShutdown()
        loop.cancel()
        _ = await loop.value
        events.close()
    }
}
