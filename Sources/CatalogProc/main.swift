import Bus
import CatalogService
import ChildRuntime
import Foundation

// aperture-catalog: argument parsing and wiring only; the logic is in CatalogService.
let status = await ChildProcessRuntime.run(
    process: "aperture-catalog", controlSocket: EndpointName.catalogControl,
    arguments: Array(CommandLine.arguments.dropFirst())
) { context, commands in
    try CatalogApplication.build(context: context, commands: &commands)
}
exit(status)
