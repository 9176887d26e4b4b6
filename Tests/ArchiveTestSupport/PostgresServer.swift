import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL 15 for the tests: one cluster per test process, `initdb` into a scratch
/// directory owned by the `postgres` user (initdb refuses root), listening on 127.0.0.1 on a
/// free port with its unix socket in the scratch directory, trust authentication in that
/// cluster only. Each test takes a database of its own (``database(_:)``). The cluster is
/// stopped and removed when the test process exits.
public final class PostgresServer: Sendable {
    /// The role the tests and the archive connect as (the cluster's superuser).
    public static let user = "aperture"
    /// Where Debian's PostgreSQL 15 programs are.
    public static let binaries = "/usr/lib/postgresql/15/bin"

    /// The scratch directory (data in `data/`, the socket in `socket/`).
    public let directory: String
    /// The TCP port on 127.0.0.1.
    public let port: Int

    /// The one cluster of this test process, started at the first call.
    public static func shared() async throws -> PostgresServer {
        try await Starter.shared.server()
    }

    /// Starts the cluster once; every caller awaits the same start.
    private actor Starter {
        static let shared = Starter()
        private var starting: Task<PostgresServer, any Error>?

        func server() async throws -> PostgresServer {
            if let starting { return try await starting.value }
            let task = Task { try await PostgresServer.start() }
            starting = task
            return try await task.value
        }
    }

    private init(directory: String, port: Int) {
        self.directory = directory
        self.port = port
    }

    /// A failure to start or use the cluster, with the program's output.
    public struct Failure: Error, CustomStringConvertible {
        /// What failed, with the output.
        public let description: String
    }

    private static func start() async throws -> PostgresServer {
        guard FileManager.default.isExecutableFile(atPath: binaries + "/initdb") else {
            throw Failure(description: "PostgreSQL 15 is not installed (\(binaries)/initdb): apt install postgresql-15 (.ci/run installs it)")
        }
        let directory = "/tmp/aperture-postgres-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/socket", withIntermediateDirectories: true)
        let port = freeLoopbackPort()
        let asPostgres = getuid() == 0
        if asPostgres {
            try await run("/bin/chown", ["-R", "postgres:postgres", directory])
        }
        func command(_ program: String, _ arguments: [String]) -> (String, [String]) {
            asPostgres ? ("/usr/sbin/runuser", ["-u", "postgres", "--", binaries + "/" + program] + arguments)
                : (binaries + "/" + program, arguments)
        }
        let (initdb, initArguments) = command("initdb", ["-D", directory + "/data", "-U", user, "-A", "trust", "--no-sync",
                                                          "-E", "UTF8", "--locale", "C"])
        try await run(initdb, initArguments)
        registerCleanup(directory: directory)
        // Loopback and the scratch socket only; no fsync (a test cluster, removed at exit).
        let options = "-h 127.0.0.1 -p \(port) -k \(directory)/socket -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        let (pgctl, ctlArguments) = command("pg_ctl", ["-D", directory + "/data", "-l", directory + "/postgres.log", "-o", options,
                                                       "-w", "-t", "60", "start"])
        try await run(pgctl, ctlArguments)
        return PostgresServer(directory: directory, port: port)
    }

    /// Creates a fresh database and returns its name (`prefix` and a random suffix).
    public func database(_ prefix: String) async throws -> String {
        let name = "\(prefix.lowercased())_\(UInt32.random(in: 0...UInt32.max))"
        try await Self.run(Self.binaries + "/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, name])
        return name
    }

    /// Runs SQL in a database through `psql`; returns its output (unaligned, tuples only).
    @discardableResult
    public func psql(_ database: String, _ sql: String) async throws -> String {
        try await Self.run(Self.binaries + "/psql", ["-h", "127.0.0.1", "-p", String(port), "-U", Self.user, "-d", database,
                                                     "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
    }

    /// `postgres://aperture@127.0.0.1:PORT/DATABASE`.
    public func url(_ database: String) -> String { "postgres://\(Self.user)@127.0.0.1:\(port)/\(database)" }

    /// Runs a program to its end without holding a thread of the cooperative pool (spawned,
    /// then waited for on a thread of its own); throws ``Failure`` with its output when it fails.
    @discardableResult
    static func run(_ program: String, _ arguments: [String]) async throws -> String {
        let output = "/tmp/aperture-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        defer { unlink(output) }
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
                let argv = ([program] + arguments).map { strdup($0) } + [nil]
                defer { argv.forEach { free($0) } }
                var pid: pid_t = 0
                let spawned = posix_spawn(&pid, program, &actions, nil, argv, environ)
                guard spawned == 0 else {
                    continuation.resume(throwing: Failure(description: "cannot run \(program): \(String(cString: strerror(spawned)))"))
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                // Exit status, or 128 + the signal that ended it.
                let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
                continuation.resume(returning: code)
            }
            thread.start()
        }
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard status == 0 else {
            throw Failure(description: "\(program) \(arguments.joined(separator: " ")) exited with \(status):\n\(text)")
        }
        return text
    }

}

/// The scratch cluster to stop at exit (one per test process).
nonisolated(unsafe) private var clusterDirectory: String?

/// Stops the cluster (immediately: it is thrown away) and removes its directory when the test
/// process exits.
private func registerCleanup(directory: String) {
    clusterDirectory = directory
    atexit {
        guard let directory = clusterDirectory else { return }
        let pgctl = PostgresServer.binaries + "/pg_ctl"
        let arguments = getuid() == 0
            ? ["/usr/sbin/runuser", "-u", "postgres", "--", pgctl, "-D", directory + "/data", "-m", "immediate", "-w", "stop"]
            : [pgctl, "-D", directory + "/data", "-m", "immediate", "-w", "stop"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? process.run()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A loopback TCP (or, with `udp`, UDP) port that is free now (for a server that must be told
/// its port before it starts).
public func freeLoopbackPort(udp: Bool = false) -> Int {
    let fd = socket(AF_INET, Int32(udp ? SOCK_DGRAM.rawValue : SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var size = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, size) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &size) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
