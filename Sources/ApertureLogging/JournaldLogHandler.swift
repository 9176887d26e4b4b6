internal import CSystemd
import Foundation
import Logging

/// A swift-log handler speaking journald's native protocol (`sd_journal_sendv`), so that
/// `journalctl -t aperture-camera` and structured fields such as `APERTURE_EXPOSURE_ID` work.
///
/// Metadata keys become fields: `exposure.id` becomes `APERTURE_EXPOSURE_ID` (upper case,
/// every character outside `[A-Z0-9_]` replaced by `_`, prefixed so that it never starts with
/// `_` or a digit, which journald reserves or rejects).
public struct JournaldLogHandler: LogHandler {
    /// The lowest level sent to the journal (`log.level`); lower levels are dropped.
    public var logLevel: Logger.Level
    /// Metadata added to every entry as `APERTURE_*` fields (an event's own metadata wins).
    public var metadata: Logger.Metadata = [:]
    private let identifier: String

    /// Creates a handler.
    /// - Parameters:
    ///   - identifier: `SYSLOG_IDENTIFIER` of every entry.
    ///   - level: the lowest level sent.
    public init(identifier: String, level: Logger.Level) {
        self.identifier = identifier
        self.logLevel = level
    }

    /// One entry of ``metadata``.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Whether stderr is connected to the journal (`JOURNAL_STREAM=dev:ino` names stderr).
    public static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(STDERR_FILENO, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// The journald field name for a metadata key.
    /// - Parameter key: a swift-log metadata key such as `exposure.id`.
    public static func fieldName(for key: String) -> String {
        var name = "APERTURE_"
        for scalar in key.uppercased().unicodeScalars {
            let isValid = (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") || scalar == "_"
            name.unicodeScalars.append(isValid ? scalar : "_")
        }
        return String(name.prefix(64))
    }

    /// syslog priorities (0 emerg ... 7 debug).
    public static func priority(of level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// Sends one journal entry: `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `CODE_FILE`, `CODE_LINE`,
    /// `CODE_FUNC` and one field per metadata key. A failed send is ignored.
    public func log(event: LogEvent) {
        var fields = [
            "MESSAGE=\(event.message)",
            "PRIORITY=\(Self.priority(of: event.level))",
            "SYSLOG_IDENTIFIER=\(identifier)",
            "CODE_FILE=\(event.file)",
            "CODE_LINE=\(event.line)",
            "CODE_FUNC=\(event.function)",
        ]
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { _, new in new } }
        for (key, value) in all {
            fields.append("\(Self.fieldName(for: key))=\(value)")
        }
        Self.send(fields)
    }

    private static func send(_ fields: [String]) {
        let buffers = fields.map { field -> (UnsafeMutablePointer<CChar>, Int) in
            let bytes = field.utf8CString
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
            bytes.withUnsafeBufferPointer { pointer.initialize(from: $0.baseAddress!, count: bytes.count) }
            return (pointer, bytes.count - 1)
        }
        defer { buffers.forEach { $0.0.deallocate() } }
        var vectors = buffers.map { iovec(iov_base: UnsafeMutableRawPointer($0.0), iov_len: $0.1) }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
    }
}
