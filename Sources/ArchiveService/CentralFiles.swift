import ApertureProtocol
import ChildRuntime
import Crypto
import Dispatch
import Foundation
#if canImport(Glibc)
import CDispatch  // stat() and its fields come through it (MemberImportVisibility)
import Glibc
#endif

/// An error of the central data root's file work, naming the path and the call.
public struct CentralFileError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public let description: String
    init(_ call: String, _ path: String, _ code: Int32 = errno) {
        description = "\(call) \(path): \(String(cString: strerror(code)))"
    }
}

/// The central data root's files: chunks written into spool files at their offsets, a complete
/// file verified, fsynced and moved into `ROOT/SITE/CAMERA/YYYYMMDD/NAME` without ever replacing
/// a file. Every call runs on one serial queue of its own, never on Swift's cooperative pool.
public final class CentralFiles: Sendable {
    /// The central data root.
    public let root: String
    private let queue = DispatchQueue(label: "aperture-archive.files")

    /// Uses `root`, created if missing.
    /// - Throws: ``CentralFileError`` when the root or its spool cannot be created.
    public init(root: String) throws {
        self.root = URL(fileURLWithPath: root).standardizedFileURL.path
        for folder in [self.root, self.root + "/.spool"] {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw CentralFileError("mkdir", folder, EACCES)
            }
        }
    }

    /// A frame's spool file: `ROOT/.spool/SITE/CAMERA/SHA256.part`.
    public func spoolPath(site: String, camera: String, sha256: String) -> String {
        "\(root)/.spool/\(site)/\(camera)/\(sha256).part"
    }

    /// A frame's central path relative to the root: `SITE/CAMERA/YYYYMMDD/NAME`.
    public static func relativePath(site: String, camera: String, path: String) -> String {
        "\(site)/\(camera)/\(path)"
    }

    /// Writes `bytes` at `offset` of the spool file (created 0640 if missing).
    public func write(_ bytes: [UInt8], at offset: Int64, to path: String) async throws {
        try await run {
            try Self.makeFolders(URL(fileURLWithPath: path).deletingLastPathComponent().path)
            let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else { throw CentralFileError("open", path) }
            defer { close(fd) }
            var written = 0
            while written < bytes.count {
                let count = bytes.withUnsafeBytes { buffer in
                    pwrite(fd, buffer.baseAddress! + written, bytes.count - written, off_t(offset) + off_t(written))
                }
                if count < 0 {
                    if errno == EINTR { continue }
                    throw CentralFileError("pwrite", path)
                }
                written += count
            }
        }
    }

    /// A file's size and SHA-256 (lower-case hex), or nil when there is no such file.
    public func digest(_ path: String) async throws -> (bytes: Int64, sha256: String)? {
        try await run { try Self.digest(path) }
    }

    /// Whether a regular file is at `path`.
    public func exists(_ path: String) async -> Bool {
        await queue.result {
            var info = stat()
            return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG
        }
    }

    /// Moves a verified spool file to its central path: fsync the file, link it to the central
    /// name (which fails rather than replace a file), remove the spool name, fsync the folders.
    /// - Returns: false when a file already holds the central path (nothing was changed).
    public func place(spool: String, at relativePath: String) async throws -> Bool {
        let root = root
        return try await run {
            let target = root + "/" + relativePath
            let folder = URL(fileURLWithPath: target).deletingLastPathComponent().path
            try Self.makeFolders(folder)
            let fd = open(spool, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CentralFileError("open", spool) }
            let synced = fsync(fd)
            close(fd)
            guard synced == 0 else { throw CentralFileError("fsync", spool) }
            if link(spool, target) != 0 {
                if errno == EEXIST { return false }
                throw CentralFileError("link", target)
            }
            unlink(spool)
            // The new name, and any folder made for it, made durable up to the root.
            var directory = folder
            while directory.count >= root.count {
                try Self.syncFolder(directory)
                directory = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            }
            return true
        }
    }

    /// Links an existing central file (the same bytes under another name) to a second central path.
    /// - Returns: false when a file already holds that path.
    public func duplicate(_ existing: String, at relativePath: String) async throws -> Bool {
        let root = root
        return try await run {
            let target = root + "/" + relativePath
            let folder = URL(fileURLWithPath: target).deletingLastPathComponent().path
            try Self.makeFolders(folder)
            if link(root + "/" + existing, target) != 0 {
                if errno == EEXIST { return false }
                throw CentralFileError("link", target)
            }
            try Self.syncFolder(folder)
            return true
        }
    }

    /// Removes a file (a spool file that failed its check); a missing one is fine.
    public func remove(_ path: String) async {
        await queue.result { _ = unlink(path) }
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await queue.result { Result { try work() } }.get()
    }

    private static func makeFolders(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 { return }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o750])
        } catch {
            throw CentralFileError("mkdir", path, EIO)
        }
    }

    private static func syncFolder(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CentralFileError("open", path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CentralFileError("fsync", path) }
    }

    static func digest(_ path: String) throws -> (bytes: Int64, sha256: String)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw CentralFileError("open", path)
        }
        defer { close(fd) }
        var hash = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total: Int64 = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw CentralFileError("read", path)
            }
            if count == 0 { break }
            hash.update(data: buffer[0..<count])
            total += Int64(count)
        }
        return (total, FrameExport.hexadecimal(hash.finalize()))
    }
}
