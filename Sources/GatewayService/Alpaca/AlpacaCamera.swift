import Bus
import ApertureProtocol
import Foundation
import Logging
import Synchronization

/// Camera 0 of the Alpaca device: the ICameraV4 members over the one camera process.
///
/// The gateway keeps the Alpaca client's view (Connected, binning, subframe, gain, readout
/// mode, and the exposure it started); the camera process keeps everything that matters, so
/// an exposure started here is busy for the evora and `/v1` faces and vice versa.
final class AlpacaCamera: AlpacaDevice {
    static let pathName = "camera"

    /// The settings a client sets before `startexposure`, in Alpaca's units (NumX/NumY and
    /// StartX/StartY in binned pixels).
    struct Settings: Sendable {
        var binX = 1
        var binY = 1
        var startX = 0
        var startY = 0
        var numX: Int?
        var numY: Int?
        var gain = 0
        var readoutMode = 0
    }

    /// The exposure this face started.
    struct Exposure: Sendable {
        var id: String
        var duration: Double
        /// When `startexposure` was called (the earliest `imageready` may turn true is this
        /// plus `duration`).
        var requested: Date
        /// running until the camera says otherwise.
        var status: ExposureRecord.Status = .running
        /// Where its frame is in the ring, once found.
        var location: FrameLocation?
        /// The frame's own exposure start, once found.
        var frameStart: Date?
        /// The FITS file the camera saved it to, once completed (read when the ring no longer
        /// holds the frame).
        var file: String?
    }

    struct State: Sendable, AlpacaConnectionState {
        var connected = false
        /// A `connect` (ICameraV4's asynchronous Connect) is in progress.
        var connecting = false
        var info: CameraInfo?
        var settings = Settings()
        var exposure: Exposure?
    }

    let gateway: Gateway
    private let state = Mutex(State())

    init(gateway: Gateway) {
        self.gateway = gateway
    }

    static let interfaceVersion = 4
    static let driverVersion = "1.0"
    static let name = "Aperture camera"

    /// The members of ICameraV4 and the common interface, and whether each is read (GET) and/or
    /// written (PUT).
    static let members = memberTable(
        get: ["bayeroffsetx", "bayeroffsety", "camerastate", "cameraxsize", "cameraysize", "canabortexposure",
              "canasymmetricbin", "canfastreadout", "cangetcoolerpower", "canpulseguide", "cansetccdtemperature",
              "canstopexposure", "ccdtemperature", "coolerpower", "electronsperadu", "exposuremax", "exposuremin",
              "exposureresolution", "fullwellcapacity", "gainmax", "gainmin", "gains", "hasshutter",
              "heatsinktemperature", "imagearray", "imagearrayvariant", "imageready", "ispulseguiding",
              "lastexposureduration", "lastexposurestarttime", "maxadu", "maxbinx", "maxbiny", "offsetmax",
              "offsetmin", "offsets", "percentcompleted", "pixelsizex", "pixelsizey", "readoutmodes",
              "sensorname", "sensortype"],
        getAndPut: ["binx", "biny", "cooleron", "fastreadout", "gain", "numx", "numy", "offset",
                    "readoutmode", "setccdtemperature", "startx", "starty", "subexposureduration"],
        put: ["abortexposure", "pulseguide", "startexposure", "stopexposure"])

    /// Members that answer whether or not the client connected.
    private static let unconnected: Set<String> = [
        "connected", "connecting", "connect", "disconnect", "description", "driverinfo", "driverversion",
        "interfaceversion", "name", "supportedactions", "action", "commandblind", "commandbool", "commandstring",
    ]

    var isConnected: Bool { state.withLock { $0.connected } }

    // MARK: GET

