import CNATS
import Dispatch
import Foundation
import Synchronization

// The facility's transport (issue 16, docs/scale-out.md): NATS and JetStream through Debian's C
// client (libnats 3.4.1), behind this one module. Inside a host the bus stays NNG; NATS carries
// what leaves the host. Every call that can block (connecting, fetching, waiting for an ack)
// runs on a dispatch queue of its own, never on a thread of Swift's cooperative pool.

/// A failure of the NATS client: the library's status, its text, and JetStream's error code
/// when the server gave one.
public struct NATSError: Error, Sendable, CustomStringConvertible {
    /// The library's status (`natsStatus`).
    public let status: Int32
    /// JetStream's error code (`jsErrCode`), 0 when none.
    public let jetStreamCode: Int
    /// What failed, with the library's words.
    public let message: String

    /// Creates an error from a status.
    /// - Parameters:
    ///   - what: the operation, e.g. `publish to aperture-frames.a.b`.
    ///   - status: the library's status.
    ///   - jetStreamCode: JetStream's error code.
    init(_ what: String, _ status: natsStatus, jetStreamCode: jsErrCode = jsErrCode(rawValue: 0)) {
        self.status = Int32(bitPattern: status.rawValue)
        self.jetStreamCode = Int(jetStreamCode.rawValue)
        var detail = String(cString: natsStatus_GetText(status))
        if let last = nats_GetLastError(nil), last.pointee != 0 {
            let text = String(cString: last)
            if !text.isEmpty, text != detail { detail += ": " + text }
        }
        if self.jetStreamCode != 0 { detail += " (JetStream error \(self.jetStreamCode))" }
        message = "\(what): \(detail)"
    }

    /// Creates an error with a message of its own.
    init(message: String, status: Int32 = -1) {
        self.status = status
        self.jetStreamCode = 0
        self.message = message
    }

    /// Whether the library gave up waiting (a fetch with nothing to fetch, an ack not received in time).
    public var isTimeout: Bool { status == Int32(bitPattern: NATS_TIMEOUT.rawValue) }

    /// The message.
    public var description: String { message }
}

/// Throws a ``NATSError`` unless `status` is `NATS_OK`.
func check(_ status: natsStatus, _ what: @autoclosure () -> String,
           jetStreamCode: jsErrCode = jsErrCode(rawValue: 0)) throws(NATSError) {
    guard status != NATS_OK else { return }
    throw NATSError(what(), status, jetStreamCode: jetStreamCode)
}

/// Converts a duration to whole milliseconds (at least 1), as the library counts them.
func milliseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
}

/// Converts a duration to nanoseconds, as JetStream's configurations count them.
func nanoseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
}

/// Runs a blocking call on `queue` and resumes with its result (its error type kept): the
/// waiting task's thread is free meanwhile.
func offPool<T: Sendable, Failure: Error>(_ queue: DispatchQueue, _ work: @escaping @Sendable () throws(Failure) -> T)
    async throws(Failure) -> T {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, Failure>, Never>) in
        queue.async { continuation.resume(returning: Result(catching: work)) }
    }
    return try result.get()
}

/// How to reach the facility's NATS servers.
public struct NATSOptions: Sendable, Hashable {
    /// One or more server URLs, comma-separated (`nats://host:4222,nats://other:4222`).
    public var url: String
    /// The connection's name, as the server shows it (`aperture-catalog site/camera`).
    public var name: String
    /// A `.creds` file (user JWT and NKey seed) for an account-secured server, or nil.
    public var credentialsFile: String?
    /// PEM file of the certificate authorities to trust for TLS, or nil (no TLS unless the URL says `tls://`).
    public var tlsCertificateAuthorities: String?
    /// PEM file of this client's certificate chain (mutual TLS), with ``tlsKey``.
    public var tlsCertificate: String?
    /// PEM file of this client's private key.
    public var tlsKey: String?
    /// How long a connection attempt may take.
    public var connectTimeout: Duration = .seconds(2)
    /// The pause between reconnection attempts (they never stop).
    public var reconnectWait: Duration = .milliseconds(500)
    /// Bytes the library buffers while reconnecting; a publish beyond it fails at once.
    public var reconnectBufferBytes: Int = 8 << 20
    /// How long a write to the server's socket may wait (a server that stopped reading): the
    /// publish fails then, and the connection reconnects, instead of a thread waiting for ever.
    public var writeDeadline: Duration = .seconds(10)
    /// How often the client pings the server; after ``maximumPingsOut`` unanswered pings the
    /// connection counts as lost and reconnects (a peer gone without closing its socket).
    public var pingInterval: Duration = .seconds(10)
    /// Unanswered pings before the connection counts as lost.
    public var maximumPingsOut = 3

