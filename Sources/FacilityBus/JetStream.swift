import CNATS
import Dispatch
import Foundation
import Synchronization

/// The server's acknowledgment of a JetStream publish: the message is stored.
public struct PubAck: Sendable, Hashable {
    /// The stream that stored it.
    public var stream: String
    /// Its sequence number in the stream.
    public var sequence: UInt64
    /// Whether the server had it already (same `Nats-Msg-Id` within the duplicate window): it
    /// was not stored again.
    public var duplicate: Bool
}

/// How a stream keeps its messages (docs/scale-out.md says why the export uses each setting).
public struct StreamSettings: Sendable, Hashable {
    /// When a message may go.
    public enum Retention: Sendable, Hashable {
        /// Kept up to the limits (age, bytes), whoever read it.
        case limits
        /// Kept until every consumer that exists has acknowledged it.
        case interest
        /// Kept until one consumer acknowledged it.
        case workQueue
    }

    /// The stream's name.
    public var name: String
    /// The subjects it takes.
    public var subjects: [String]
    /// When a message may go.
    public var retention: Retention = .limits
    /// On disk (true) or in memory.
    public var fileStorage = true
    /// Copies across a cluster (1, or 3 in production).
    public var replicas = 1
    /// Messages older than this go (nil: no limit).
    public var maximumAge: Duration?
    /// Past this many bytes, publishes are refused (nil: no limit); refusing, not discarding the
    /// oldest, so that nothing unacknowledged is lost.
    public var maximumBytes: Int64?
    /// The largest message.
    public var maximumMessageBytes: Int32?
    /// How long the server remembers message ids to drop re-sends.
    public var duplicateWindow: Duration = .seconds(120)

    /// Settings for a stream named `name` taking `subjects`.
    public init(name: String, subjects: [String]) {
        self.name = name
        self.subjects = subjects
    }
}

/// How a durable pull consumer delivers (docs/scale-out.md).
public struct ConsumerSettings: Sendable, Hashable {
    /// How long the server waits for an ack before delivering again.
    public var ackWait: Duration = .seconds(30)
    /// The most messages delivered and not yet acknowledged.
    public var maximumAckPending = 1024
    /// How often a message is delivered at most (-1: without limit).
    public var maximumDeliveries = -1
    /// Only messages on this subject (nil: the whole stream).
    public var filterSubject: String?

    /// The defaults.
    public init() {}
}

/// What a stream holds now.
public struct StreamState: Sendable, Hashable {
    /// Messages stored.
    public var messages: UInt64
    /// Bytes stored.
    public var bytes: UInt64
    /// The first sequence stored.
    public var firstSequence: UInt64
    /// The last sequence stored.
    public var lastSequence: UInt64
}

/// JetStream on a ``NATSConnection``: streams, acknowledged publishes, durable pull consumers.
public final class JetStream: @unchecked Sendable {
    let context: OpaquePointer
    /// The connection it runs on.
    public let connection: NATSConnection
    private let acks: AckRouter
    private let closure: Unmanaged<AckRouter>
    /// Where the library's API requests wait (stream and consumer management, up to the
    /// context's timeout each), one at a time, never on a thread of the cooperative pool.
    private let requests = DispatchQueue(label: "nats.jetstream.requests")
    /// Where publishes are handed to the library, in the order they were made (the hand-over
    /// may wait: a full outgoing buffer is written to the socket, a full window stalls).
    private let submissions = DispatchQueue(label: "nats.jetstream.publish")

    init(connection: NATSConnection, timeout: Duration) throws(NATSError) {
        self.connection = connection
        acks = AckRouter()
        closure = Unmanaged.passRetained(acks)
        var options = jsOptions()
        try check(jsOptions_Init(&options), "cannot initialise JetStream options")
        options.Wait = milliseconds(timeout)
        options.PublishAsync.MaxPending = 1 << 16
        options.PublishAsync.AckHandler = { _, message, ack, failure, closure in
            guard let closure, let message else { return }
            let router = Unmanaged<AckRouter>.fromOpaque(closure).takeUnretainedValue()
            let result: Result<PubAck, NATSError>
            if let ack {
                result = .success(PubAck(stream: ack.pointee.Stream.map { String(cString: $0) } ?? "",
                                         sequence: ack.pointee.Sequence, duplicate: ack.pointee.Duplicate))
            } else if let failure {
                var error = NATSError("publish", failure.pointee.Err, jetStreamCode: failure.pointee.ErrCode)
                if let text = failure.pointee.ErrText { error = NATSError(message: "publish: " + String(cString: text), status: error.status) }
                result = .failure(error)
            } else {
                result = .failure(NATSError(message: "publish: no acknowledgment"))
            }
            router.resolve(message, result)
            natsMsg_Destroy(message)
        }
        options.PublishAsync.AckHandlerClosure = closure.toOpaque()
        var raw: OpaquePointer?
        let status = natsConnection_JetStream(&raw, connection.handle, &options)
        guard status == NATS_OK, let raw else {
            closure.release()
            throw NATSError("cannot open JetStream", status)
        }
        context = raw
    }

