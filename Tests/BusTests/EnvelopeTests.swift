import Bus
import Foundation
import Testing

/// The envelope rules, through `CommandRouter.reply(to:)` without sockets.
@Suite struct EnvelopeTests {
    struct Reply: Decodable {
        struct ErrorBody: Decodable {
            var code: String
            var message: String
        }
        var v: Int
        var id: String?
        var error: ErrorBody?
    }

    func reply(_ text: String, router: CommandRouter = echoRouter()) async throws -> Reply {
        let data = await router.reply(to: Data(text.utf8))
        return try JSONDecoder().decode(Reply.self, from: data)
    }

    @Test func wellFormedRequestGetsItsResultAndId() async throws {
        let data = await echoRouter().reply(to: Data(#"{"v":1,"id":"a1","command":"echo","args":{"text":"hi"}}"#.utf8))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["id"] as? String == "a1")
        #expect(object["v"] as? Int == 1)
        #expect((object["result"] as? [String: Any])?["text"] as? String == "hi")
        #expect(object["error"] == nil)
    }

    @Test func argsAndVersionMayBeOmitted() async throws {
        let data = await echoRouter().reply(to: Data(#"{"id":"p","command":"ping"}"#.utf8))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((object["result"] as? [String: Any])?["process"] as? String == "test")
    }

    @Test func notJSONIsBadRequestWithNullId() async throws {
        let reply = try await reply("this is not json")
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("not valid JSON") == true)
        #expect(reply.id == nil)
    }

    /// Issue 11: a fraction or an integer beyond Int where an integer belongs was "message is
    /// not valid JSON", naming no field.
    @Test(arguments: ["1.5", "1e308", "18446744073709551616"])
    func aNumberThatDoesNotFitNamesItsField(number: String) async throws {
        let reply = try await reply(#"{"id":"n","command":"echo","args":{"text":"a","delayMilliseconds":\#(number)}}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("'args.delayMilliseconds'") == true, "\(reply.error?.message ?? "")")
        #expect(reply.error?.message.contains("expected an integer") == true)
        #expect(reply.id == "n")
    }

    @Test func jsonTrueIsNotANumber() async throws {
        let reply = try await reply(#"{"id":"t","command":"echo","args":{"text":"a","delayMilliseconds":true}}"#)
        #expect(reply.error?.message.contains("'args.delayMilliseconds' must be an integer") == true, "\(reply.error?.message ?? "")")
    }

    @Test func unreadableIdIsSentAsNull() async throws {
        let data = await echoRouter().reply(to: Data("[1,2]".utf8))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(object["id"] is NSNull)
        #expect((object["error"] as? [String: Any])?["message"] as? String == "the message must be a JSON object")
    }

    @Test func argumentsOfACommandWithoutArgumentsMustStillBeAnObject() async throws {
        let reply = try await reply(#"{"id":"n","command":"ping","args":[1]}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("'ping'") == true)
    }

    @Test func missingCommandIsBadRequestNamingTheField() async throws {
        let reply = try await reply(#"{"v":1,"id":"x"}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("'command'") == true)
        #expect(reply.id == "x")
    }

    @Test func idOfTheWrongTypeIsBadRequest() async throws {
        let reply = try await reply(#"{"v":1,"id":7,"command":"ping"}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("'id'") == true)
    }

    @Test func unknownCommandNamesItAndTheKnownOnes() async throws {
        let reply = try await reply(#"{"v":1,"id":"u","command":"explode"}"#)
        #expect(reply.error?.code == "unknown_command")
        #expect(reply.error?.message.contains("'explode'") == true)
        #expect(reply.error?.message.contains("echo, ping") == true)
        #expect(reply.id == "u")
    }

    @Test func wrongArgumentTypeNamesTheField() async throws {
        let reply = try await reply(#"{"v":1,"id":"t","command":"echo","args":{"text":5}}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("'args.text'") == true)
    }

    @Test func missingArgumentNamesTheField() async throws {
        let reply = try await reply(#"{"v":1,"id":"t","command":"echo","args":{}}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("missing field 'args.text'") == true)
    }

    @Test func otherProtocolVersionIsRefused() async throws {
        let reply = try await reply(#"{"v":2,"id":"t","command":"ping"}"#)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("version 2") == true)
    }

    @Test func oversizedMessageIsBadRequest() async throws {
        let big = #"{"v":1,"id":"b","command":"echo","args":{"text":""# + String(repeating: "x", count: 2 << 20) + #""}}"#
        let reply = try await reply(big)
        #expect(reply.error?.code == "bad_request")
        #expect(reply.error?.message.contains("exceeds the limit") == true)
    }

    @Test func handlerErrorsKeepTheirCodeOrBecomeInternal() async throws {
        enum Fails: BusCommand {
            static let name = "fails"
            struct Arguments: Codable, Sendable { var busy: Bool }
            typealias Result = NoArguments
        }
        struct Boom: Error {}
        var router = CommandRouter()
        router.register(Fails.self) { arguments in
            if arguments.busy { throw BusError(.busy, "an exposure is running") }
            throw Boom()
        }
        let busy = try await reply(#"{"id":"1","command":"fails","args":{"busy":true}}"#, router: router)
        #expect(busy.error?.code == "busy")
        #expect(busy.error?.message == "an exposure is running")
        let other = try await reply(#"{"id":"2","command":"fails","args":{"busy":false}}"#, router: router)
        #expect(other.error?.code == "internal")
        #expect(other.error?.message.contains("fails") == true)
    }
}

/// One error code type: known codes compare as values, unknown ones keep their text, and the
/// field at fault travels beside the message.
@Suite struct ErrorCodeTests {
    @Test func codesRoundTripAndUnknownOnesKeepTheirText() throws {
        let decoder = JSONDecoder()
        let known = try decoder.decode([ErrorCode].self, from: Data(#"["busy","storage_error","camera_unavailable"]"#.utf8))
        #expect(known == [.busy, .storage, .unavailable(.camera)])
        #expect(known.allSatisfy { $0.isKnown })
        let unknown = try decoder.decode(ErrorCode.self, from: Data(#""filter_jammed""#.utf8))
        #expect(!unknown.isKnown && unknown.rawValue == "filter_jammed" && unknown != .internal)
        let encoded = try JSONEncoder().encode(unknown)
        #expect(String(decoding: encoded, as: UTF8.self) == #""filter_jammed""#)
        #expect(ErrorCode.timeout.isNoAnswer && !ErrorCode.busy.isNoAnswer)
    }

    @Test func theFieldAtFaultTravelsInTheReply() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        var router = CommandRouter()
        router.register(Echo.self) { arguments in
            throw BusError.invalid("text", "'\(arguments.text)' is not a word")
        }
        let server = try ReplyServer(listening: runtime.endpoint("field.ctl"), router: router, logger: testLogger)
        let serving = Task { await server.run() }
        defer { server.close(); serving.cancel() }
        let client = try RequestClient(dialing: runtime.endpoint("field.ctl"))
        defer { client.close() }
        let error = await #expect(throws: BusError.self) {
            // Long: the reply is immediate, but the suite starts beside CPU-heavy tests on two cores.
            _ = try await client.call(Echo.self, .init(text: "x y"), timeout: .seconds(60))
        }
        #expect(error?.code == .invalidArgument)
        #expect(error?.field == "text")
        #expect(error?.message == "text: 'x y' is not a word")
        // A number that does not fit names its field too, on the wire.
        let data = await echoRouter().reply(to: Data(#"{"v":1,"id":"f1","command":"echo","args":{"text":"a","delayMilliseconds":1e30}}"#.utf8))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let wire = try #require(object["error"] as? [String: Any])
        #expect(wire["code"] as? String == "bad_request")
        #expect(wire["field"] as? String == "delayMilliseconds", "\(wire)")
    }
}