    /// Options for `url`, named `name`.
    public init(url: String, name: String) {
        self.url = url
        self.name = name
    }
}

/// One connection to the facility's NATS. It connects in the background and reconnects for ever:
/// creating it returns at once, also while the server is down (``isConnected`` says whether it
/// is up), and publishes made while it is down fail fast once the reconnect buffer is full.
public final class NATSConnection: @unchecked Sendable {
    let handle: OpaquePointer
    /// The options it was made with.
    public let options: NATSOptions

    /// Connects, or starts trying to.
    /// - Throws: ``NATSError`` when the options are refused (a malformed URL, an unreadable
    ///   credentials or certificate file).
    public init(_ options: NATSOptions) throws(NATSError) {
        self.options = options
        var raw: OpaquePointer?
        try check(natsOptions_Create(&raw), "cannot create NATS options")
        guard let settings = raw else { throw NATSError(message: "cannot create NATS options") }
        defer { natsOptions_Destroy(settings) }
        try check(natsOptions_SetURL(settings, options.url), "nats.url '\(options.url)' is not a NATS server URL")
        try check(natsOptions_SetName(settings, options.name), "cannot name the NATS connection")
        try check(natsOptions_SetTimeout(settings, milliseconds(options.connectTimeout)), "cannot set the connect timeout")
        try check(natsOptions_SetAllowReconnect(settings, true), "cannot allow reconnection")
        try check(natsOptions_SetMaxReconnect(settings, -1), "cannot set unlimited reconnection")
        try check(natsOptions_SetReconnectWait(settings, milliseconds(options.reconnectWait)), "cannot set the reconnect wait")
        try check(natsOptions_SetReconnectBufSize(settings, Int32(clamping: options.reconnectBufferBytes)),
                  "cannot set the reconnect buffer")
        // With a callback the first connect is retried in the background: without one the
        // library would retry inside natsConnection_Connect, for ever (unlimited reconnects).
        try check(natsOptions_SetRetryOnFailedConnect(settings, true, { _, _ in }, nil), "cannot retry a failed first connect")
        try check(natsOptions_SetWriteDeadline(settings, milliseconds(options.writeDeadline)), "cannot set the write deadline")
        try check(natsOptions_SetPingInterval(settings, milliseconds(options.pingInterval)), "cannot set the ping interval")
        try check(natsOptions_SetMaxPingsOut(settings, Int32(clamping: max(1, options.maximumPingsOut))),
                  "cannot set the pings out")
        // JetStream API requests in flight fail when the connection drops, not at their timeout.
        try check(natsOptions_SetFailRequestsOnDisconnect(settings, true), "cannot fail requests on disconnect")
        if let credentials = options.credentialsFile {
            try check(natsOptions_SetUserCredentialsFromFiles(settings, credentials, nil),
                      "nats.credentials '\(credentials)' cannot be used")
        }
        if let authorities = options.tlsCertificateAuthorities {
            try check(natsOptions_SetSecure(settings, true), "cannot enable TLS")
            try check(natsOptions_LoadCATrustedCertificates(settings, authorities),
                      "nats.tls_ca '\(authorities)' cannot be loaded")
        }
        if let certificate = options.tlsCertificate {
            try check(natsOptions_SetSecure(settings, true), "cannot enable TLS")
            try check(natsOptions_LoadCertificatesChain(settings, certificate, options.tlsKey),
                      "nats.tls_cert '\(certificate)' with nats.tls_key cannot be loaded")
        }
        var connection: OpaquePointer?
        let status = natsConnection_Connect(&connection, settings)
        // With retry-on-failed-connect a server that is down is NATS_NOT_YET_CONNECTED: the
        // connection exists and keeps trying.
        guard status == NATS_OK || status == NATS_NOT_YET_CONNECTED, let connection else {
            throw NATSError("cannot connect to \(options.url)", status)
        }
        handle = connection
    }

