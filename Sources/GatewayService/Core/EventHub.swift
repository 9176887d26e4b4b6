import Bus
import ApertureProtocol
import DequeModule
import Foundation
import HTTPTypes
import Logging
import ServiceLifecycle
import Synchronization

/// Receives the events of every child (camera, processor, supervisor) and fans them out to
/// any number of `/v1/events` clients.
///
/// Each event is formatted once as a server-sent event and shared by all clients. Every client
/// has its own bounded queue: a client that reads more slowly than events arrive loses the
/// oldest queued events, and is told how many with a `dropped` event before the next one it
/// gets; the count also shows in `/metrics`. Nothing buffers without bound, and a slow client
/// never holds up the others or the gateway.
public final class EventHub: Service, Sendable {
    /// One formatted event.
    public struct Event: Sendable {
        /// The topic (`camera.state`, `processor.result`, `child.exited`...).
        public var topic: String
        /// The whole server-sent event, `id:`, `event:` and `data:` lines and the blank line.
        public var text: String
    }

    private let runtime: RuntimeDirectory
    private let bufferSize: Int
    private let children: ChildHealth
    private let metrics: GatewayMetrics
    private let temperatures: TemperatureHistory
    private let cameraStatus: CameraStatusCache
    private let logger: Logger
    private let clients = Mutex<[Int: EventClient]>([:])
    private let nextClient = Atomic<Int>(0)
    private let nextEventID = Atomic<UInt64>(0)
    /// The most clients at once (`gateway.sse_clients`).
    public let maximumClients: Int
    /// Requests waiting for an exposure to end, woken by `camera.exposure`.
    let exposures = ExposureWaiters()

    init(runtime: RuntimeDirectory, bufferSize: Int, maximumClients: Int, children: ChildHealth, metrics: GatewayMetrics,
         temperatures: TemperatureHistory, cameraStatus: CameraStatusCache, logger: Logger) {
        self.temperatures = temperatures
        self.cameraStatus = cameraStatus
        self.runtime = runtime
        self.bufferSize = bufferSize
        self.maximumClients = maximumClients
        self.children = children
        self.metrics = metrics
        self.logger = logger
    }

    /// Receives from the four events sockets until the service is shut down.
    public func run() async throws {
        let sources: [(String, [String])] = [
            (EndpointName.cameraEvents, ["camera."]),
            (EndpointName.processorEvents, ["processor."]),
            (EndpointName.supervisorEvents, ["child."]),
            (EndpointName.catalogEvents, ["catalog."]),
        ]
        let subscribers = try sources.map { name, topics in
            try Subscriber(dialing: runtime.endpoint(name), topics: topics, bufferSize: 256)
        }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for subscriber in subscribers {
                    group.addTask { await self.receive(from: subscriber) }
                }
            }
        } onGracefulShutdown: {
            for subscriber in subscribers { subscriber.close() }
        }
        finishAll()
    }

    private func receive(from subscriber: Subscriber) async {
        while true {
            let event: BusEvent
            do {
                event = try await subscriber.next()
            } catch {
                if error.code == .closed || error.code == .cancelled || Task.isCancelled { return }
                logger.warning("events from \(subscriber.endpoint): \(error.message)")
                try? await Task.sleep(for: .milliseconds(200))  // never spin on a failing socket
                continue
            }
            if event.topic.hasPrefix("child."), let lifecycle = try? event.decode(ChildLifecycleEvent.self) {
                children.record(lifecycle)
                metrics.childEvent(lifecycle)
            }
            switch event.topic {
            case CameraTopic.state, CameraTopic.exposure, CameraTopic.frame, CameraTopic.filter: cameraStatus.invalidate()
            default: break
            }
            if event.topic == CameraTopic.exposure, let record = try? event.decode(ExposureRecord.self) {
                exposures.exposureChanged(record)
            }
            if event.topic == CameraTopic.telemetry, let telemetry = try? event.decode(TelemetryEvent.self),
               let reading = telemetry.temperature {
                temperatures.record(reading, at: event.time)
                metrics.temperature(reading)
            }
            metrics.busEvent(event)
            publish(topic: event.topic, json: event.envelope)
        }
    }

    /// Formats one event and queues it for every client.
    func publish(topic: String, json: Data) {
        let id = nextEventID.add(1, ordering: .relaxed).newValue
        var text = "id: \(id)\nevent: \(topic)\ndata: "
        // JSON from the bus holds no raw newlines, but a data line must not contain one.
        text += String(decoding: json, as: UTF8.self).replacingOccurrences(of: "\n", with: "\ndata: ")
        text += "\n\n"
        let formatted = Event(topic: topic, text: text)
        let current = clients.withLock { Array($0.values) }
        for client in current {
            let dropped = client.enqueue(formatted)
            if dropped > 0 { metrics.eventsDropped(dropped) }
        }
    }

    /// Registers a client: the slot is counted and taken in one step, under the lock.
    /// - Parameter topics: topic prefixes the client wants (empty: all).
    /// - Throws: ``APIError`` 503 when ``maximumClients`` are connected.
    public func connect(topics: [String]) throws(APIError) -> EventClient {
        let id = nextClient.add(1, ordering: .relaxed).newValue
        let client = EventClient(id: id, capacity: bufferSize, topics: topics)
        let added = clients.withLock { clients -> Bool in
            guard clients.count < maximumClients else { return false }
            clients[id] = client
            return true
        }
        guard added else {
            throw APIError(.serviceUnavailable, .tooManyClients,
                           "\(maximumClients) event streams are open (gateway.sse_clients); try again later", retryAfter: 5)
        }
        metrics.eventClients(count)
        return client
    }

    /// Unregisters a client (once; later calls do nothing).
    public func disconnect(_ client: EventClient) {
        let removed = clients.withLock { $0.removeValue(forKey: client.id) != nil }
        client.finish()
        if removed { metrics.eventClients(count) }
    }

    /// Clients connected now.
    public var count: Int { clients.withLock { $0.count } }

    private func finishAll() {
        let all = clients.withLock { clients in
            defer { clients.removeAll() }
            return Array(clients.values)
        }
        for client in all { client.finish() }
    }
}

