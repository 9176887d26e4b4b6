import Foundation
import Testing

extension Health {
    /// The supervisor's view of the children, as `/healthz` gives it.
    static func read(_ address: String) async throws -> Health {
        let (_, body) = try await ServiceHarness.get(address, "/healthz")
        return try JSONDecoder().decode(Health.self, from: body)
    }

    /// Waits until every child runs and answers, and the camera is connected.
    static func waitUntilHealthy(_ address: String, timeout: Double = 60) async throws -> Health {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let health = try? await read(address), health.status == "ok",
               let camera = try? await http(address, "GET", "/v1/camera"), camera.json["connected"] as? Bool == true {
                return health
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the service did not become healthy within \(timeout) s")
        throw CancellationError()
    }

    /// Each child's pid and restart count, to compare before and after: a process that crashed
    /// and came back has another pid and one more restart.
    var pidsAndRestarts: [String: String] {
        Dictionary(uniqueKeysWithValues: children.map { ($0.name, "pid \($0.pid ?? 0), restarts \($0.restarts)") })
    }
}
