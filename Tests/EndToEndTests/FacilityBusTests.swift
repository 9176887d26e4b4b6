import FacilityBus
import Foundation
import Synchronization
import Testing

extension FacilitySuites {
    /// FacilityBus against a real nats-server with JetStream: what the exporter and the archive rely on.
    @Suite("FacilityBus on a real nats-server", .serialized)
    struct FacilityBusTests {
        static func stream(_ name: String) -> StreamSettings {
            var settings = StreamSettings(name: name, subjects: ["\(name.lowercased()).>"])
            settings.duplicateWindow = .seconds(60)
            return settings
        }

        static func connected(_ connection: NATSConnection) async throws {
            let deadline = Date().addingTimeInterval(20)
            while !connection.isConnected, Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
            try #require(connection.isConnected, "not connected to \(connection.options.url)")
        }

        @Test("a publish is stored once: the same message id again is a duplicate, and a durable consumer gets it with its headers")
        func publishDeduplicateConsume() async throws {
            let server = try await NATSServer()
            defer { server.cleanup() }
            let connection = try NATSConnection(NATSOptions(url: server.url, name: "facility-bus-test"))
            defer { connection.close() }
            try await Self.connected(connection)
            let jetStream = try connection.jetStream()
            try await jetStream.ensureStream(Self.stream("BUSTEST"))
            // Ensuring it again (an update to the same settings) is accepted.
            try await jetStream.ensureStream(Self.stream("BUSTEST"))

            let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let first = try await jetStream.publish(subject: "bustest.a.b", data: payload, headers: ["Aperture-Kind": "chunk"],
                                                    messageID: "a/b/1", timeout: .seconds(5))
            let again = try await jetStream.publish(subject: "bustest.a.b", data: payload, headers: ["Aperture-Kind": "chunk"],
                                                    messageID: "a/b/1", timeout: .seconds(5))
            #expect(first.stream == "BUSTEST")
            #expect(!first.duplicate)
            #expect(again.duplicate)
            #expect(again.sequence == first.sequence)
            #expect(try await jetStream.streamState("BUSTEST").messages == 1)

            // Many in flight at once, each resumed with its own acknowledgment.
            let sequences = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for index in 0..<50 {
                    group.addTask {
                        try await jetStream.publish(subject: "bustest.a.b", data: [UInt8(index)], messageID: "a/b/many/\(index)",
                                                    timeout: .seconds(5)).sequence
                    }
                }
                return try await group.reduce(into: Set<UInt64>()) { $0.insert($1) }
            }
            #expect(sequences.count == 50)

            let consumer = try await jetStream.pullSubscription(stream: "BUSTEST", subject: "bustest.>", durable: "reader",
                                                          settings: ConsumerSettings())
            let messages = try await consumer.fetch(batch: 10, timeout: .seconds(5))
            try #require(!messages.isEmpty)
            #expect(messages[0].data == payload)
            #expect(messages[0].headers["Aperture-Kind"] == "chunk")
            #expect(messages[0].headers["Nats-Msg-Id"] == "a/b/1")
            #expect(messages[0].metadata?.deliveries == 1)
            for message in messages { try await message.ackSync() }
            consumer.close()
        }

        @Test("a message not acknowledged comes again to the durable consumer, also to a new subscription after a restart of the reader")
        func unacknowledgedComesAgain() async throws {
            let server = try await NATSServer()
            defer { server.cleanup() }
            let connection = try NATSConnection(NATSOptions(url: server.url, name: "facility-bus-redelivery"))
            defer { connection.close() }
            try await Self.connected(connection)
            let jetStream = try connection.jetStream()
            try await jetStream.ensureStream(Self.stream("REDELIVER"))
            _ = try await jetStream.publish(subject: "redeliver.x", data: Array("one".utf8), messageID: "one", timeout: .seconds(5))
            var settings = ConsumerSettings()
            settings.ackWait = .seconds(1)
            do {
                let consumer = try await jetStream.pullSubscription(stream: "REDELIVER", subject: "redeliver.>", durable: "slow", settings: settings)
                let first = try await consumer.fetch(batch: 1, timeout: .seconds(5))
                #expect(first.first?.data == Array("one".utf8))
                // Not acknowledged: the reader "dies".
            }
            let reader = try NATSConnection(NATSOptions(url: server.url, name: "facility-bus-reader"))
            defer { reader.close() }
            try await Self.connected(reader)
            let consumer = try await reader.jetStream().pullSubscription(stream: "REDELIVER", subject: "redeliver.>", durable: "slow",
                                                                   settings: settings)
            var again: [NATSMessage] = []
            let deadline = Date().addingTimeInterval(15)
            while again.isEmpty, Date() < deadline { again = try await consumer.fetch(batch: 1, timeout: .seconds(2)) }
            #expect(again.first?.data == Array("one".utf8))
            #expect((again.first?.metadata?.deliveries ?? 0) >= 2)
            try await again.first?.ackSync()
        }