/// One `/v1/events` client's bounded queue.
public final class EventClient: Sendable {
    /// What ``next(heartbeat:)`` returns.
    public enum Item: Sendable {
        /// Events, in order; a `dropped` notice first when some were lost.
        case text(String)
        /// Nothing arrived for the heartbeat interval.
        case idle
        /// The hub shut down.
        case finished
    }

    let id: Int
    private let capacity: Int
    private let topics: [String]
    private struct State {
        var queue = Deque<EventHub.Event>()
        var dropped = 0
        var finished = false
        var timedOut = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    init(id: Int, capacity: Int, topics: [String]) {
        self.id = id
        self.capacity = capacity
        self.topics = topics
    }

    /// Queues an event; returns how many old events were dropped to make room (0 or 1).
    func enqueue(_ event: EventHub.Event) -> Int {
        if !topics.isEmpty && !topics.contains(where: { event.topic.hasPrefix($0) }) { return 0 }
        let (waiter, dropped) = state.withLock { state -> (CheckedContinuation<Void, Never>?, Int) in
            guard !state.finished else { return (nil, 0) }
            var dropped = 0
            if state.queue.count >= capacity {
                state.queue.removeFirst()
                state.dropped += 1
                dropped = 1
            }
            state.queue.append(event)
            defer { state.waiter = nil }
            return (state.waiter, dropped)
        }
        waiter?.resume()
        return dropped
    }

    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits for events (all queued ones are returned at once, as one text).
    /// - Parameter heartbeat: the longest wait before ``Item/idle``.
    public func next(heartbeat: Duration) async -> Item {
        if let item = take() { return item }
        state.withLock { $0.timedOut = false }
        let timer = Task { [self] in
            do { try await Task.sleep(for: heartbeat) } catch { return }  // cancelled: events came first
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.timedOut = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.finished || state.timedOut || !state.queue.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            finish()
        }
        timer.cancel()
        return take() ?? .idle
    }

    private func take() -> Item? {
        state.withLock { state -> Item? in
            if state.queue.isEmpty {
                return state.finished ? .finished : nil
            }
            var text = ""
            if state.dropped > 0 {
                text += "event: dropped\ndata: {\"dropped\":\(state.dropped)}\n\n"
                state.dropped = 0
            }
            while let event = state.queue.popFirst() { text += event.text }
            return .text(text)
        }
    }
}
