import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import Logging
import Synchronization

/// The connection flags every device keeps.
protocol AlpacaConnectionState {
    /// The client connected the device.
    var connected: Bool { get set }
    /// A `connect` is under way.
    var connecting: Bool { get set }
}

extension AlpacaConnectionState {
    /// Marks a `connect` as under way, unless the device is connected or connecting already.
    /// - Returns: whether the caller is to connect.
    mutating func claimConnecting() -> Bool {
        guard !connected, !connecting else { return false }
        connecting = true
        return true
    }
}

/// What the Alpaca listener asks of a device: its members and how each is read or written.
protocol AlpacaDevice: Sendable {
    /// The gateway the device answers through.
    var gateway: Gateway { get }
    /// The device type as it appears in the path (`camera`, `filterwheel`).
    static var pathName: String { get }
    /// The interface's members and whether each is read (GET) and/or written (PUT).
    static var members: [String: (get: Bool, put: Bool)] { get }
    /// Whether the client has connected the device.
    var isConnected: Bool { get }
    /// Answers a GET member.
    func get(_ member: String, _ parameters: AlpacaParameters) async throws -> AlpacaValue
    /// Runs a PUT member.
    func put(_ member: String, _ parameters: AlpacaParameters) async throws
}

extension AlpacaDevice {
    /// `action`, `commandblind`, `commandbool`, `commandstring`: their parameters are read (a
    /// request without them is malformed), then refused the same way on every device (no
    /// supported actions, no raw commands).
    func refuseActionOrCommand(_ member: String, _ parameters: AlpacaParameters, device: String) throws {
        if member == "action" {
            let action = try parameters.required("Action")
            _ = try parameters.required("Parameters")
            throw AlpacaError.actionNotImplemented("action '\(action)' is not supported (supportedactions is empty)")
        }
        _ = try parameters.required("Command")
        _ = try parameters.required("Raw")
        throw AlpacaError.notImplemented("\(member): the \(device) takes no raw commands")
    }

    /// `connect` (asynchronous since ICameraV4 and IFilterWheelV3): returns at once, and runs
    /// `connect` in a task of its own when `claim` says none is under way; `release` clears
    /// `connecting` when it has finished, and `connected` then tells whether it succeeded.
    func connectInBackground(claim: () -> Bool, release: @escaping @Sendable () -> Void,
                             connect: @escaping @Sendable () async throws -> Void) {
        guard claim() else { return }
        let logger = gateway.logger
        Task {
            defer { release() }
            do {
                try await connect()
            } catch {
                logger.warning("alpaca: \(Self.pathName) Connect failed: \(error)")
            }
        }
    }

    /// The members every Alpaca device has (the common interface), with those of the device.
    static func memberTable(get: [String], getAndPut: [String], put: [String]) -> [String: (get: Bool, put: Bool)] {
        var table: [String: (get: Bool, put: Bool)] = [:]
        for name in ["connecting", "description", "devicestate", "driverinfo", "driverversion", "interfaceversion",
                     "name", "supportedactions"] + get {
            table[name] = (true, false)
        }
        for name in ["connected"] + getAndPut { table[name] = (true, true) }
        for name in ["action", "commandblind", "commandbool", "commandstring", "connect", "disconnect"] + put {
            table[name] = (false, true)
        }
        return table
    }
}

/// Filter wheel 0 of the Alpaca device (IFilterWheelV3): the wheel the camera process drives,
/// the same one `/v1/filterwheel`, evora's `/setFilterWheel` and the dashboard show.
///
/// `position` is read from the camera's status (the gateway's shared report, refreshed when the
/// camera announces a move on `camera.filter`): -1 while the wheel moves. Writing it starts the
/// move and returns at once (`filter` with `wait: false`).
final class AlpacaFilterWheel: AlpacaDevice {
    static let pathName = "filterwheel"
    static let interfaceVersion = 3
    static let name = "Aperture filter wheel"

    private struct State: AlpacaConnectionState {
        var connected = false
        var connecting = false
    }

    let gateway: Gateway
    private let state = Mutex(State())

    init(gateway: Gateway) {
        self.gateway = gateway
    }

    static let members = memberTable(get: ["names", "focusoffsets"], getAndPut: ["position"], put: [])

    /// Members that answer whether or not the client connected.
    private static let unconnected: Set<String> = [
        "connected", "connecting", "connect", "disconnect", "description", "driverinfo", "driverversion",
        "interfaceversion", "name", "supportedactions", "action", "commandblind", "commandbool", "commandstring",
    ]