    deinit {
        natsConnection_Destroy(handle)
    }

    /// Whether the connection is up now.
    public var isConnected: Bool { natsConnection_Status(handle) == NATS_CONN_STATUS_CONNECTED }

    /// The most bytes one message may hold (the server's `max_payload`), 0 before the first connection.
    public var maximumPayload: Int { Int(natsConnection_GetMaxPayload(handle)) }

    /// The URL of the server it is connected to, or nil.
    public var connectedURL: String? {
        var buffer = [CChar](repeating: 0, count: 512)
        guard natsConnection_GetConnectedUrl(handle, &buffer, buffer.count) == NATS_OK, buffer[0] != 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Publishes on core NATS: no persistence, no acknowledgment (live status).
    /// - Parameters:
    ///   - subject: the subject.
    ///   - data: the payload.
    ///   - headers: message headers.
    /// - Throws: ``NATSError`` when the connection is closed or its reconnect buffer is full.
    public func publish(_ subject: String, _ data: [UInt8], headers: [String: String] = [:]) throws(NATSError) {
        let message = try NATSOutgoing(subject: subject, data: data, headers: headers)
        defer { natsMsg_Destroy(message.pointer) }
        try check(natsConnection_PublishMsg(handle, message.pointer), "publish to \(subject)")
    }

    /// Waits until the server has seen everything published so far.
    /// - Parameter timeout: how long to wait.
    /// - Throws: ``NATSError`` on timeout or when disconnected.
    public func flush(timeout: Duration) async throws {
        let handle = UncheckedHandle(handle)
        try await offPool(DispatchQueue.global()) {
            try check(natsConnection_FlushTimeout(handle.pointer, milliseconds(timeout)), "flush")
        }
    }

    /// Subscribes on core NATS.
    /// - Parameter subject: the subject, wildcards allowed (`aperture.*.*.*`).
    /// - Returns: the subscription; read it with ``NATSSubscription/next(timeout:)``.
    /// - Throws: ``NATSError``.
    public func subscribe(_ subject: String) throws(NATSError) -> NATSSubscription {
        var subscription: OpaquePointer?
        try check(natsConnection_SubscribeSync(&subscription, handle, subject), "subscribe to \(subject)")
        guard let subscription else { throw NATSError(message: "subscribe to \(subject): no subscription") }
        // A burst of status messages must not make the library drop the subscription's backlog.
        _ = natsSubscription_SetPendingLimits(subscription, 65536, 256 << 20)
        return NATSSubscription(subscription, connection: self)
    }

    /// A JetStream context on this connection.
    /// - Parameter timeout: how long JetStream API requests wait for the server.
    /// - Throws: ``NATSError``.
    public func jetStream(timeout: Duration = .seconds(5)) throws(NATSError) -> JetStream {
        try JetStream(connection: self, timeout: timeout)
    }

    /// Closes the connection: pending publishes are flushed if the server is reachable.
    public func close() {
        natsConnection_Close(handle)
    }
}

/// A C pointer carried across a `@Sendable` boundary (the library is thread-safe).
struct UncheckedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// A message being built for publishing: the library's `natsMsg`, with its headers set.
struct NATSOutgoing {
    let pointer: OpaquePointer

    init(subject: String, data: [UInt8], headers: [String: String]) throws(NATSError) {
        var raw: OpaquePointer?
        let status = data.withUnsafeBytes { bytes in
            natsMsg_Create(&raw, subject, nil, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), Int32(bytes.count))
        }
        try check(status, "cannot create a message for \(subject)")
        guard let raw else { throw NATSError(message: "cannot create a message for \(subject)") }
        for (name, value) in headers {
            let set = natsMsgHeader_Set(raw, name, value)
            if set != NATS_OK {
                natsMsg_Destroy(raw)
                throw NATSError("cannot set header \(name)", set)
            }
        }
        pointer = raw
    }
}

/// A core NATS subscription.
public final class NATSSubscription: @unchecked Sendable {
    let handle: OpaquePointer
    let connection: NATSConnection
    private let queue = DispatchQueue(label: "nats.subscription")

    init(_ handle: OpaquePointer, connection: NATSConnection) {
        self.handle = handle
        self.connection = connection
    }

    deinit {
        natsSubscription_Destroy(handle)
    }

