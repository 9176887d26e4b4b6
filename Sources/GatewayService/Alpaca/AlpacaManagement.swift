import ApertureConfig
import ApertureProtocol
import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The Alpaca management API (`/management/apiversions`, `/management/v1/description`,
/// `/management/v1/configureddevices`) and the setup pages.
struct AlpacaManagement: Sendable {
    /// The camera's UniqueID, kept in the state directory so that it survives restarts.
    let uniqueID: String
    /// The filter wheel's UniqueID, kept beside the camera's.
    let filterWheelID: String
    let serverName = "Aperture"
    let manufacturer = "Aperture"
    let location: String

    /// - Parameters:
    ///   - site: `site.name`; with `camera`, what a new UniqueID is derived from.
    ///   - camera: `camera.name`.
    init(stateDirectory: String, host: String, site: String, camera: String, logger: Logger) {
        uniqueID = Self.loadUniqueID(stateDirectory: stateDirectory, file: Self.uniqueIDFile,
                                     name: "\(site)/\(camera)/camera/0", logger: logger)
        filterWheelID = Self.loadUniqueID(stateDirectory: stateDirectory, file: Self.filterWheelIDFile,
                                          name: "\(site)/\(camera)/filterwheel/0", logger: logger)
        location = ProcessInfo.processInfo.hostName.isEmpty ? host : ProcessInfo.processInfo.hostName
    }

    static let uniqueIDFile = "alpaca-camera-0.uniqueid"
    static let filterWheelIDFile = "alpaca-filterwheel-0.uniqueid"

    /// The namespace of Aperture's name-based UniqueIDs (a random UUID, fixed once).
    static let uniqueIDNamespace = UUID(uuidString: "6f1d3b0e-5c2a-4e8b-9a41-2d7c0b5e8f13")!

    /// The name-based UUID (RFC 9562 version 5: SHA-1 of the namespace and the name) of `name`,
    /// lower case: the same name always gives the same UUID, another name another.
    static func nameBasedUUID(_ name: String, namespace: UUID = uniqueIDNamespace) -> String {
        var hash = Insecure.SHA1()
        withUnsafeBytes(of: namespace.uuid) { hash.update(bufferPointer: $0) }
        hash.update(data: Array(name.utf8))
        var bytes = Array(hash.finalize().prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x50
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let uuid = UUID(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                               bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
        return uuid.uuidString.lowercased()
    }

    /// Reads a device's UniqueID from `STATE/FILE` (`alpaca-camera-0.uniqueid`,
    /// `alpaca-filterwheel-0.uniqueid`); the first time, creates the directory and the file with
    /// the UUID derived from `name` (`SITE/CAMERA/camera/0`), so that each instance's devices
    /// differ from another instance's and a lost state directory gives the same UniqueID back.
    /// A UniqueID already kept stays (clients remember devices by it).
    static func loadUniqueID(stateDirectory: String, file: String, name: String, logger: Logger) -> String {
        let path = (stateDirectory as NSString).appendingPathComponent(file)
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if UUID(uuidString: id) != nil { return id.lowercased() }
            logger.warning("alpaca: \(path) does not hold a UUID; writing a new UniqueID")
        }
        let id = nameBasedUUID(name)
        do {
            try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
            let temporary = path + ".tmp"
            try (id + "\n").write(toFile: temporary, atomically: false, encoding: .utf8)
            guard rename(temporary, path) == 0 else {
                throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
            }
            logger.info("alpaca: new UniqueID \(id) in \(path)")
        } catch {
            logger.error("alpaca: cannot keep the UniqueID in \(path) (\(error)); it changes at each start until state.directory is writable")
        }
        return id
    }

    func response(_ path: [Substring], transaction: AlpacaTransaction) -> Response? {
        switch path {
        case ["management", "apiversions"]:
            return AlpacaEnvelope.response(value: .array([.int(1)]), transaction: transaction)
        case ["management", "v1", "description"]:
            return AlpacaEnvelope.response(value: .object([
                ("ServerName", .string(serverName)),
                ("Manufacturer", .string(manufacturer)),
                ("ManufacturerVersion", .string(AlpacaCamera.driverVersion)),
                ("Location", .string(location)),
            ]), transaction: transaction)
        case ["management", "v1", "configureddevices"]:
            return AlpacaEnvelope.response(value: .array([
                .object([
                    ("DeviceName", .string(AlpacaCamera.name)),
                    ("DeviceType", .string("Camera")),
                    ("DeviceNumber", .int(0)),
                    ("UniqueID", .string(uniqueID)),
                ]),
                .object([
                    ("DeviceName", .string(AlpacaFilterWheel.name)),
                    ("DeviceType", .string("FilterWheel")),
                    ("DeviceNumber", .int(0)),
                    ("UniqueID", .string(filterWheelID)),
                ]),
            ]), transaction: transaction)
        default:
            return nil
        }
    }

    /// `/setup`, `/setup/v1/camera/0/setup` and `/setup/v1/filterwheel/0/setup`: what the
    /// devices are and how they are configured.
    static func setupPage(camera: AlpacaCamera, management: AlpacaManagement, device: String?) async -> Response {
        let configuration = camera.gateway.configuration
        var rows: [(String, String)] = [
            ("Facility identity", "site \(configuration.site.name), camera \(configuration.camera.name)"),
            ("Device", "\(AlpacaCamera.name), camera 0, ICameraV\(AlpacaCamera.interfaceVersion)"),
            ("UniqueID", management.uniqueID),
            ("Device", "\(AlpacaFilterWheel.name), filterwheel 0, IFilterWheelV\(AlpacaFilterWheel.interfaceVersion)"),
            ("UniqueID", management.filterWheelID),
            ("Filters", zip(configuration.filterWheel.filters, configuration.filterWheel.offsetsBySlot)
                .map { "\($0) (focus offset \($1))" }.joined(separator: ", ")),
            ("Alpaca connected", camera.isConnected ? "yes" : "no"),
            ("Alpaca port", configuration.alpaca.port == 0 ? "a free port (alpaca.port = 0)" : String(configuration.alpaca.port)),
            ("Discovery", "\(configuration.alpaca.discovery) (UDP \(configuration.alpaca.discoveryPort))"),
        ]
        if let status = try? await camera.gateway.camera(CameraStatusCommand.self, timeout: .seconds(1)) {
            rows.append(("Camera", status.info.map { "\($0.model) (\(status.driver)), \($0.width)x\($0.height)" } ?? status.driver))
            rows.append(("State", status.state.rawValue))
        } else {
            rows.append(("Camera", "the camera process does not answer"))
        }
        let table = rows.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        let html = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Aperture — ASCOM Alpaca camera</title>
        <style>body{font-family:system-ui,sans-serif;margin:2em;max-width:48em}th{text-align:left;padding-right:1em}</style>
        </head><body>
        <h1>Aperture — ASCOM Alpaca \(device.map { "\($0) 0 setup" } ?? "camera and filter wheel")</h1>
        <table>
        \(table)
        </table>
        <p>The camera's settings (cooling set-point, binning, subframe, gain, readout mode) are set by the
        Alpaca client through the device's members. Server settings live in Aperture's configuration file:
        <code>alpaca.port</code>, <code>alpaca.discovery</code>, <code>alpaca.discovery_port</code>
        (see config/aperture.conf and docs/alpaca.md); the filters and their focus offsets are
        <code>filterwheel.filters</code> and <code>filterwheel.focus_offsets</code>.</p>
        <p>Device pages: <a href="/setup/v1/camera/0/setup">camera 0 setup</a> ·
        <a href="/setup/v1/filterwheel/0/setup">filter wheel 0 setup</a> ·
        API: <a href="/management/v1/configureddevices">configured devices</a></p>
        </body></html>
        """
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