        @Test("a connection made while the server is down returns at once, and connects by itself when the server comes up")
        func connectWhileDown() async throws {
            let server = try await NATSServer()
            defer { server.cleanup() }
            await server.stop()
            var options = NATSOptions(url: server.url, name: "facility-bus-early")
            options.reconnectWait = .milliseconds(100)
            // Made on a thread of its own: should the constructor wait for the server (as the
            // library does when its first connect is retried without a callback), the test
            // says so instead of waiting with it.
            let made = await withCheckedContinuation { (continuation: CheckedContinuation<NATSConnection?, Never>) in
                let once = Mutex(false)
                let finish = { @Sendable (connection: NATSConnection?) in
                    if once.withLock({ done in defer { done = true }; return !done }) { continuation.resume(returning: connection) }
                }
                let options = options
                Thread.detachNewThread { finish(try? NATSConnection(options)) }
                DispatchQueue.global().asyncAfter(deadline: .now() + 10) { finish(nil) }
            }
            let connection = try #require(made, "creating a connection waited for the server that is down")
            defer { connection.close() }
            #expect(!connection.isConnected)
            try await server.start()
            try await Self.connected(connection)
            let jetStream = try connection.jetStream()
            try await jetStream.ensureStream(Self.stream("EARLY"))
            let ack = try await jetStream.publish(subject: "early.x", data: [1], messageID: "first", timeout: .seconds(5))
            #expect(ack.sequence == 1)
        }

        @Test("while the server is down a publish fails without hanging; after it returns on its store the connection publishes again and nothing stored is lost")
        func outageAndReturn() async throws {
            let server = try await NATSServer()
            defer { server.cleanup() }
            var options = NATSOptions(url: server.url, name: "facility-bus-outage")
            options.reconnectWait = .milliseconds(100)
            options.reconnectBufferBytes = 64 << 10
            let connection = try NATSConnection(options)
            defer { connection.close() }
            try await Self.connected(connection)
            let jetStream = try connection.jetStream()
            try await jetStream.ensureStream(Self.stream("OUTAGE"))
            _ = try await jetStream.publish(subject: "outage.x", data: [1], messageID: "before", timeout: .seconds(5))

            await server.kill()
            let started = Date()
            await #expect(throws: NATSError.self) {
                _ = try await jetStream.publish(subject: "outage.x", data: Array(repeating: 7, count: 200_000), messageID: "during",
                                                timeout: .seconds(2))
            }
            #expect(Date().timeIntervalSince(started) < 30)
            #expect(!connection.isConnected)

            try await server.start()
            try await Self.connected(connection)
            let after = try await jetStream.publish(subject: "outage.x", data: [2], messageID: "after", timeout: .seconds(5))
            #expect(!after.duplicate)
            // The message stored before the crash survived it (file storage).
            #expect(try await jetStream.streamState("OUTAGE").messages >= 2)
        }

        @Test("core NATS: a subscriber with wildcards receives live messages with their headers")
        func coreSubscribe() async throws {
            let server = try await NATSServer()
            defer { server.cleanup() }
            let connection = try NATSConnection(NATSOptions(url: server.url, name: "facility-bus-core"))
            defer { connection.close() }
            try await Self.connected(connection)
            let subscription = try connection.subscribe("aperture.*.*.*")
            try await connection.flush(timeout: .seconds(5))
            try connection.publish("aperture.north.cam1.state", Array("{\"state\":\"idle\"}".utf8), headers: ["X": "1"])
            let message = try await subscription.next(timeout: .seconds(5))
            #expect(message?.subject == "aperture.north.cam1.state")
            #expect(message.map { String(decoding: $0.data, as: UTF8.self) } == "{\"state\":\"idle\"}")
            #expect(message?.headers["X"] == "1")
            #expect(try await subscription.next(timeout: .milliseconds(100)) == nil)
            subscription.close()
        }
    }
}
