import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
@testable import GatewayService
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// How a camera's bus error reaches an HTTP client: the gateway's router in-process
/// (HummingbirdTesting), against a fake camera answering on a real `camera.ctl` socket.
@Suite struct ErrorMappingTests {
    /// A camera stand-in: `expose` fails as the request's comment says, `status` answers.
    final class FakeCamera: Sendable {
        let path: String
        let runtime: RuntimeDirectory
        let server: ReplyServer
        let serving: Task<Void, Never>

        init() throws {
            path = "/tmp/aperture-gateway-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            runtime = try RuntimeDirectory.prepare(path)
            var router = CommandRouter()
            router.register(Ping.self) { _ in PingReply(process: "fake-camera", pid: getpid(), uptime: 0, ready: true) }
            router.register(ExposeCommand.self) { request throws(BusError) in
                switch request.comment {
                case "busy": throw BusError(.busy, "an exposure is running")
                case "driver": throw BusError(.driver, "StartAcquisition() failed: DRV_ERROR_ACK (20013)")
                case "storage": throw BusError(.storage, "the disk is full")
                case "disconnected": throw BusError(.notConnected, "the camera was shut down by request")
                case "strange":
                    // A code this build does not know, as a newer camera might send.
                    let code = (try? JSONDecoder().decode(ErrorCode.self, from: Data(#""filter_jammed""#.utf8))) ?? .busy
                    throw BusError(code, "the wheel does not turn")
                default: throw BusError.invalid("subframe", "640x480 at (100, 100) lies outside the 512x512 sensor")
                }
            }
            server = try ReplyServer(listening: runtime.endpoint(EndpointName.cameraControl), router: router,
                                     logger: Logger(label: "fake-camera"))
            let server = server
            serving = Task { await server.run() }
        }

        func close() {
            server.close()
            serving.cancel()
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    /// The gateway's router for `runtime`, tested in-process.
    func application(_ runtime: RuntimeDirectory) throws -> some ApplicationProtocol {
        var configuration = ApertureConfiguration()
        configuration.storage.dataRoot = runtime.path + "/data"
        let gateway = try Gateway(configuration: configuration, runtime: runtime, logger: Logger(label: "gateway-tests"))
        return Application(router: GatewayApplication.makeRouter(gateway: gateway))
    }

    struct Reply: Decodable {
        struct Detail: Decodable {
            var code: String
            var message: String
            var field: String?
        }
        var error: Detail
    }

    func expose(_ client: some TestClientProtocol, comment: String) async throws -> (HTTPResponse.Status, Reply?, String?) {
        try await client.execute(uri: "/v1/exposures", method: .post, headers: [.contentType: "application/json"],
                                 body: ByteBuffer(string: #"{"type":"object","time":1,"comment":"\#(comment)"}"#)) { response in
            (response.status, try? JSONDecoder().decode(Reply.self, from: Data(String(buffer: response.body).utf8)),
             response.headers[.retryAfter])
        }
    }

    @Test func eachCameraErrorBecomesItsStatusWithCodeAndField() async throws {
        let camera = try FakeCamera()
        defer { camera.close() }
        try await application(camera.runtime).test(.router) { client in
            // The gateway's connection to the fake camera is dialled in the background: on a
            // loaded machine the first request may find it not yet there, and gets what a client
            // gets then, 503 with Retry-After. Ask again as a client would.
            var invalid = try await expose(client, comment: "outside")
            let deadline = ContinuousClock.now + .seconds(30)
            while invalid.0 == .serviceUnavailable, invalid.2 != nil, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
                invalid = try await expose(client, comment: "outside")
            }
            #expect(invalid.0 == .badRequest)
            #expect(invalid.1?.error.code == "invalid_argument")
            #expect(invalid.1?.error.field == "subframe", "the field travels as a member, not parsed from the text")
            #expect(invalid.1?.error.message.contains("lies outside the 512x512 sensor") == true)

            let cases: [(String, HTTPResponse.Status, String)] = [
                ("busy", .conflict, "busy"),
                ("disconnected", .conflict, "not_connected"),
                ("driver", .badGateway, "driver_error"),
                ("storage", HTTPResponse.Status(code: 507), "storage_error"),
                ("strange", .internalServerError, "internal"),
            ]
            for (comment, status, code) in cases {
                // Under load the fake camera may be reported unavailable for a moment: asked again.
                var reply = try await expose(client, comment: comment)
                let patience = ContinuousClock.now + .seconds(30)
                while reply.0 == .serviceUnavailable, ContinuousClock.now < patience {
                    try await Task.sleep(for: .milliseconds(100))
                    reply = try await expose(client, comment: comment)
                }
                #expect(reply.0 == status, "\(comment)")
                #expect(reply.1?.error.code == code, "\(comment)")
                #expect(reply.1?.error.field == nil, "\(comment)")
            }
        }
    }

    @Test func aCameraThatDoesNotAnswerIs503WithRetryAfter() async throws {
        // A runtime directory with no camera at all.
        let path = "/tmp/aperture-gateway-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let runtime = try RuntimeDirectory.prepare(path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await application(runtime).test(.router) { client in
            let reply = try await expose(client, comment: "anything")
            #expect(reply.0 == .serviceUnavailable)
            #expect(reply.1?.error.code == "camera_unavailable")
            #expect(reply.2 == "2")
        }
    }
}
