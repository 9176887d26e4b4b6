import Foundation
import Testing
import ProcessTestSupport

/// A real `nats-server` with JetStream (Debian's package, installed by scripts/install-deps.sh
/// --test), on loopback in a scratch directory. It keeps its port and store across
/// ``stop()``/``kill()`` and ``start()``, as a server that goes down and comes back does.
final class NATSServer: @unchecked Sendable {
    /// The scratch directory: the JetStream store and the log.
    let directory: String
    /// The client port on 127.0.0.1.
    let port: Int
    private var process: Process?

    /// The server's URL for clients.
    var url: String { "nats://127.0.0.1:\(port)" }

    /// Starts a server; stop it with ``cleanup()``.
    init() async throws {
        directory = "/tmp/aperture-nats-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory + "/store", withIntermediateDirectories: true)
        port = ServiceHarness.freePort()
        try await start()
    }

    /// Starts the server (again) on its port with its store, and waits until it accepts connections.
    func start() async throws {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/nats-server")
        server.arguments = ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", directory + "/store",
                            "-l", directory + "/nats.log", "--server_name", "aperture-test-\(port)"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        process = server
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if Self.accepts(port: port), let log = try? String(contentsOfFile: directory + "/nats.log", encoding: .utf8),
               log.contains("Server is ready") {
                return
            }
            guard !server.hasEnded else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("nats-server did not start on \(port): \(log)")
        throw CancellationError()
    }

    /// The server's log.
    var log: String { (try? String(contentsOfFile: directory + "/nats.log", encoding: .utf8)) ?? "" }

    /// Stops the server with SIGTERM (a clean shutdown) and waits for it.
    func stop() async { await end(SIGTERM) }

    /// Kills the server with SIGKILL (a crash) and waits for it.
    func kill() async { await end(SIGKILL) }

    private func end(_ signal: Int32) async {
        guard let process, !process.hasEnded else { return }
        Glibc.kill(process.processIdentifier, signal)
        while !process.hasEnded { try? await Task.sleep(for: .milliseconds(10)) }
        self.process = nil
    }

    /// Stops the server and removes its directory.
    /// Synchronous (a kill and a wait of milliseconds), so that a test's `defer` has stopped the
    /// server before the test returns, also the last test of the process.
    func cleanup() {
        if let process, !process.hasEnded {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitForExit()
        }
        process = nil
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
