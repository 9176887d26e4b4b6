import ApertureConfig
import ArgumentParser
import Bus
import ApertureProtocol
import Foundation

/// `aperture camera ...`: drives the running camera over camera.ctl.
struct CameraCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "camera",
        abstract: "Drive the running service's camera.",
        subcommands: [Expose.self, Abort.self, CameraStatus.self, Cool.self])

    /// A client for camera.ctl of the configured runtime directory.
    static func client(_ options: CommonOptions) throws -> (RequestClient, ApertureConfiguration) {
        let configuration = try options.loadConfiguration()
        let runtime = SupervisorConnection.runtime(configuration)
        return (try RequestClient(dialing: runtime.endpoint(EndpointName.cameraControl)), configuration)
    }

    /// Prints a bus error as `aperture: CODE: message` and exits 1 (69 when unreachable).
    static func fail(_ error: BusError, _ configuration: ApertureConfiguration) -> ExitCode {
        if error.code == .timeout {
            let runtime = SupervisorConnection.runtime(configuration)
            FileHandle.standardError.write(Data("aperture: \(error.message) (is aperture running with runtime directory \(runtime.path)?)\n".utf8))
            return ExitCode(69)
        }
        FileHandle.standardError.write(Data("aperture: \(error.code): \(error.message)\n".utf8))
        return ExitCode(1)
    }

    struct Expose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start an exposure; prints its id (with --wait, the saved files' paths).")

        @OptionGroup var options: CommonOptions
        @Option(name: .customLong("type"), help: "bias, dark, flat or object.") var imageType: String
        @Option(help: "Exposure time in seconds (0 for a bias).") var time: Double
        @Option(help: "Number of frames (more than 1 is a series).") var count: Int?
        @Flag(help: "Continuous preview: frames are published, not saved, until aborted.") var preview = false
        @Option(help: "Filter name (moves the wheel first).") var filter: String?
        @Option(help: "Comment (FITS COMMENT; 'focus: N' also sets FOCUS).") var comment: String?
        @Option(help: "FITS OBJECT.") var object: String?
        @Option(help: "Subframe X,Y,WIDTH,HEIGHT in unbinned pixels.") var subframe: String?
        @Option(help: "Binning, e.g. 2 or 2x1.") var bin: String?
        @Option(name: .customLong("keyword"), help: "Extra FITS keyword KEY=VALUE (repeatable).") var keywords: [String] = []
        @Option(parsing: .unconditional, help: "Right ascension pointed at (J2000 degrees, 0 to <360; with --dec).")
        var ra: Double?
        @Option(parsing: .unconditional, help: "Declination pointed at (J2000 degrees, -90 to 90; with --ra).")
        var dec: Double?
        @Flag(help: "Wait until the exposure ends and print the saved files.") var wait = false

        func run() async throws {
            guard let type = ImageType(rawValue: imageType.lowercased()) else {
                throw ValidationError("--type must be bias, dark, flat or object (got '\(imageType)')")
            }
            var request = ExposureRequest(type: type, time: time, count: count, mode: preview ? .preview : nil,
                                          filter: filter, comment: comment, object: object, ra: ra, dec: dec)
            if let subframe {
                let parts = subframe.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 4 else { throw ValidationError("--subframe must be X,Y,WIDTH,HEIGHT (got '\(subframe)')") }
                request.subframe = Subframe(x: parts[0], y: parts[1], width: parts[2], height: parts[3])
            }
            if let bin {
                let parts = bin.lowercased().split(separator: "x").compactMap { Int($0) }
                guard (1...2).contains(parts.count) else { throw ValidationError("--bin must be N or NxM (got '\(bin)')") }
                request.binX = parts[0]
                request.binY = parts.count == 2 ? parts[1] : parts[0]
            }
            if !keywords.isEmpty {
                var values: [String: KeywordValue] = [:]
                for item in keywords {
                    guard let equals = item.firstIndex(of: "=") else { throw ValidationError("--keyword must be KEY=VALUE (got '\(item)')") }
                    let key = String(item[..<equals])
                    let text = String(item[item.index(after: equals)...])
                    if let integer = Int(text) { values[key] = .integer(integer) }
                    else if let number = Double(text) { values[key] = .double(number) }
                    else if text == "T" || text == "F" { values[key] = .logical(text == "T") }
                    else { values[key] = .string(text) }
                }
                request.keywords = values
            }
            let (client, configuration) = try CameraCommand.client(options)
            // With --wait, follow camera.exposure: subscribed before the request, so that its end
            // is not missed; the camera is asked once, then only when no event came for 5 s.
            let events = wait ? try? Subscriber(
                dialing: SupervisorConnection.runtime(configuration).endpoint(EndpointName.cameraEvents),
                topics: [CameraTopic.exposure], bufferSize: 64) : nil
            defer { events?.close() }
            let record: ExposureRecord
            do {
                record = try await client.call(ExposeCommand.self, request, timeout: .seconds(10))
            } catch {
                throw CameraCommand.fail(error, configuration)
            }
            print(record.id)
            guard wait else { return }
            while true {
                var current: ExposureRecord
                do {
                    current = try await client.call(ExposureQueryCommand.self, .init(id: record.id), timeout: .seconds(10))
                } catch {
                    throw CameraCommand.fail(error, configuration)
                }
                if current.status == .running {
                    guard let events else {
                        try await Task.sleep(for: .seconds(1))
                        continue
                    }
                    let deadline = ContinuousClock.now + .seconds(5)
                    while current.status == .running, ContinuousClock.now < deadline,
                          let event = try? await events.next(timeout: deadline - ContinuousClock.now) {
                        if let changed = try? event.decode(ExposureRecord.self), changed.id == record.id {
                            current = changed
                        }
                    }
                    // No event within 5 s (events are lossy): ask the camera again.
                    if current.status == .running { continue }
                }
                for file in current.files { print(file.path) }
                switch current.status {
                case .completed: return
                case .aborted:
                    FileHandle.standardError.write(Data("aperture: exposure \(record.id) was aborted after \(current.files.count) frame(s)\n".utf8))
                    throw ExitCode(2)
                default:
                    FileHandle.standardError.write(Data("aperture: exposure \(record.id) failed: \(current.error?.code.rawValue ?? "?"): \(current.error?.message ?? "")\n".utf8))
                    throw ExitCode(1)
                }
            }
        }
    }

    struct Abort: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Abort the running exposure (the partial frame is discarded).")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            let (client, configuration) = try CameraCommand.client(options)
            do {
                let reply = try await client.call(AbortCommand.self, timeout: .seconds(10))
                print(reply.aborted ? "\(reply.message) (\(String(format: "%.1f", reply.milliseconds)) ms)" : reply.message)
            } catch {
                throw CameraCommand.fail(error, configuration)
            }
        }
    }

    struct CameraStatus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "The camera's state, temperature, filter and exposure.")
        @OptionGroup var options: CommonOptions
        @Flag(help: "Print the JSON reply.") var json = false

        func run() async throws {
            let (client, configuration) = try CameraCommand.client(options)
            let status: CameraStatusReport
            do {
                status = try await client.call(CameraStatusCommand.self, timeout: .seconds(10))
            } catch {
                throw CameraCommand.fail(error, configuration)
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                print(String(decoding: try encoder.encode(status), as: UTF8.self))
                return
            }
            var line = "camera \(status.state.rawValue) (\(status.driver))"
            if let reason = status.reason { line += ": \(reason)" }
            print(line)
            if let info = status.info {
                print("sensor     \(info.model), \(info.width)x\(info.height), \(info.pixelWidth) um pixels, cooler \(info.minimumSetpoint)...\(info.maximumSetpoint) C")
            }
            if let t = status.temperature {
                print(String(format: "cooling    %.1f C, set-point %d C, cooler %@, %@", t.celsius, t.setpoint,
                             t.coolerOn ? "on" : "off", t.state.rawValue)
                      + (t.coolerPower.map { String(format: ", %.0f%% power", $0) } ?? ""))
            }
            if let filter = status.filter { print("filter     \(filter.name) (slot \(filter.slot))") }
            if let exposure = status.exposure {
                print("exposure   \(exposure.id): \(exposure.request.type.rawValue) \(exposure.request.time) s, frame \(status.frame ?? 0) of \(exposure.count.map(String.init) ?? "∞")")
            }
        }
    }

    struct Cool: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the cooler's set-point (degrees C), or switch it off.")
        @OptionGroup var options: CommonOptions
        @Argument(parsing: .allUnrecognized, help: "A set-point in degrees Celsius (negative numbers welcome), 'on' or 'off'.")
        var values: [String] = []

        func run() async throws {
            guard values.count == 1, let setpoint = values.first else {
                throw ValidationError("give exactly one SETPOINT (degrees Celsius), 'on' or 'off'")
            }
            let arguments: CoolCommand.Arguments
            if setpoint.lowercased() == "off" {
                arguments = .init(cooler: false)
            } else if setpoint.lowercased() == "on" {
                arguments = .init(cooler: true)
            } else if let value = Int(setpoint) {
                arguments = .init(setpoint: value, cooler: true)
            } else {
                throw ValidationError("SETPOINT must be an integer number of degrees Celsius, 'on' or 'off' (got '\(setpoint)')")
            }
            let (client, configuration) = try CameraCommand.client(options)
            do {
                let t = try await client.call(CoolCommand.self, arguments, timeout: .seconds(10))
                print(String(format: "cooler %@, set-point %d C, now %.1f C (%@)", t.coolerOn ? "on" : "off", t.setpoint, t.celsius, t.state.rawValue))
            } catch {
                throw CameraCommand.fail(error, configuration)
            }
        }
    }
}
