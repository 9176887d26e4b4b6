import ApertureProtocol
import Bus
import CameraCore
import FuzzSupport
import Foundation
import ProcessorService

/// Fuzzes the bus envelope and every command's arguments: the first byte picks a command of one
/// of the four control sockets (camera, processor, supervisor, gateway) and the rest is its
/// `args` JSON, wrapped in a valid envelope; the last selectors send the rest as a whole raw
/// message to one of the routers. Each router answers like the real process: the real
/// `CommandRouter`, the real command types, and handlers that run the validation the process
/// runs (``ValidationChain``), then refuse to act. Every reply must be one JSON object.
enum EnvelopeFuzz: FuzzTarget {
    static let name = "aperture-fuzz-envelope"

    /// Thrown by a handler once the arguments passed every check: nothing is started.
    static let validated = BusError(.invalidArgument, "fuzz: validated, not executed")

    static let camera: CommandRouter = {
        var router = CommandRouter()
        refuse(&router, Ping.self, CameraStatusCommand.self, AbortCommand.self, ExposureQueryCommand.self,
               ExposureListCommand.self, TemperatureCommand.self, LatestFrameCommand.self, InitializeCommand.self,
               ShutdownCommand.self)
        router.register(ExposeCommand.self) { request in _ = try ValidationChain.expose(request); throw validated }
        router.register(CoolCommand.self) { arguments in
            try ValidationChain.cool(setpoint: arguments.setpoint, cooler: arguments.cooler)
            throw validated
        }
        router.register(FilterCommand.self) { arguments in
            _ = try ValidationChain.filter(name: arguments.name, slot: arguments.slot)
            throw validated
        }
        return router
    }()

    static let processor: CommandRouter = {
        var router = CommandRouter()
        refuse(&router, Ping.self, ProcessorStartCommand.self, ProcessorStopCommand.self, ProcessorStatusCommand.self,
               GetROICommand.self, ConfigurationCommand.self, StatisticsCommand.self, ResultsCommand.self,
               FocusFitCommand.self)
        router.register(SetROICommand.self) { arguments in
            try ValidationChain.setROI(arguments.which, arguments.roi)
            throw validated
        }
        router.register(ConfigureCommand.self) { configuration in
            try ValidationChain.configure(configuration)
            throw validated
        }
        return router
    }()

    static let supervisor: CommandRouter = {
        var router = CommandRouter()
        refuse(&router, Ping.self, SupervisorStatusCommand.self, SupervisorStopCommand.self, SupervisorRestartCommand.self)
        return router
    }()

    static let gateway: CommandRouter = {
        var router = CommandRouter()
        refuse(&router, Ping.self, GatewayStatusCommand.self)
        return router
    }()

    /// Registers commands whose arguments are only decoded (their handlers check nothing more
    /// before acting).
    static func refuse<each Command: BusCommand>(_ router: inout CommandRouter, _ commands: repeat (each Command).Type) {
        repeat router.register(each commands) { _ in throw validated }
    }

    static let routers = [camera, processor, supervisor, gateway]

    /// `FUZZ_VERBOSE=1` prints each reply (to see what a corpus reaches).
    static let verbose = ProcessInfo.processInfo.environment["FUZZ_VERBOSE"] != nil

    /// Every (router, command) pair, in a fixed order: the first byte's meaning.
    static let commands: [(router: CommandRouter, name: String)] =
        routers.flatMap { router in router.commands.map { (router, $0) } }

    static func run(_ data: Data) {
        guard let selector = data.first else { return }
        let rest = data.dropFirst()
        let choice = Int(selector) % (commands.count + routers.count)
        let router: CommandRouter
        let message: Data
        if choice < commands.count {
            router = commands[choice].router
            message = Data(#"{"v":1,"id":"fuzz","command":""#.utf8) + Data(commands[choice].name.utf8)
                + Data(#"","args":"#.utf8) + rest + Data("}".utf8)
        } else {
            router = routers[choice - commands.count]
            message = Data(rest)
        }
        let reply = runBlocking { await router.reply(to: message) }
        if verbose { print(String(decoding: reply, as: UTF8.self)) }
        guard (try? JSONSerialization.jsonObject(with: reply)) is [String: Any] else {
            fatalError("the reply is not a JSON object: \(String(decoding: reply, as: UTF8.self))")
        }
    }
}

@main extension EnvelopeFuzz {}
