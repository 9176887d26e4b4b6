import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
import ProcessTestSupport
#endif

/// Builds the C stand-in for Andor's SDK2 library (`StandIn/andor_standin.c`, described in that
/// file and in `StandIn/README`) and its probe program, with the system C compiler (`$CC`, else
/// `cc`), at test time.
///
/// Self-contained (Foundation only) so that other test targets can use a copy of this file: the
/// C sources are taken from this target's `StandIn` resource folder when the bundle has it, else
/// from `Tests/CameraCoreTests/StandIn/` of the package that holds this file.
///
/// Each variant is compiled once (and kept in `$TMPDIR/aperture-standin-UID`, keyed by the source
/// text and the command line); every ``build(defines:into:)`` then copies it to
/// the caller's directory, because a process that loads one file twice shares one instance (and
/// one set of globals) of it, while separate copies are separate cameras.
enum StandInLibrary {
    /// A failed compilation or a missing source, with the compiler's output.
    struct BuildError: Error, CustomStringConvertible {
        var description: String
    }

    /// Puts a stand-in `libandor.so` into `directory` (created if needed).
    /// - Parameters:
    ///   - defines: compile-time options, e.g. `["OMIT_GETSTATUS"]` (see the C file's header).
    ///   - directory: where the library goes.
    /// - Returns: the library's path.
    /// - Throws: ``BuildError`` when the source is missing or does not compile.
    static func build(defines: [String] = [], into directory: String) throws -> String {
        let compiled = try compiled(source: "andor_standin.c", output: "libandor.so",
                                    flags: ["-shared", "-fPIC", "-O1"] + defines.map { "-D\($0)" }, libraries: [])
        return try copy(compiled, to: directory, name: "libandor.so")
    }

    /// Puts the probe program (`standin_probe LIBRARY FUNCTION [CONFIG_DIRECTORY]`, which calls
    /// Initialize and then FUNCTION in a process of its own) into `directory`.
    /// - Returns: the program's path.
    /// - Throws: ``BuildError``.
    static func buildProbe(into directory: String) throws -> String {
        let compiled = try compiled(source: "standin_probe.c", output: "standin_probe", flags: ["-O1"], libraries: ["-ldl"])
        return try copy(compiled, to: directory, name: "standin_probe")
    }

    /// Sets one of the stand-in's fault-injection or detector keys (`HANG`, `CRASH`, `FAIL`,
    /// `WIDTH`, `HEIGHT`; nil clears it) in the copy at `libraryPath`, without touching the
    /// process environment. Keeps that copy loaded (and so its settings) until the process ends.
    /// - Throws: ``BuildError`` when the library cannot be loaded or refuses the key or value.
    static func configure(libraryPath: String, _ key: String, _ value: String?) throws {
        guard let handle = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL) else {
            throw BuildError(description: "cannot load \(libraryPath): \(dlerror().map { String(cString: $0) } ?? "?")")
        }
        guard let symbol = dlsym(handle, "andor_standin_configure") else {
            throw BuildError(description: "\(libraryPath) has no andor_standin_configure")
        }
        typealias Configure = @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> CInt
        let configure = unsafeBitCast(symbol, to: Configure.self)
        let result = key.withCString { key in
            if let value { return value.withCString { configure(key, $0) } }
            return configure(key, nil)
        }
        guard result == 0 else {
            throw BuildError(description: "andor_standin_configure(\(key), \(value ?? "nil")) refused")
        }
    }

    // MARK: Internals

    /// Compiled files by command line, for this process.
    private static let cache = Mutex<[String: String]>([:])

    /// Compiles `source` unless an identical build (same source text, same command line) is
    /// already in the per-user cache directory, which therefore holds one file per variant and
    /// source version rather than one per test run.
    private static func compiled(source: String, output: String, flags: [String], libraries: [String]) throws -> String {
        let sourcePath = try sourcePath(source)
        let compiler = ProcessInfo.processInfo.environment["CC"].flatMap { $0.isEmpty ? nil : $0 } ?? "cc"
        let key = ([compiler, sourcePath] + flags + libraries).joined(separator: " ")
        return try cache.withLock { cache in
            if let path = cache[key] { return path }
            let text = try Data(contentsOf: URL(fileURLWithPath: sourcePath))
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a, stable across processes.
            for byte in text + Data(key.utf8) {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("aperture-standin-\(getuid())").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let path = directory + "/\(String(hash, radix: 16))-\(output)"
            if !FileManager.default.fileExists(atPath: path) {
                // Compiled beside, then renamed: a concurrent test process never sees half a file.
                let partial = path + ".partial-\(getpid())-\(UUID().uuidString)"
                defer { try? FileManager.default.removeItem(atPath: partial) }
                try compile(compiler, sourcePath, flags + ["-o", partial], libraries)
                guard rename(partial, path) == 0 else {
                    throw BuildError(description: "cannot rename \(partial) to \(path): \(String(cString: strerror(errno)))")
                }
            }
            cache[key] = path
            return path
        }
    }

    private static func compile(_ compiler: String, _ source: String, _ flags: [String], _ libraries: [String]) throws {
        let arguments = [compiler] + flags + [source] + libraries
        // A signal's number is never 0: 0 is a normal exit.
        let result = try runToExit("/usr/bin/env", arguments, mergingErrors: true)
        guard result.status == 0 else {
            throw BuildError(description: "\(arguments.joined(separator: " ")) failed (\(result.status)):\n\(result.stdout)")
        }
    }

    private static func copy(_ path: String, to directory: String, name: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let destination = directory + "/" + name
        if FileManager.default.fileExists(atPath: destination) {
            try FileManager.default.removeItem(atPath: destination)
        }
        try FileManager.default.copyItem(atPath: path, toPath: destination)
        return destination
    }

    /// The path of a file of the `StandIn` folder.
    private static func sourcePath(_ name: String) throws -> String {
        let stem = (name as NSString).deletingPathExtension, ext = (name as NSString).pathExtension
        if let url = Bundle.module.url(forResource: stem, withExtension: ext, subdirectory: "StandIn") {
            return url.path
        }
        // Not in this bundle: look beside the package's own copy of this file.
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                let path = directory.appendingPathComponent("Tests/CameraCoreTests/StandIn/\(name)").path
                if FileManager.default.fileExists(atPath: path) { return path }
                break
            }
            directory.deleteLastPathComponent()
        }
        throw BuildError(description: "cannot find the stand-in source \(name)")
    }
}
