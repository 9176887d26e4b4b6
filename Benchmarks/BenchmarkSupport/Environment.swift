import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The load averages over 1, 5 and 15 minutes, as `/proc/loadavg` gives them: the machine is
/// shared, and the figures depend on what else ran.
public func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return text.split(separator: " ").prefix(3).joined(separator: " ")
}

/// How many processors this process may use.
public var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

/// The kernel's release, from `uname`.
public func kernelRelease() -> String {
    var name = utsname()
    uname(&name)
    return withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
}

/// The path of `name` in the folder of the running executable (where `swift build` puts every
/// product of a configuration), whether or not it exists.
public func executableBeside(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent().path + "/" + name
}

/// A fresh directory made by `mkdtemp`, removed by ``remove()``, or by ``fail(_:)`` if the
/// benchmark stops first.
public final class ScratchDirectory: Sendable {
    private static let open = Mutex<[String]>([])

    /// The directory's path.
    public let path: String

    /// Makes `base/prefix-XXXXXX`.
    /// - Throws: ``BenchmarkError`` naming `base` when it cannot.
    public init(in base: String, prefix: String) throws {
        var template = Array((base + "/" + prefix + "-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw BenchmarkError("cannot make a folder in \(base): \(String(cString: strerror(errno)))")
        }
        path = String(cString: made)
        Self.open.withLock { $0.append(path) }
    }

    /// Removes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
        Self.open.withLock { $0.removeAll { $0 == path } }
    }

    /// Removes every scratch directory not removed yet.
    static func removeAll() {
        for path in open.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
    }
}

/// Another process the benchmark talks to by lines: pipes on its standard input and output.
public final class LineProcess {
    /// The process, started.
    public let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()

    /// Starts `executable` with `arguments` (and `environment`, else this process's).
    public init(executable: String, arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Writes `line` and a newline to its standard input.
    public func send(_ line: String) {
        input.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// The next line of its standard output, without the newline.
    /// - Throws: ``BenchmarkError`` when its output ends first.
    public func readLine() throws -> Data {
        while true {
            if let newline = pending.firstIndex(of: 0x0A) {
                let line = Data(pending[pending.startIndex..<newline])
                pending = Data(pending[(newline + 1)...])
                return line
            }
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else {
                let name = process.executableURL?.lastPathComponent ?? "the process"
                throw BenchmarkError("\(name) ended its output (\(process.isRunning ? "running" : "status \(process.terminationStatus)"))")
            }
            pending.append(chunk)
        }
    }

    /// Closes its standard input (the sign to stop) without waiting.
    public func closeInput() {
        try? input.fileHandleForWriting.close()
    }

    /// Waits for it to exit.
    public func wait() {
        process.waitUntilExit()
    }
}