    deinit {
        jsCtx_Destroy(context)
        // Whatever was still waiting fails: nothing will acknowledge it now.
        acks.failAll(NATSError(message: "publish: the JetStream context was closed"))
        closure.release()
    }

    /// Publishes to a stream and returns once the server stored it (or had it already).
    ///
    /// Many may be in flight at once: the library sends without waiting, and each caller resumes
    /// with its own acknowledgment.
    /// - Parameters:
    ///   - subject: a subject the stream takes.
    ///   - data: the payload.
    ///   - headers: message headers.
    ///   - messageID: `Nats-Msg-Id`: a second publish with the same id within the stream's
    ///     duplicate window is acknowledged as a duplicate and not stored.
    ///   - timeout: how long to wait for the acknowledgment.
    /// - Throws: ``NATSError``: refused by the server, not acknowledged in time, or not sent
    ///   (disconnected with a full reconnect buffer).
    public func publish(subject: String, data: [UInt8], headers: [String: String] = [:], messageID: String?,
                        timeout: Duration) async throws -> PubAck {
        let message = try NATSOutgoing(subject: subject, data: data, headers: headers)
        let key = UncheckedHandle(message.pointer)
        let wait = milliseconds(timeout)
        let acks = acks
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PubAck, any Error>) in
            let token = acks.expect(key.pointer, continuation)
            submissions.async { [self] in
                var options = jsPubOptions()
                _ = jsPubOptions_Init(&options)
                options.MaxWait = wait
                var pointer: OpaquePointer? = key.pointer
                let status: natsStatus
                if let messageID {
                    status = messageID.withCString { id in
                        options.MsgId = id
                        return js_PublishMsgAsync(context, &pointer, &options)
                    }
                } else {
                    status = js_PublishMsgAsync(context, &pointer, &options)
                }
                if status != NATS_OK {
                    // Not taken by the library: it stays ours, and no acknowledgment will come.
                    acks.resolve(key.pointer, .failure(NATSError("publish to \(subject)", status)))
                    natsMsg_Destroy(pointer)
                }
            }
            // The library times the acknowledgment out itself (a timer that hands a timeout to
            // its reply subscription); should that never arrive, the caller still resumes.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(wait) + 2000)) {
                acks.expire(key.pointer, token, NATSError(message: "publish to \(subject): no acknowledgment within \(timeout)",
                                                  status: Int32(bitPattern: NATS_TIMEOUT.rawValue)))
            }
        }
    }

    /// Creates the stream, or (with `updating`) updates it to these settings when it exists.
    /// - Parameters:
    ///   - settings: the stream's settings.
    ///   - updating: whether a stream that exists takes these settings (its owner, the archive),
    ///     or is left as it is (a camera host, which only makes sure there is one).
    /// - Throws: ``NATSError`` when the server refuses them (the message says why).
    public func ensureStream(_ settings: StreamSettings, updating: Bool = true) async throws(NATSError) {
        try await offPool(requests) { () throws(NATSError) in try self.addOrUpdateStream(settings, updating: updating) }
    }

    private func addOrUpdateStream(_ settings: StreamSettings, updating: Bool) throws(NATSError) {
        var configuration = jsStreamConfig()
        try check(jsStreamConfig_Init(&configuration), "cannot initialise a stream configuration")
        let name = strdup(settings.name)
        let subjects = settings.subjects.map { UnsafePointer(strdup($0)) }
        defer {
            free(name)
            subjects.forEach { free(UnsafeMutablePointer(mutating: $0)) }
        }
        var status = NATS_OK
        var code = jsErrCode(rawValue: 0)
        subjects.withUnsafeBufferPointer { list in
            configuration.Name = UnsafePointer(name)
            configuration.Subjects = UnsafeMutablePointer(mutating: list.baseAddress)
            configuration.SubjectsLen = Int32(list.count)
            configuration.Retention = switch settings.retention {
            case .limits: js_LimitsPolicy
            case .interest: js_InterestPolicy
            case .workQueue: js_WorkQueuePolicy
            }
            configuration.Storage = settings.fileStorage ? js_FileStorage : js_MemoryStorage
            configuration.Replicas = Int64(settings.replicas)
            configuration.MaxAge = settings.maximumAge.map(nanoseconds) ?? 0
            configuration.MaxBytes = settings.maximumBytes ?? -1
            configuration.MaxMsgSize = settings.maximumMessageBytes ?? -1
            configuration.Discard = js_DiscardNew
            configuration.Duplicates = nanoseconds(settings.duplicateWindow)
            var info: UnsafeMutablePointer<jsStreamInfo>?
            status = js_AddStream(&info, context, &configuration, nil, &code)
            if status != NATS_OK && code == JSStreamNameExistErr && !updating {
                status = NATS_OK
            } else if status != NATS_OK && code == JSStreamNameExistErr {
                jsStreamInfo_Destroy(info)
                info = nil
                code = jsErrCode(rawValue: 0)
                status = js_UpdateStream(&info, context, &configuration, nil, &code)
            }
            jsStreamInfo_Destroy(info)
        }
        try check(status, "stream \(settings.name)", jetStreamCode: code)
    }

    /// What the stream holds now.
    /// - Throws: ``NATSError`` (no such stream, or the server unreachable).
    public func streamState(_ name: String) async throws(NATSError) -> StreamState {
        try await offPool(requests) { () throws(NATSError) in try self.blockingStreamState(name) }
    }

    private func blockingStreamState(_ name: String) throws(NATSError) -> StreamState {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(rawValue: 0)
        try check(js_GetStreamInfo(&info, context, name, nil, &code), "stream \(name)", jetStreamCode: code)
        guard let info else { throw NATSError(message: "stream \(name): no information") }
        defer { jsStreamInfo_Destroy(info) }
        let state = info.pointee.State
        return StreamState(messages: state.Msgs, bytes: state.Bytes, firstSequence: state.FirstSeq, lastSequence: state.LastSeq)
    }

    /// Removes every message of a stream (tests and benchmarks start from an empty stream).
    /// - Throws: ``NATSError``.
    public func purgeStream(_ name: String) async throws(NATSError) {
        try await offPool(requests) { () throws(NATSError) in
            var code = jsErrCode(rawValue: 0)
            try check(js_PurgeStream(self.context, name, nil, &code), "purge \(name)", jetStreamCode: code)
        }
    }

    /// Binds to a durable pull consumer, creating it when it does not exist. Its position is
    /// kept by the server: a process that restarts carries on where the last one acknowledged.
    /// - Parameters:
    ///   - stream: the stream.
    ///   - subject: the subjects to consume (`aperture-frames.>`).
    ///   - durable: the consumer's name.
    ///   - settings: ack wait, pending limit, deliveries.
    /// - Throws: ``NATSError``.
    public func pullSubscription(stream: String, subject: String, durable: String,
                                 settings: ConsumerSettings) async throws(NATSError) -> PullSubscription {
        try await offPool(requests) { () throws(NATSError) in
            try self.blockingPullSubscription(stream: stream, subject: subject, durable: durable, settings: settings)
        }
    }

    private func blockingPullSubscription(stream: String, subject: String, durable: String,
                                          settings: ConsumerSettings) throws(NATSError) -> PullSubscription {
        var configuration = jsConsumerConfig()
        try check(jsConsumerConfig_Init(&configuration), "cannot initialise a consumer configuration")
        var options = jsSubOptions()
        try check(jsSubOptions_Init(&options), "cannot initialise subscription options")
        var status = NATS_OK
        var code = jsErrCode(rawValue: 0)
        var subscription: OpaquePointer?
        stream.withCString { streamName in
            durable.withCString { durableName in
                withOptionalCString(settings.filterSubject) { filter in
                    configuration.Durable = durableName
                    configuration.AckPolicy = js_AckExplicit
                    configuration.AckWait = nanoseconds(settings.ackWait)
                    configuration.MaxAckPending = Int64(settings.maximumAckPending)
                    configuration.MaxDeliver = Int64(settings.maximumDeliveries)
                    configuration.DeliverPolicy = js_DeliverAll
                    configuration.FilterSubject = filter
                    options.Stream = streamName
                    options.Config = configuration
                    status = js_PullSubscribe(&subscription, context, subject, durableName, nil, &options, &code)
                }
            }
        }
        try check(status, "durable consumer \(durable) on \(stream)", jetStreamCode: code)
        guard let subscription else { throw NATSError(message: "durable consumer \(durable): no subscription") }
        return PullSubscription(subscription, jetStream: self)
    }
}

