#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The system calls behind durable, non-overwriting saves.
enum POSIXFile {
    /// Creates `path`, failing if it exists (`O_EXCL`), mode 0644.
    static func createExclusive(_ path: String) throws(StorageError) -> Int32 {
        while true {
            let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if descriptor >= 0 { return descriptor }
            if errno != EINTR { throw .posix("cannot create", path, errno: errno) }
        }
    }

    /// Creates `path` (it must not exist, mode 0644), lets `fill` write it, fsyncs it when
    /// `durable`, and closes it. On any failure the file is removed: nothing is left behind.
    ///
    /// - Returns: what `fill` returns.
    static func createFile<Value>(_ path: String, durable: Bool,
                                  _ fill: (Int32) throws(StorageError) -> Value) throws(StorageError) -> Value {
        let descriptor = try createExclusive(path)
        let value: Value
        do {
            value = try fill(descriptor)
            if durable { try sync(descriptor, path: path) }
        } catch {
            _ = closeIgnoringErrors(descriptor)
            _ = unlink(path)
            throw error
        }
        do {
            try close(descriptor, path: path)
        } catch {
            _ = unlink(path)
            throw error
        }
        return value
    }

    /// `pwrite` until every byte is written.
    static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(StorageError) {
        var done = 0
        while done < bytes.count {
            let written = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if written > 0 {
                done += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                // A zero-byte write never happens for a regular file; treat it as "no space".
                throw .posix("cannot write", path, errno: written == 0 ? ENOSPC : errno)
            }
        }
    }

    /// Asks the kernel to start writing `length` bytes at `offset` to the disk now, without
    /// waiting (`sync_file_range(SYNC_FILE_RANGE_WRITE)`), so that the disk works while the rest
    /// of the frame is still being encoded and the final `fsync` has little left to do. Only a
    /// hint: durability still comes from `fsync`; does nothing where the call is missing.
    static func startWriteback(_ descriptor: Int32, offset: Int, length: Int) {
        #if os(Linux)
        if let syncFileRange = syncFileRangeFunction {
            _ = syncFileRange(descriptor, off_t(offset), off_t(length), syncFileRangeWrite)
        }
        #endif
    }

    /// `fsync`.
    static func sync(_ descriptor: Int32, path: String) throws(StorageError) {
        while fsync(descriptor) != 0 {
            if errno != EINTR { throw .posix("cannot flush (fsync)", path, errno: errno) }
        }
    }

    /// `close`, reporting its error (NFS and some disks report write errors only here).
    static func close(_ descriptor: Int32, path: String) throws(StorageError) {
        #if canImport(Glibc)
        let result = Glibc.close(descriptor)
        #else
        let result = Darwin.close(descriptor)
        #endif
        // Linux always releases the descriptor, even on EINTR: never retry.
        if result != 0 && errno != EINTR { throw .posix("cannot close", path, errno: errno) }
    }

    /// Opens a directory and `fsync`s it, so that names created or renamed in it are durable.
    static func syncDirectory(_ path: String) throws(StorageError) {
        let descriptor = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if descriptor < 0 { throw .posix("cannot open folder", path, errno: errno) }
        defer { _ = POSIXFile.closeIgnoringErrors(descriptor) }
        // Some file systems cannot fsync a directory (EINVAL); their renames are durable anyway.
        if fsync(descriptor) != 0 && errno != EINVAL && errno != EROFS {
            throw .posix("cannot flush (fsync) folder", path, errno: errno)
        }
    }

    static func closeIgnoringErrors(_ descriptor: Int32) -> Int32 {
        #if canImport(Glibc)
        Glibc.close(descriptor)
        #else
        Darwin.close(descriptor)
        #endif
    }

    /// Creates `path` and its missing parents with mode 0755.
    ///
    /// - Returns: The folders created, outermost first (their parents must be fsynced).
    /// - Throws: ``StorageError`` naming `path`, and the part of it that failed if that is a
    ///   parent: it cannot be created, or it exists and is not a folder.
    static func makeDirectories(_ path: String) throws(StorageError) -> [String] {
        func failure(_ folder: String, _ code: Int32) -> StorageError {
            .posix("cannot create folder", folder == path ? path : "\(path) (at \(folder))", errno: code)
        }
        var missing: [String] = []
        var current = path
        var info = stat()
        while stat(current, &info) != 0 {
            guard errno == ENOENT else { throw failure(current, errno) }
            missing.append(current)
            current = parent(of: current)
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else { throw failure(current, ENOTDIR) }
        var created: [String] = []
        for folder in missing.reversed() {
            if mkdir(folder, 0o755) == 0 {
                created.append(folder)
            } else if errno != EEXIST || !isDirectory(folder) {
                throw failure(folder, errno == EEXIST ? ENOTDIR : errno)
            }
        }
        return created
    }

    /// Whether anything has this name (a dangling symbolic link counts).
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// The folder part of a path (`"."` for a bare name).
    static func parent(of path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        if slash == trimmed.startIndex { return "/" }
        return String(trimmed[..<slash])
    }

    /// Renames `source` to `destination` only if `destination` does not exist.
    ///
    /// Uses `renameat2(RENAME_NOREPLACE)` (atomic: one name at every instant); where the file
    /// system or libc lacks it, `link` + `unlink` (the final name appears atomically, complete;
    /// for an instant the file has both names).
    ///
    /// - Parameters:
    ///   - source: The temporary file.
    ///   - destination: The final name.
    ///   - allowRenameat2: `false` forces the `link` path (tests).
    /// - Returns: 0 on success, otherwise the errno (`EEXIST` when `destination` exists).
    static func renameWithoutReplacing(_ source: String, _ destination: String, allowRenameat2: Bool = true) -> Int32 {
        #if os(Linux)
        if allowRenameat2, let renameat2 = renameat2Function {
            if renameat2(AT_FDCWD, source, AT_FDCWD, destination, renameNoReplace) == 0 { return 0 }
            let code = errno
            if code != EINVAL && code != ENOSYS && code != ENOTSUP { return code }
        }
        #endif
        if link(source, destination) != 0 { return errno }
        // The final name is in place; a leftover temporary name is only untidy.
        _ = unlink(source)
        return 0
    }
}

#if os(Linux)
/// `renameat2` from glibc (2.28+). Swift's Glibc module does not show it (it is declared only
/// under `_GNU_SOURCE`), so it is looked up once at run time instead of adding a C shim.
private typealias Renameat2 = @convention(c) (Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, UInt32) -> Int32
private let renameNoReplace: UInt32 = 1  // RENAME_NOREPLACE, <linux/fs.h>
private let renameat2Function: Renameat2? = {
    guard let symbol = dlsym(nil, "renameat2") else { return nil }
    return unsafeBitCast(symbol, to: Renameat2.self)
}()
/// `sync_file_range`, declared only under `_GNU_SOURCE` like `renameat2`: looked up the same way.
private typealias SyncFileRange = @convention(c) (Int32, off_t, off_t, UInt32) -> Int32
private let syncFileRangeWrite: UInt32 = 2  // SYNC_FILE_RANGE_WRITE, <fcntl.h>
private let syncFileRangeFunction: SyncFileRange? = {
    guard let symbol = dlsym(nil, "sync_file_range") else { return nil }
    return unsafeBitCast(symbol, to: SyncFileRange.self)
}()
#endif
