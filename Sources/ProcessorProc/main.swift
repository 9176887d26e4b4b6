import ApertureProtocol
import Bus
import ChildRuntime
import ProcessorService
import Foundation

// aperture-processor: argument parsing and wiring only; the logic is in ProcessorService.
let status = await ChildProcessRuntime.run(
    process: "aperture-processor", controlSocket: EndpointName.processorControl,
    arguments: Array(CommandLine.arguments.dropFirst())
) { context, commands in
    try ProcessorApplication.build(context: context, commands: &commands)
}
exit(status)