    func get(_ member: String, _ parameters: AlpacaParameters) async throws -> AlpacaValue {
        if !Self.unconnected.contains(member) && member != "devicestate" {
            guard isConnected else { throw AlpacaError.notConnected(member) }
        }
        switch member {
        case "connected": return .bool(isConnected)
        case "connecting": return .bool(state.withLock { $0.connecting })
        case "description": return .string(await description())
        case "driverinfo":
            return .string("Aperture's ASCOM Alpaca camera, served by aperture-gateway; it drives the camera "
                + "process (aperture-camera) over NNG and reads frames from its shared-memory ring.")
        case "driverversion": return .string(Self.driverVersion)
        case "interfaceversion": return .int(Self.interfaceVersion)
        case "name": return .string(Self.name)
        case "supportedactions": return .array([])
        case "devicestate": return try await deviceState()

        case "camerastate": return .int(try await cameraState().alpaca)
        case "imageready": return .bool(try await imageReady())
        case "percentcompleted": return .int(try await percentCompleted())
        case "lastexposureduration":
            guard let exposure = state.withLock({ $0.exposure }) else {
                throw AlpacaError.valueNotSet("lastexposureduration: no exposure has been started yet")
            }
            return .double(exposure.duration)
        case "lastexposurestarttime":
            guard let exposure = state.withLock({ $0.exposure }) else {
                throw AlpacaError.valueNotSet("lastexposurestarttime: no exposure has been started yet")
            }
            return .string(AlpacaTime.string(exposure.frameStart ?? exposure.requested))

        case "ccdtemperature": return .double(try await temperature().celsius)
        case "cooleron": return .bool(try await temperature().coolerOn)
        case "coolerpower": return .double(try await temperature().coolerPower ?? 0)
        case "setccdtemperature": return .double(Double(try await temperature().setpoint))
        case "heatsinktemperature":
            throw AlpacaError.notImplemented("heatsinktemperature: the camera does not report a heat sink temperature")

        case "binx": return .int(state.withLock { $0.settings.binX })
        case "biny": return .int(state.withLock { $0.settings.binY })
        case "startx": return .int(state.withLock { $0.settings.startX })
        case "starty": return .int(state.withLock { $0.settings.startY })
        case "numx":
            let info = try self.info()
            return .int(state.withLock { $0.settings.numX ?? info.width })
        case "numy":
            let info = try self.info()
            return .int(state.withLock { $0.settings.numY ?? info.height })
        case "gain": return .int(state.withLock { $0.settings.gain })
        case "readoutmode": return .int(state.withLock { $0.settings.readoutMode })
        case "gains": return .strings(try info().gains)
        case "readoutmodes": return .strings(try info().readoutModes)
        case "gainmin", "gainmax":
            throw AlpacaError.notImplemented("\(member): the camera's gains are a list (see gains); Gain is an index into it")

        case "cameraxsize": return .int(try info().width)
        case "cameraysize": return .int(try info().height)
        case "pixelsizex": return .double(try info().pixelWidth)
        case "pixelsizey": return .double(try info().pixelHeight)
        case "maxbinx": return .int(try info().maximumBinX)
        case "maxbiny": return .int(try info().maximumBinY)
        case "exposuremin": return .double(try info().minimumExposure)
        case "exposuremax": return .double(try info().maximumExposure)
        case "exposureresolution": return .double(0.001)
        case "maxadu": return .int(try info().maximumADU)
        case "electronsperadu": return .double(try info().electronsPerADU)
        case "fullwellcapacity":
            let info = try self.info()
            return .double(Double(info.maximumADU) * info.electronsPerADU)
        case "hasshutter": return .bool(try info().hasShutter)
        case "sensortype": return .int(0)  // monochrome
        // Mandatory in ICameraV4: an empty string when the sensor's name is not known.
        case "sensorname": return .string("")
        case "bayeroffsetx", "bayeroffsety":
            throw AlpacaError.notImplemented("\(member): the sensor is monochrome (sensortype 0)")

        case "canabortexposure": return .bool(true)
        case "canasymmetricbin": return .bool(true)
        case "canfastreadout": return .bool(false)
        case "cangetcoolerpower": return .bool(true)
        case "canpulseguide": return .bool(false)
        case "cansetccdtemperature": return .bool(true)
        case "canstopexposure": return .bool(false)

        case "fastreadout": throw AlpacaError.notImplemented("fastreadout: canfastreadout is false; use readoutmode")
        case "ispulseguiding": throw AlpacaError.notImplemented("ispulseguiding: the camera has no guide port")
        case "offset", "offsetmax", "offsetmin", "offsets":
            throw AlpacaError.notImplemented("\(member): the camera has no settable offset")
        case "subexposureduration":
            throw AlpacaError.notImplemented("subexposureduration: the camera does not take sub-exposures")
        default:
            throw AlpacaBadRequest("'\(member)' is not a readable member of the camera")
        }
    }