/// Calls `body` with a C string, or nil.
private func withOptionalCString<T>(_ text: String?, _ body: (UnsafePointer<CChar>?) -> T) -> T {
    guard let text else { return body(nil) }
    return text.withCString { body($0) }
}

/// Routes the library's per-message acknowledgments to the tasks waiting for them, by the
/// address of the message they published (unique while it is in flight).
final class AckRouter: Sendable {
    private struct Waiter {
        let token: UInt64
        let continuation: CheckedContinuation<PubAck, any Error>
    }
    private let state = Mutex<(next: UInt64, waiting: [UInt: Waiter])>((0, [:]))

    /// Registers the caller waiting for `message`; returns its token for ``expire(_:_:_:)``.
    func expect(_ message: OpaquePointer, _ continuation: CheckedContinuation<PubAck, any Error>) -> UInt64 {
        state.withLock { state in
            state.next += 1
            state.waiting[Self.key(message)] = Waiter(token: state.next, continuation: continuation)
            return state.next
        }
    }

    /// The library's outcome for `message`.
    func resolve(_ message: OpaquePointer, _ result: Result<PubAck, NATSError>) {
        let waiter = state.withLock { $0.waiting.removeValue(forKey: Self.key(message)) }
        waiter?.continuation.resume(with: result.mapError { $0 as any Error })
    }

