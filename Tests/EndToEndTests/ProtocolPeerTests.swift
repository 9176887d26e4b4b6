import Bus
import Foundation
import Testing
import ProcessTestSupport

/// docs/protocol.md is enough for another language: a Python client using pynng talks to a
/// running aperture-camera.
@Suite(.timeLimit(.minutes(5))) struct ProtocolPeerTests {
    @Test func pythonPynngClientGetsValidAndErrorReplies() async throws {
        let camera = try ServiceHarness("aperture-camera")
        defer { camera.cleanup() }
        let endpoint = camera.runtime.endpoint(EndpointName.cameraControl)
        let client = try RequestClient(dialing: endpoint)
        defer { client.close() }
        let deadline = Date().addingTimeInterval(30)
        while (try? await client.call(Ping.self, timeout: .milliseconds(500))) == nil, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }

        let script = try #require(Bundle.module.path(forResource: "protocol_client", ofType: "py", inDirectory: "Python"))
        let (status, output, _) = try runToExit("/usr/bin/env", ["python3", script, endpoint.url], mergingErrors: true)
        #expect(status == 0, "python client failed:\n\(output)")
        #expect(output.contains("ok ping"), "\(output)")
        #expect(!camera.process.hasEnded, "aperture-camera did not survive malformed input")
    }
}