    // MARK: PUT

    func put(_ member: String, _ parameters: AlpacaParameters) async throws {
        switch member {
        case "connected":
            let value = try parameters.bool("Connected")
            if value { try await connect() } else { state.withLock { $0.connected = false } }
            return
        case "connect":
            connectInBackground(claim: { state.withLock { $0.claimConnecting() } },
                                release: { [self] in state.withLock { $0.connecting = false } },
                                connect: { [self] in try await connect() })
            return
        case "disconnect": state.withLock { $0.connected = false }; return
        case "action", "commandblind", "commandbool", "commandstring":
            try refuseActionOrCommand(member, parameters, device: "camera")
        default: break
        }

        // Parse first: a malformed request is HTTP 400 whether or not the client connected.
        switch member {
        case "binx", "biny":
            let value = try parameters.int(member == "binx" ? "BinX" : "BinY")
            try requireConnected(member)
            let info = try self.info()
            let maximum = member == "binx" ? info.maximumBinX : info.maximumBinY
            guard (1...maximum).contains(value) else {
                throw AlpacaError.invalidValue("\(member == "binx" ? "BinX" : "BinY") = \(value): the camera bins 1 to \(maximum)")
            }
            state.withLock { if member == "binx" { $0.settings.binX = value } else { $0.settings.binY = value } }
        case "startx", "starty", "numx", "numy":
            // ICameraV4: the subframe is not checked when set (binning and subframe come in any
            // order); StartExposure refuses a frame that does not fit (0x401, naming the values).
            let key = ["startx": "StartX", "starty": "StartY", "numx": "NumX", "numy": "NumY"][member]!
            let value = try parameters.int(key)
            try requireConnected(member)
            state.withLock { state in
                switch member {
                case "startx": state.settings.startX = value
                case "starty": state.settings.startY = value
                case "numx": state.settings.numX = value
                default: state.settings.numY = value
                }
            }
        case "gain":
            let value = try index(parameters, "Gain", member: member, into: "gains") { $0.gains }
            state.withLock { $0.settings.gain = value }
        case "readoutmode":
            let value = try index(parameters, "ReadoutMode", member: member, into: "readoutmodes") { $0.readoutModes }
            state.withLock { $0.settings.readoutMode = value }
        case "cooleron":
            let value = try parameters.bool("CoolerOn")
            try requireConnected(member)
            _ = try await camera(CoolCommand.self, .init(setpoint: nil, cooler: value))
        case "setccdtemperature":
            let value = try parameters.double("SetCCDTemperature")
            try requireConnected(member)
            let info = try self.info()
            guard value >= Double(info.minimumSetpoint), value <= Double(info.maximumSetpoint) else {
                throw AlpacaError.invalidValue("SetCCDTemperature = \(value): the set-point must be from \(info.minimumSetpoint) to \(info.maximumSetpoint) °C")
            }
            let cooler = try await temperature().coolerOn
            _ = try await camera(CoolCommand.self, .init(setpoint: Int(value.rounded()), cooler: cooler))
        case "startexposure":
            let duration = try parameters.double("Duration")
            let light = try parameters.bool("Light")
            try requireConnected(member)
            try await startExposure(duration: duration, light: light)
        case "abortexposure":
            try requireConnected(member)
            try await abortExposure()
        case "stopexposure":
            try requireConnected(member)
            throw AlpacaError.notImplemented("stopexposure: canstopexposure is false (the camera cannot end an exposure early and keep it); use abortexposure")
        case "pulseguide":
            _ = try parameters.int("Direction")
            _ = try parameters.int("Duration")
            try requireConnected(member)
            throw AlpacaError.notImplemented("pulseguide: canpulseguide is false")
        case "fastreadout":
            _ = try parameters.bool("FastReadout")
            try requireConnected(member)
            throw AlpacaError.notImplemented("fastreadout: canfastreadout is false; use readoutmode")
        case "offset":
            _ = try parameters.int("Offset")
            try requireConnected(member)
            throw AlpacaError.notImplemented("offset: the camera has no settable offset")
        case "subexposureduration":
            _ = try parameters.double("SubExposureDuration")
            try requireConnected(member)
            throw AlpacaError.notImplemented("subexposureduration: the camera does not take sub-exposures")
        default:
            throw AlpacaBadRequest("'\(member)' is not a writable member of the camera")
        }
    }