    var isConnected: Bool { state.withLock { $0.connected } }

    /// The filter names by slot (`filterwheel.filters`).
    var names: [String] { gateway.configuration.filterWheel.filters }

    // MARK: GET

    func get(_ member: String, _ parameters: AlpacaParameters) async throws -> AlpacaValue {
        if !Self.unconnected.contains(member) {
            guard isConnected else { throw AlpacaError.notConnected(member, device: "filter wheel") }
        }
        switch member {
        case "connected": return .bool(isConnected)
        case "connecting": return .bool(state.withLock { $0.connecting })
        case "description":
            let wheel = gateway.configuration.filterWheel
            return .string("Aperture: the \(wheel.driver.rawValue) filter wheel of aperture-camera, \(wheel.filters.count) filters")
        case "driverinfo":
            return .string("Aperture's ASCOM Alpaca filter wheel, served by aperture-gateway; the camera process "
                + "(aperture-camera) drives the wheel, so a move shows on every face of Aperture.")
        case "driverversion": return .string(AlpacaCamera.driverVersion)
        case "interfaceversion": return .int(Self.interfaceVersion)
        case "name": return .string(Self.name)
        case "supportedactions": return .array([])
        case "names": return .strings(names)
        case "focusoffsets": return .array(gateway.configuration.filterWheel.offsetsBySlot.map { .int($0) })
        case "position": return .int(try await position())
        case "devicestate":
            return .array([
                .object([("Name", .string("Position")), ("Value", .int(try await position()))]),
                .object([("Name", .string("TimeStamp")), ("Value", .string(AlpacaTime.string(Date())))]),
            ])
        default:
            throw AlpacaBadRequest("'\(member)' is not a readable member of the filter wheel")
        }
    }

    /// The slot, or -1 while the wheel moves.
    func position() async throws(AlpacaError) -> Int {
        let report: CameraStatusReport
        do {
            report = try await gateway.cameraStatusReport()
        } catch {
            throw AlpacaError(error)
        }
        guard let filter = report.filter else {
            throw AlpacaError.driver("position: the filter wheel does not answer (see the camera's log)")
        }
        return filter.target == nil ? filter.slot : -1
    }

    // MARK: PUT

    func put(_ member: String, _ parameters: AlpacaParameters) async throws {
        switch member {
        case "connected":
            if try parameters.bool("Connected") { try await connect() } else { state.withLock { $0.connected = false } }
        case "connect":
            connectInBackground(claim: { state.withLock { $0.claimConnecting() } },
                                release: { [self] in state.withLock { $0.connecting = false } },
                                connect: { [self] in try await connect() })
        case "disconnect": state.withLock { $0.connected = false }
        case "action", "commandblind", "commandbool", "commandstring":
            try refuseActionOrCommand(member, parameters, device: "filter wheel")
        case "position":
            let text = try parameters.required("Position")
            guard isConnected else { throw AlpacaError.notConnected(member, device: "filter wheel") }
            let slot = try Self.slot(text, count: names.count)
            do {
                _ = try await gateway.camera(FilterCommand.self, .init(slot: slot, wait: false))
            } catch {
                throw AlpacaError(error)
            }
        default:
            throw AlpacaBadRequest("'\(member)' is not a writable member of the filter wheel")
        }
    }

    /// A `Position` value: an integer slot of the wheel.
    /// - Throws: ``AlpacaError`` 0x401 naming the value and the slots for anything else
    ///   (`abc`, `2.5`, `NaN`, -1, a slot beyond the last).
    static func slot(_ text: String, count: Int) throws(AlpacaError) -> Int {
        let rule = "a slot is an integer from 0 to \(count - 1) (\(count) filters)"
        guard let slot = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw AlpacaError.invalidValue("Position = '\(text)': not an integer; \(rule)")
        }
        guard (0..<count).contains(slot) else {
            throw AlpacaError.invalidValue("Position = \(slot): out of range; \(rule)")
        }
        return slot
    }

    /// Checks that the camera process answers and reads its wheel (waiting a few seconds for a
    /// restarting camera process, as the camera's Connected does).
    private func connect() async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            do {
                let filter = try await gateway.camera(FilterCommand.self, .init())
                gateway.logger.info("alpaca: filter wheel connected at slot \(filter.slot) (\(filter.name))")
                break
            } catch where error.code == .unavailable(.camera) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                throw AlpacaError(error)
            }
        }
        state.withLock { $0.connected = true }
    }
}
