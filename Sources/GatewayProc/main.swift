import Bus
import ChildRuntime
import GatewayService
import Foundation

// aperture-gateway: argument parsing and wiring only; the logic is in GatewayService.
let status = await ChildProcessRuntime.run(
    process: "aperture-gateway", controlSocket: EndpointName.gatewayControl,
    arguments: Array(CommandLine.arguments.dropFirst())
) { context, commands in
    try GatewayApplication.build(context: context, commands: &commands)
}
exit(status)