    // MARK: Connection

    private func requireConnected(_ member: String) throws(AlpacaError) {
        guard isConnected else { throw AlpacaError.notConnected(member) }
    }

    /// Checks that the camera process answers and its camera is connected (initialising it if
    /// not), and keeps what it can do.
    private func connect() async throws {
        // A camera process that is (re)starting gets a few seconds: Connected = true is
        // synchronous for the client, which expects it to take a moment.
        let deadline = ContinuousClock.now + .seconds(10)
        var status: CameraStatusReport
        while true {
            do {
                status = try await gateway.camera(CameraStatusCommand.self)
                break
            } catch where error.code == .unavailable(.camera) && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(200))
            } catch {
                throw AlpacaError(error)
            }
        }
        if !status.connected {
            status = try await camera(InitializeCommand.self, timeout: .seconds(30))
        }
        guard status.connected, let info = status.info else {
            throw AlpacaError.driver("the camera is not connected: \(status.reason ?? "the camera process reports no camera")")
        }
        state.withLock { state in
            if let old = state.info, old.width != info.width || old.height != info.height {
                state.settings = Settings()
            }
            state.info = info
            state.connected = true
        }
    }

    private func info() throws(AlpacaError) -> CameraInfo {
        guard let info = state.withLock({ $0.info }) else {
            throw AlpacaError.notConnected("camera")
        }
        return info
    }

    private func description() async -> String {
        if let status = try? await gateway.camera(CameraStatusCommand.self, timeout: .seconds(1)), let info = status.info {
            return "Aperture: \(info.model)\(info.serial.map { " #\($0)" } ?? "") (\(status.driver)), \(info.width)x\(info.height)"
        }
        return "Aperture: the camera served by aperture-camera"
    }

    // MARK: Camera calls

    func camera<C: BusCommand>(_ command: C.Type, _ arguments: C.Arguments,
                               timeout: Duration = Gateway.queryTimeout) async throws(AlpacaError) -> C.Result {
        do {
            return try await gateway.camera(command, arguments, timeout: timeout)
        } catch {
            throw AlpacaError(error)
        }
    }

    func camera<C: BusCommand>(_ command: C.Type, timeout: Duration = Gateway.queryTimeout)
        async throws(AlpacaError) -> C.Result where C.Arguments == NoArguments {
        do {
            return try await gateway.camera(command, timeout: timeout)
        } catch {
            throw AlpacaError(error)
        }
    }

    /// A PUT value that is an index into one of the camera's lists (gains, readout modes).
    private func index(_ parameters: AlpacaParameters, _ key: String, member: String, into listName: String,
                       _ list: (CameraInfo) -> [String]) throws -> Int {
        let value = try parameters.int(key)
        try requireConnected(member)
        let names = list(try info())
        guard names.indices.contains(value) else {
            throw AlpacaError.invalidValue(
                "\(key) = \(value): must be an index from 0 to \(names.count - 1) into \(listName) (\(names.joined(separator: ", ")))")
        }
        return value
    }

    private func temperature() async throws(AlpacaError) -> TemperatureStatus {
        do {
            return try await gateway.temperature()
        } catch {
            throw AlpacaError(error)
        }
    }

    // MARK: Exposures

    private func startExposure(duration: Double, light: Bool) async throws {
        let info = try self.info()
        let settings = state.withLock { $0.settings }
        guard duration >= 0 else {
            throw AlpacaError.invalidValue("Duration = \(duration): must not be negative")
        }
        guard duration <= info.maximumExposure else {
            throw AlpacaError.invalidValue("Duration = \(duration): above exposuremax (\(info.maximumExposure) s)")
        }
        if light || duration > 0 {
            guard duration >= info.minimumExposure, duration > 0 else {
                throw AlpacaError.invalidValue("Duration = \(duration): below exposuremin (\(info.minimumExposure) s)"
                    + (light ? "; only a dark frame (Light = false) may last 0 s" : ""))
            }
        }
        let numX = settings.numX ?? info.width
        let numY = settings.numY ?? info.height
        let columns = info.width / settings.binX
        let rows = info.height / settings.binY
        for (key, value, least) in [("StartX", settings.startX, 0), ("StartY", settings.startY, 0), ("NumX", numX, 1), ("NumY", numY, 1)]
        where value < least {
            throw AlpacaError.invalidValue("\(key) = \(value): must be \(least) or more (binned pixels)")
        }
        // Compared without adding: StartX and NumX may be any integer a client sent.
        guard numX <= columns, settings.startX <= columns - numX else {
            throw AlpacaError.invalidValue("StartX \(settings.startX) + NumX \(numX) exceeds the \(columns) columns at BinX \(settings.binX) (cameraxsize / binx)")
        }
        guard numY <= rows, settings.startY <= rows - numY else {
            throw AlpacaError.invalidValue("StartY \(settings.startY) + NumY \(numY) exceeds the \(rows) rows at BinY \(settings.binY) (cameraysize / biny)")
        }
        guard info.gains.indices.contains(settings.gain) else {
            throw AlpacaError.invalidValue("Gain \(settings.gain) is not an index into gains")
        }
        guard info.readoutModes.indices.contains(settings.readoutMode) else {
            throw AlpacaError.invalidValue("ReadoutMode \(settings.readoutMode) is not an index into readoutmodes")
        }
        let type: ImageType = light ? .object : (duration == 0 ? .bias : .dark)
        let request = ExposureRequest(
            type: type, time: duration, comment: "ASCOM Alpaca",
            subframe: Subframe(x: settings.startX * settings.binX, y: settings.startY * settings.binY,
                               width: numX * settings.binX, height: numY * settings.binY),
            binX: settings.binX, binY: settings.binY, readoutMode: settings.readoutMode, gain: settings.gain)
        let requested = Date()
        let record = try await camera(ExposeCommand.self, request)
        state.withLock { $0.exposure = Exposure(id: record.id, duration: duration, requested: requested) }
        gateway.logger.info("alpaca: exposure \(record.id) started (\(type.rawValue), \(duration) s)",
                            metadata: ["exposure.id": "\(record.id)"])
    }

    private func abortExposure() async throws {
        let status = try await camera(CameraStatusCommand.self)
        let ours = state.withLock { $0.exposure }
        guard let running = status.exposure, running.status == .running,
              status.state != .idle && status.state != .error else {
            if let ours, ours.status == .running {
                // The camera finished it (possibly before the Alpaca duration elapsed): an
                // abort discards it for this client.
                state.withLock { if $0.exposure?.id == ours.id { $0.exposure?.status = .aborted } }
            }
            return
        }
        guard running.id == ours?.id else {
            throw AlpacaError.invalidOperation(
                "the running exposure \(running.id) was started by another client of Aperture, not through Alpaca; abort it there")
        }
        let reply = try await camera(AbortCommand.self, timeout: .seconds(8))
        state.withLock { if $0.exposure?.id == running.id { $0.exposure?.status = .aborted } }
        if !reply.aborted && reply.state != .idle {
            throw AlpacaError.driver("abort: \(reply.message)")
        }
    }

    /// The Alpaca camera state, and the camera's report.
    func cameraState() async throws(AlpacaError) -> (alpaca: Int, status: CameraStatusReport) {
        // Clients poll this several times a second: the gateway's shared status (at most
        // 100 ms old, never older than the camera's last state change) answers them.
        let status: CameraStatusReport
        do {
            status = try await gateway.cameraStatusReport()
        } catch {
            throw AlpacaError(error)
        }
        let ours = state.withLock { $0.exposure }
        let now = Date()
        if let ours, ours.status == .running || ours.status == .completed,
           now < ours.requested.addingTimeInterval(ours.duration),
           status.exposure == nil || status.exposure?.id == ours.id {
            // The duration the client asked for has not elapsed: exposing, whatever a fast
            // simulator says.
            return (2, status)
        }
        switch status.state {
        case .idle: return (0, status)
        case .error: return (5, status)
        case .exposing:
            if let running = status.exposure {
                let start = running.id == ours?.id ? ours!.requested : Date(timeIntervalSince1970: running.started)
                let duration = running.id == ours?.id ? ours!.duration : running.request.time
                return (now < start.addingTimeInterval(duration) ? 2 : 3, status)
            }
            return (2, status)
        case .reading, .aborting: return (3, status)
        case .saving: return (4, status)
        }
    }

    /// Whether the image of the exposure started here can be read: the camera finished and
    /// saved it, its frame is in the ring, and its duration has elapsed.
    func imageReady() async throws(AlpacaError) -> Bool {
        try await readyExposure() != nil
    }

    /// The exposure with its frame located, when its image is ready.
    func readyExposure() async throws(AlpacaError) -> Exposure? {
        guard var exposure = state.withLock({ $0.exposure }) else { return nil }
        guard Date() >= exposure.requested.addingTimeInterval(exposure.duration) else { return nil }
        if exposure.status == .running {
            let status: ExposureRecord.Status
            do {
                let record = try await gateway.camera(ExposureQueryCommand.self, .init(id: exposure.id))
                status = record.status
                exposure.file = record.files.first?.path
                if let file = exposure.file { state.withLock { if $0.exposure?.id == exposure.id { $0.exposure?.file = file } } }
            } catch where error.code == .notFound {
                // A restarted camera process no longer knows it: the exposure was lost.
                status = .failed
            } catch {
                throw AlpacaError(error)
            }
            exposure.status = status
            if status == .running { return nil }
            state.withLock { if $0.exposure?.id == exposure.id, $0.exposure?.status == .running { $0.exposure?.status = status } }
        }
        guard exposure.status == .completed else { return nil }
        if exposure.location == nil {
            // Overwritten in the ring already (other frames came since): its file holds it.
            guard let found = locateFrame(exposure.id) else { return exposure.file == nil ? nil : exposure }
            exposure.location = found.location
            exposure.frameStart = Date(timeIntervalSince1970: found.start)
            state.withLock {
                if $0.exposure?.id == exposure.id {
                    $0.exposure?.location = found.location
                    $0.exposure?.frameStart = Date(timeIntervalSince1970: found.start)
                }
            }
        }
        return exposure
    }

    /// Finds the frame of `exposureId` in the ring, newest first.
    private func locateFrame(_ exposureId: String) -> (location: FrameLocation, start: Double)? {
        guard let reader = try? gateway.frames.current() else { return nil }
        _ = try? reader.reopenIfReplaced()
        guard let newest = reader.latestLocation() else { return nil }
        let slots = UInt64(reader.slotCount)
        var sequence = newest.sequence
        while sequence >= 1, newest.sequence - sequence < slots {
            let location = FrameLocation(slot: Int((sequence - 1) % slots), sequence: sequence, generation: newest.generation)
            if let start = reader.withFrame(location, { metadata, _ in
                metadata.exposureId == exposureId ? metadata.exposureStart : nil
            }), let start {
                return (location, start)
            }
            sequence -= 1
        }
        return nil
    }

    private func percentCompleted() async throws(AlpacaError) -> Int {
        // Before the first exposure: 0 (the interface allows a value or InvalidValue; ConformU
        // accepts either, CameraTester.cs PercentCompleted Read).
        guard let exposure = state.withLock({ $0.exposure }) else { return 0 }
        switch exposure.status {
        case .completed: return 100
        case .aborted, .failed: return 0
        case .running: break
        }
        let elapsed = Date().timeIntervalSince(exposure.requested)
        // The fraction is compared before it becomes an Int: a Duration of 1e-30 s makes it 1e29.
        let fraction = exposure.duration > 0 ? elapsed / exposure.duration : .infinity
        guard fraction < 1 else { return (try await imageReady()) ? 100 : 99 }
        return Int((100 * max(0, fraction)).rounded(.down))
    }

    private func deviceState() async throws -> AlpacaValue {
        guard isConnected else { throw AlpacaError.notConnected("devicestate") }
        var items: [AlpacaValue] = []
        func item(_ name: String, _ value: AlpacaValue) {
            items.append(.object([("Name", .string(name)), ("Value", value)]))
        }
        if let state = try? await cameraState() {
            item("CameraState", .int(state.alpaca))
            if let temperature = state.status.temperature {
                item("CCDTemperature", .double(temperature.celsius))
                item("CoolerPower", .double(temperature.coolerPower ?? 0))
            }
        }
        if let ready = try? await imageReady() { item("ImageReady", .bool(ready)) }
        if let percent = try? await percentCompleted() { item("PercentCompleted", .int(percent)) }
        item("TimeStamp", .string(AlpacaTime.string(Date())))
        return .array(items)
    }
}
