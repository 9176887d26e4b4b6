import Bus
import ChildRuntime
import CameraService
import Foundation

// aperture-camera: argument parsing and wiring only; the logic is in CameraService.
let status = await ChildProcessRuntime.run(
    process: "aperture-camera", controlSocket: EndpointName.cameraControl,
    arguments: Array(CommandLine.arguments.dropFirst())
) { context, commands in
    try CameraApplication.build(context: context, commands: &commands)
}
exit(status)
