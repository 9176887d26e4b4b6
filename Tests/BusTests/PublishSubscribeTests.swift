import Bus
import Foundation
import Testing

/// Publish/subscribe over real NNG sockets.
@Suite struct PublishSubscribeTests {
    struct Telemetry: Codable, Sendable, Equatable {
        var temperature: Double
    }

    /// Publishes `warm-up` events until the subscriber sees one (the connection is up).
    func connect(_ publisher: Publisher, _ subscriber: Subscriber, topic: String) async throws {
        try await withDeadline(10, "subscriber connection") {
            // Stops when the deadline cancels it: a subscriber that never connects fails the
            // test instead of hanging the suite.
            while !Task.isCancelled {
                try publisher.publish(topic, Telemetry(temperature: -1))
                if (try? await subscriber.next(timeout: .milliseconds(50))) != nil { return }
            }
        }
    }

    @Test func subscribersGetOnlyTheirTopicPrefixes() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let publisher = try Publisher(listening: runtime.endpoint("t.events"))
        defer { publisher.close() }
        let subscriber = try Subscriber(dialing: runtime.endpoint("t.events"), topics: ["camera."], bufferSize: 64)
        defer { subscriber.close() }
        try await connect(publisher, subscriber, topic: "camera.warmup")

        try publisher.publish("processor.result", Telemetry(temperature: 99))
        try publisher.publish("camera.telemetry", Telemetry(temperature: -20.5))
        // Warm-ups published before the first one arrived may still come (a loaded machine).
        var event = try await subscriber.next(timeout: .seconds(5))
        while event.topic == "camera.warmup" { event = try await subscriber.next(timeout: .seconds(5)) }
        #expect(event.topic == "camera.telemetry")
        #expect(try event.decode(Telemetry.self) == Telemetry(temperature: -20.5))
        #expect(event.sequence == 1)
        #expect(abs(event.time - Date().timeIntervalSince1970) < 60)
    }

    @Test func slowSubscriberSeesTheNewestAndCountsWhatItMissed() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let publisher = try Publisher(listening: runtime.endpoint("d.events"))
        defer { publisher.close() }
        let subscriber = try Subscriber(dialing: runtime.endpoint("d.events"), topics: ["camera."], bufferSize: 2)
        defer { subscriber.close() }
        try await connect(publisher, subscriber, topic: "camera.telemetry")

        for index in 0..<500 {
            try publisher.publish("camera.telemetry", Telemetry(temperature: Double(index)))
        }
        try await Task.sleep(for: .milliseconds(300))
        var last = -1.0
        while let event = try? await subscriber.next(timeout: .milliseconds(300)) {
            last = try event.decode(Telemetry.self).temperature
        }
        #expect(last == 499)
        #expect(subscriber.dropped > 0)
        // Nothing vanishes unaccounted: every published event was either received or counted.
        #expect(subscriber.dropped + subscriber.received >= 500)
    }

    @Test func eventsAlreadyReceivedAreTakenWithoutWaitingInOrderUpToTheLimit() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let publisher = try Publisher(listening: runtime.endpoint("a.events"))
        defer { publisher.close() }
        let subscriber = try Subscriber(dialing: runtime.endpoint("a.events"), topics: ["camera."], bufferSize: 64)
        try await connect(publisher, subscriber, topic: "camera.warmup")
        // Nothing new waits: an answer at once (warm-ups still in flight at most), not a wait.
        #expect(subscriber.available(limit: 100).allSatisfy { $0.topic == "camera.warmup" })

        for index in 1...10 {
            try publisher.publish("camera.telemetry", Telemetry(temperature: Double(index)))
        }
        // Delivery is asynchronous: wait for the first, then the rest arrive without a wait each.
        var first = try await subscriber.next(timeout: .seconds(10))
        while first.topic == "camera.warmup" { first = try await subscriber.next(timeout: .seconds(10)) }
        var temperatures = [try first.decode(Telemetry.self).temperature]
        let deadline = ContinuousClock.now + .seconds(10)
        while temperatures.count < 10 && ContinuousClock.now < deadline {
            let taken = subscriber.available(limit: 4)
            #expect(taken.count <= 4)
            temperatures += try taken.filter { $0.topic != "camera.warmup" }.map { try $0.decode(Telemetry.self).temperature }
            if taken.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(temperatures == (1...10).map(Double.init))
        #expect(subscriber.dropped == 0)
        subscriber.close()
        #expect(subscriber.available(limit: 10).isEmpty, "a closed subscriber has nothing")
    }

    @Test(arguments: [false, true])
    func eventsPublishedFromManyThreadsGoOutInNumberOrderAndNoneAfterClose(sendsInBackground: Bool) async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let publisher = try Publisher(listening: runtime.endpoint("b.events"), sendsInBackground: sendsInBackground)
        let subscriber = try Subscriber(dialing: runtime.endpoint("b.events"), topics: ["camera."], bufferSize: 8192)
        defer { subscriber.close() }
        try await connect(publisher, subscriber, topic: "camera.warmup")

        // Four threads at once: the numbers go out in the order they were given.
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            for index in 0..<200 {
                try? publisher.publish("camera.telemetry", Telemetry(temperature: Double(thread * 1000 + index)))
            }
        }
        var sequences: [UInt64] = []
        while sequences.count < 800 {
            let event = try await subscriber.next(timeout: .seconds(10))
            if event.topic == "camera.telemetry" { sequences.append(event.sequence) }
        }
        #expect(sequences == Array(1...800))
        #expect(subscriber.dropped == 0)
        publisher.close()
        #expect(throws: BusError.self) { try publisher.publish("camera.telemetry", Telemetry(temperature: 0)) }
    }

    @Test func malformedTopicIsRefused() throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let publisher = try Publisher(listening: runtime.endpoint("m.events"))
        defer { publisher.close() }
        #expect(throws: BusError.self) { try publisher.publish("bad\ntopic", Telemetry(temperature: 0)) }
        #expect(throws: BusError.self) { try publisher.publish("", Telemetry(temperature: 0)) }
    }

    @Test func closingASubscriberEndsAPendingWait() async throws {
        let runtime = try TemporaryRuntime()
        defer { runtime.cleanup() }
        let subscriber = try Subscriber(dialing: runtime.endpoint("x.events"), topics: [""])
        let waiting = Task { try await subscriber.next() }
        try await Task.sleep(for: .milliseconds(100))
        subscriber.close()
        let outcome = try await withDeadline(30, "pending next() after close") { await waiting.result }
        if case .failure(let error as BusError) = outcome {
            #expect(error.code == .closed)
        } else {
            Issue.record("next() on a closed subscriber returned an event")
        }
    }
}
