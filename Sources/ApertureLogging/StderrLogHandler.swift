import Foundation
import Logging

/// A swift-log handler writing one readable line per message to stderr:
/// `2026-11-21T21:04:05.123Z aperture-camera[4242] info: exposure started exposure.id=17`.
public struct StderrLogHandler: LogHandler {
    /// The lowest level written (`log.level`); lower levels are dropped.
    public var logLevel: Logger.Level
    /// Metadata written on every line as `key=value` (an event's own metadata wins).
    public var metadata: Logger.Metadata = [:]
    private let identifier: String
    private let pid = getpid()

    /// Creates a handler.
    /// - Parameters:
    ///   - identifier: the process's name, written on every line.
    ///   - level: the lowest level written.
    public init(identifier: String, level: Logger.Level) {
        self.identifier = identifier
        self.logLevel = level
    }

    /// One entry of ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one line: UTC time to the millisecond, `identifier[pid]`, the level, the message, then the
    /// metadata sorted by key.
    public func log(event: LogEvent) {
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        var line = "\(Self.timestamp()) \(identifier)[\(pid)] \(event.level): \(event.message)"
        for (key, value) in all.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                      parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, Int(now.tv_nsec / 1_000_000))
    }
}

/// Sets up logging for one of Aperture's processes, once, at start-up.
public enum LoggingSetup {
    /// Bootstraps swift-log: the journald handler when stderr is the journal (`JOURNAL_STREAM`
    /// matches stderr's device and inode), readable stderr lines otherwise.
    /// - Parameters:
    ///   - identifier: the process's name (journald's `SYSLOG_IDENTIFIER`); an instance of
    ///     `aperture@NAME.service` (`APERTURE_INSTANCE=NAME`) adds `@NAME`, so that
    ///     `journalctl -t aperture-camera@north` picks one camera's process on a host of several.
    ///   - level: the lowest level logged, as a configuration string.
    public static func bootstrap(identifier: String, level: String) {
        let identifier = instanceIdentifier(identifier, instance: ProcessInfo.processInfo.environment["APERTURE_INSTANCE"])
        let parsed = Logger.Level(rawValue: level) ?? .info
        let journal = JournaldLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { _ in
            if journal {
                return JournaldLogHandler(identifier: identifier, level: parsed)
            }
            return StderrLogHandler(identifier: identifier, level: parsed)
        }
    }

    /// `identifier@instance`, or `identifier` outside an instance (none, or an empty one).
    public static func instanceIdentifier(_ identifier: String, instance: String?) -> String {
        guard let instance, !instance.isEmpty else { return identifier }
        return identifier + "@" + instance
    }
}
