import ApertureProtocol
import Bus
import Foundation
import ArchiveTestSupport
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import ProcessTestSupport
import Testing

/// Runs the real executables built beside this test bundle, in a private runtime and data
/// directory, and stops whatever it started.
final class ServiceHarness: @unchecked Sendable {
    let root: String
    let runtime: RuntimeDirectory
    let process = Process()
    let stderrPath: String

    /// The directory holding the built executables (the test bundle's own directory).
    static let buildDirectory: String = {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().path
    }()

    /// Starts `executable` (e.g. `aperture`) with `arguments`; the runtime directory is added.
    /// - Parameter reusing: a service (stopped) whose root, state and data this one takes over,
    ///   as a service restarted on the same machine does.
    init(_ executable: String, arguments: [String] = [], runtimeDirectory: String? = nil,
         environment: [String: String] = [:], reusing previous: ServiceHarness? = nil) throws {
        root = previous?.root ?? "/tmp/aperture-e2e-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        runtime = RuntimeDirectory(existing: runtimeDirectory ?? root + "/run")
        stderrPath = root + (previous == nil ? "/stderr.log" : "/stderr-\(UInt32.random(in: 0...UInt32.max)).log")
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: Self.buildDirectory + "/" + executable)
        process.arguments = arguments + ["--runtime-dir", runtime.path]
        var env = ProcessInfo.processInfo.environment
        env["APERTURE_GATEWAY_LISTEN"] = "127.0.0.1:0"
        env["APERTURE_ALPACA_PORT"] = "0"
        env["APERTURE_STATE_DIRECTORY"] = root + "/state"
        env["APERTURE_DATA_ROOT"] = root + "/data"
        env["APERTURE_SUPERVISOR_PING_INTERVAL"] = "0.2"
        for (key, value) in environment { env[key] = value }
        for key in ["NOTIFY_SOCKET", "JOURNAL_STREAM", "APERTURE_SUPERVISOR_PID", "APERTURE_LIFELINE_FD"]
            where environment[key] == nil {
            env.removeValue(forKey: key)
        }
        process.environment = env
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardOutput = FileHandle(forWritingAtPath: stderrPath)
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// What the process wrote to stderr and stdout.
    var output: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }

    /// Waits for the process to exit; returns its status, or nil on timeout.
    func waitForExit(timeout: Double) async -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while !process.hasEnded, Date() < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return process.exitStatusIfEnded
    }

    /// Stops the process (and, by SIGKILL, anything left) and removes the directories.
    func cleanup() {
        if !process.hasEnded {
            kill(pid, SIGKILL)
            process.waitForExit()
        }
        for pid in Self.processes(mentioning: runtime.path) { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Runs the `aperture` command line with `arguments`; returns its exit code and its
    /// stdout and stderr together.
    static func runCLI(_ arguments: [String]) throws -> (code: Int32, output: String) {
        try run(executable: buildDirectory + "/aperture", arguments)
    }

    /// Runs a program found on the PATH (`python3`, ...) to its end; returns its exit code and
    /// its stdout and stderr together.
    static func run(_ arguments: [String]) throws -> (code: Int32, output: String) {
        try run(executable: "/usr/bin/env", arguments)
    }

    /// Runs one of the test's Python scripts (`Python/NAME.py`) to its end, its stdout and
    /// stderr kept apart in files under `directory` (files, not pipes: nothing blocks however
    /// much is printed).
    static func runPython(_ name: String, _ arguments: [String], in directory: String) async throws
        -> (status: Int32, output: String, errors: String) {
        let script = try #require(Bundle.module.path(forResource: name, ofType: "py", inDirectory: "Python"))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script] + arguments
        let stamp = UInt32.random(in: 0...UInt32.max)
        let outPath = directory + "/\(name)-\(stamp).out", errPath = directory + "/\(name)-\(stamp).err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        // Waits without holding a thread of the cooperative pool: a script may run for a minute
        // (schemathesis, a browser), and the other suites run meanwhile.
        while !process.hasEnded { try await Task.sleep(for: .milliseconds(50)) }
        let output = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let errors = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return (process.waitForExit(), output, errors)
    }

    private static func run(executable: String, _ arguments: [String]) throws -> (code: Int32, output: String) {
        let result = try runToExit(executable, arguments, mergingErrors: true)
        return (result.status, result.stdout)
    }

    /// A loopback TCP (or, with `udp`, UDP) port that is free now (for a gateway that must keep
    /// its port across restarts, or a discovery port).
    static func freePort(udp: Bool = false) -> Int { freeLoopbackPort(udp: udp) }

    /// Pids of live processes whose command line mentions `text` (a `pgrep -f` without procps).
    static func processes(mentioning text: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { entry -> Int32? in
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline"),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8) else { return nil }
            // Zombies (state Z) are dead; they only wait to be reaped.
            if let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z" { return nil }
            let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            return commandLine.contains(text) ? pid : nil
        }
    }

    /// Whether a process exists (and is not a zombie).
    static func isAlive(_ pid: Int32) -> Bool {
        guard kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        return stat[stat.index(close, offsetBy: 2)] != "Z"
    }

    /// Waits until the gateway reports its HTTP address on gateway.ctl.
    func gatewayAddress(timeout: Double = 60) async throws -> String {
        try await gatewayReports("an HTTP address", timeout: timeout) { $0.http }
    }

    /// Waits until the gateway's `status` on gateway.ctl has the field `field` picks.
    func gatewayReports(_ what: String, timeout: Double = 60, _ field: (GatewayStatus) -> String?) async throws -> String {
        let client = try RequestClient(dialing: runtime.endpoint(EndpointName.gatewayControl))
        defer { client.close() }
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = try? await client.call(GatewayStatusCommand.self, timeout: .milliseconds(500)),
               let value = field(status) {
                return value
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("the gateway did not report \(what) within \(timeout) s; output:\n\(output)")
        throw CancellationError()
    }

    /// GETs a path from the gateway; returns the status code and the body.
    static func get(_ address: String, _ path: String) async throws -> (Int, Data) {
        let url = URL(string: "http://\(address)\(path)")!
        var request = URLRequest(url: url)
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}

/// The `/healthz` reply, as a user's monitoring script reads it.
struct Health: Decodable {
    struct Child: Decodable {
        var name: String
        var pid: Int32?
        var state: String
        var responding: Bool
        var restarts: Int
        var last_exit: String?
    }
    /// The supervisor that answered (through the gateway).
    struct Supervisor: Decodable {
        var pid: Int32
    }
    var status: String
    var message: String?
    var supervisor: Supervisor?
    var children: [Child]
}
