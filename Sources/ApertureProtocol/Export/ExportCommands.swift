import Bus
import Foundation

// The facility export on catalog.ctl (docs/scale-out.md): `export.status`, `export.pause` and
// `export.resume`; the status is also published on catalog.events (`catalog.export`) and, for
// the facility, on core NATS (`aperture.SITE.CAMERA.export`).

/// How the export of frames to the facility's JetStream stands.
public struct ExportStatus: Codable, Sendable, Hashable {
    /// Whether export is configured (`export.enabled`).
    public var enabled: Bool
    /// Whether an operator paused it (kept across restarts until resumed).
    public var paused: Bool
    /// Whether the connection to NATS is up.
    public var connected: Bool
    /// The server connected to, or nil.
    public var server: String?
    /// The stream (`nats.stream`).
    public var stream: String
    /// Frames not yet acknowledged by the stream (files, or a newer revision of their row).
    public var backlogFrames: Int
    /// Their files' bytes.
    public var backlogBytes: Int64
    /// Seconds since the oldest of them was catalogued: how far behind the export is (0 when
    /// nothing waits).
    public var lagSeconds: Double
    /// When the last frame was acknowledged (ISO UTC), or nil.
    public var lastAcknowledged: String?
    /// Seconds from the last acknowledged frame's file being written to its acknowledgment.
    public var lastLagSeconds: Double?
    /// The last acknowledged frame's path.
    public var lastPath: String?
    /// Frames acknowledged since the catalog started.
    public var sentFrames: Int
    /// Bytes of files acknowledged since the catalog started.
    public var sentBytes: Int64
    /// Messages the server already had (a re-send after a lost acknowledgment): not stored twice.
    public var duplicates: Int
    /// Attempts that failed since the catalog started (unreachable, timed out, refused).
    public var failures: Int
    /// The last failure, or nil once a frame went through after it.
    public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case enabled, paused, connected, server, stream, duplicates, failures
        case backlogFrames = "backlog_frames"
        case backlogBytes = "backlog_bytes"
        case lagSeconds = "lag_seconds"
        case lastAcknowledged = "last_acknowledged"
        case lastLagSeconds = "last_lag_seconds"
        case lastPath = "last_path"
        case sentFrames = "sent_frames"
        case sentBytes = "sent_bytes"
        case lastError = "last_error"
    }

    /// A status with nothing sent and nothing waiting.
    public init(enabled: Bool, paused: Bool, stream: String) {
        self.enabled = enabled
        self.paused = paused
        self.connected = false
        self.stream = stream
        self.backlogFrames = 0
        self.backlogBytes = 0
        self.lagSeconds = 0
        self.sentFrames = 0
        self.sentBytes = 0
        self.duplicates = 0
        self.failures = 0
    }
}

/// `export.status`.
public enum ExportStatusCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "export.status"
    /// The status.
    public typealias Result = ExportStatus
}

/// `export.pause`: stops sending (cataloguing goes on; the backlog grows) until `export.resume`,
/// across restarts. Refused with `not_configured` when export is off.
public enum ExportPauseCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "export.pause"
    /// The status after the pause.
    public typealias Result = ExportStatus
}

/// `export.resume`: sends again, oldest first.
public enum ExportResumeCommand: BusCommand {
    /// The command's name: answered on `catalog.ctl`.
    public static let name = "export.resume"
    /// The status after the resume.
    public typealias Result = ExportStatus
}

extension CatalogTopic {
    /// The export's status at each change, every second while frames wait, and every 30 s (once with export off); data ``ExportStatus``.
    public static let export = "catalog.export"
}

/// An instance's live status on core NATS (`aperture.SITE.CAMERA.KIND`, see
/// ``FrameExport/statusSubject(site:camera:kind:)``): `state` at each camera state change,
/// `telemetry` every `camera.telemetry_interval`, `export` every second. Each fills its members.
public struct LiveStatus: Codable, Sendable, Hashable {
    /// The site.
    public var site: String
    /// The camera.
    public var camera: String
    /// When it was sent (ISO UTC).
    public var time: String
    /// The camera's state (`idle`, `exposing`...), in `state` and `telemetry`.
    public var state: String?
    /// Whether the camera is connected, in `telemetry`.
    public var connected: Bool?
    /// The sensor's temperature and cooler, in `telemetry`.
    public var temperature: TemperatureStatus?
    /// The running exposure, in `state`.
    public var exposureId: String?
    /// The export, in `export`.
    public var export: ExportStatus?

    enum CodingKeys: String, CodingKey {
        case site, camera, time, state, connected, temperature, export
        case exposureId = "exposure_id"
    }

    /// A status of `site`/`camera` at `time`.
    public init(site: String, camera: String, time: String) {
        self.site = site
        self.camera = camera
        self.time = time
    }
}