    /// The next message, or nil when none came within `timeout`.
    /// - Throws: ``NATSError`` when the subscription or its connection is closed.
    public func next(timeout: Duration) async throws -> NATSMessage? {
        let handle = UncheckedHandle(handle)
        return try await offPool(queue) { () throws -> NATSMessage? in
            var message: OpaquePointer?
            let status = natsSubscription_NextMsg(&message, handle.pointer, milliseconds(timeout))
            if status == NATS_TIMEOUT { return nil }
            try check(status, "next message")
            return message.map { NATSMessage(owning: $0, jetStream: nil) }
        }
    }

    /// Ends the subscription.
    public func close() {
        _ = natsSubscription_Unsubscribe(handle)
    }
}

/// A received message. For a JetStream message, ``ack()`` and its kin answer the server; the
/// message must stay alive until then (it holds the reply subject).
public final class NATSMessage: @unchecked Sendable {
    let pointer: OpaquePointer
    let jetStream: JetStream?
    /// The subject it came on.
    public let subject: String
    /// The payload.
    public let data: [UInt8]
    /// Its headers (the last value of a header given twice).
    public let headers: [String: String]

    init(owning pointer: OpaquePointer, jetStream: JetStream?) {
        self.pointer = pointer
        self.jetStream = jetStream
        subject = String(cString: natsMsg_GetSubject(pointer))
        let count = Int(natsMsg_GetDataLength(pointer))
        if count > 0, let bytes = natsMsg_GetData(pointer) {
            data = bytes.withMemoryRebound(to: UInt8.self, capacity: count) { Array(UnsafeBufferPointer(start: $0, count: count)) }
        } else {
            data = []
        }
        var headers: [String: String] = [:]
        var keys: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        var keyCount: Int32 = 0
        if natsMsgHeader_Keys(pointer, &keys, &keyCount) == NATS_OK, let keys {
            for index in 0..<Int(keyCount) {
                guard let key = keys[index] else { continue }
                var value: UnsafePointer<CChar>?
                if natsMsgHeader_Get(pointer, key, &value) == NATS_OK, let value {
                    headers[String(cString: key)] = String(cString: value)
                }
            }
            free(keys)
        }
        self.headers = headers
    }

    deinit {
        natsMsg_Destroy(pointer)
    }

    /// JetStream's account of the message: its stream sequence and how often it was delivered.
    public var metadata: (streamSequence: UInt64, deliveries: UInt64)? {
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        guard natsMsg_GetMetaData(&meta, pointer) == NATS_OK, let meta else { return nil }
        defer { jsMsgMetaData_Destroy(meta) }
        return (meta.pointee.Sequence.Stream, meta.pointee.NumDelivered)
    }

    /// Acknowledges it and waits for the server to confirm (JetStream): after this returns, the
    /// message will not come again.
    /// - Throws: ``NATSError`` when the server did not confirm.
    public func ackSync() async throws {
        let message = UncheckedHandle(pointer)
        try await offPool(DispatchQueue.global()) {
            var code = jsErrCode(rawValue: 0)
            try check(natsMsg_AckSync(message.pointer, nil, &code), "acknowledge", jetStreamCode: code)
        }
        withExtendedLifetime(self) {}
    }

    /// Acknowledges it without waiting (JetStream).
    /// - Throws: ``NATSError`` when the acknowledgment cannot be sent.
    public func ack() throws(NATSError) {
        try check(natsMsg_Ack(pointer, nil), "acknowledge")
    }

    /// Tells the server the message was not processed: it comes again after `delay` (or at once).
    /// - Throws: ``NATSError``.
    public func nak(delay: Duration? = nil) throws(NATSError) {
        if let delay {
            try check(natsMsg_NakWithDelay(pointer, milliseconds(delay), nil), "negative acknowledgment")
        } else {
            try check(natsMsg_Nak(pointer, nil), "negative acknowledgment")
        }
    }

    /// Tells the server the message can never be processed: it is not delivered again.
    /// - Throws: ``NATSError``.
    public func term() throws(NATSError) {
        try check(natsMsg_Term(pointer, nil), "terminate")
    }

    /// Tells the server the message is still being worked on (its ack wait starts again).
    /// - Throws: ``NATSError``.
    public func inProgress() throws(NATSError) {
        try check(natsMsg_InProgress(pointer, nil), "in progress")
    }
}