    /// Fails the caller registered with `token`, if it is still waiting: a later message at the
    /// same address (the first one acknowledged and freed) has another token and is left alone.
    func expire(_ message: OpaquePointer, _ token: UInt64, _ error: NATSError) {
        let waiter = state.withLock { state -> Waiter? in
            guard state.waiting[Self.key(message)]?.token == token else { return nil }
            return state.waiting.removeValue(forKey: Self.key(message))
        }
        waiter?.continuation.resume(throwing: error)
    }

    func failAll(_ error: NATSError) {
        let all = state.withLock { state in
            defer { state.waiting.removeAll() }
            return Array(state.waiting.values)
        }
        all.forEach { $0.continuation.resume(throwing: error) }
    }

    private static func key(_ message: OpaquePointer) -> UInt { UInt(bitPattern: Int(bitPattern: message)) }
}

/// A durable pull consumer's subscription.
public final class PullSubscription: @unchecked Sendable {
    let handle: OpaquePointer
    let jetStream: JetStream
    private let queue = DispatchQueue(label: "nats.fetch")

    init(_ handle: OpaquePointer, jetStream: JetStream) {
        self.handle = handle
        self.jetStream = jetStream
    }

    deinit {
        natsSubscription_Destroy(handle)
    }

    /// Fetches up to `batch` messages, waiting at most `timeout` for the first; empty when none came.
    /// - Throws: ``NATSError`` when the subscription or the connection is closed, or the server
    ///   refused the request.
    public func fetch(batch: Int, timeout: Duration) async throws -> [NATSMessage] {
        let handle = UncheckedHandle(handle)
        let jetStream = jetStream
        return try await offPool(queue) { () throws -> [NATSMessage] in
            var list = natsMsgList()
            var code = jsErrCode(rawValue: 0)
            let status = natsSubscription_Fetch(&list, handle.pointer, Int32(clamping: batch), milliseconds(timeout), &code)
            if status == NATS_TIMEOUT { return [] }
            try check(status, "fetch", jetStreamCode: code)
            var messages: [NATSMessage] = []
            for index in 0..<Int(list.Count) {
                if let message = list.Msgs[index] {
                    messages.append(NATSMessage(owning: message, jetStream: jetStream))
                    list.Msgs[index] = nil
                }
            }
            natsMsgList_Destroy(&list)
            return messages
        }
    }

    /// Leaves the consumer in place on the server (it is durable) and stops fetching.
    public func close() {
        _ = natsSubscription_Drain(handle)
    }
}
