import ArchiveService
import Bus
import ChildRuntime
import Foundation

// aperture-archive: argument parsing and wiring only; the logic is in ArchiveService.
let status = await ChildProcessRuntime.run(
    process: "aperture-archive", controlSocket: EndpointName.archiveControl,
    arguments: Array(CommandLine.arguments.dropFirst())
) { context, commands in
    try ArchiveApplication.build(context: context, commands: &commands)
}
exit(status)
