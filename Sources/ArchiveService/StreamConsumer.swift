import ApertureConfig
import ApertureProtocol
import ChildRuntime
import Dispatch
import FacilityBus
import Foundation
import Logging
import ServiceLifecycle

/// A JetStream message as the ingest takes it.
struct JetStreamMessage: IngestMessage {
    let message: NATSMessage
    var headers: [String: String] { message.headers }
    var data: [UInt8] { message.data }
    func ack() async { try? message.ack() }
    func nak(delay: Duration?) async { try? message.nak(delay: delay) }
    func term() async { try? message.term() }
}

/// The archive's side of the facility's NATS: a durable pull consumer on the stream of frames
/// (created if missing, with the exporters' settings), every message handed to the ingest; and a
/// core subscription to the instances' live status (`aperture.SITE.CAMERA.KIND`), kept in the
/// `cameras` table. Every call that waits on the server (the stream's creation, its state,
/// fetches) waits off the cooperative pool (FacilityBus).
public struct StreamConsumerService: Service {
    let parts: ArchiveParts
    let nats: ApertureConfiguration.NATS
    let settings: ApertureConfiguration.Archive

    /// Creates the service.
    /// - Parameters:
    ///   - parts: the archive.
    ///   - configuration: the `nats.*` and `archive.*` keys.
    public init(parts: ArchiveParts, configuration: ApertureConfiguration) {
        self.parts = parts
        nats = configuration.nats
        settings = configuration.archive
    }

    /// The consumer's settings: explicit acks, `archive.ack_wait` (longer than the incomplete
    /// timeout: a frame's first chunk must not come again while its last is awaited), redelivered for ever.
    public static func consumerSettings(_ archive: ApertureConfiguration.Archive) -> ConsumerSettings {
        var consumer = ConsumerSettings()
        consumer.ackWait = archive.ackWait
        consumer.maximumAckPending = archive.maxAckPending
        consumer.maximumDeliveries = -1
        return consumer
    }

    /// Runs until graceful shutdown.
    public func run() async throws {
        let connection = try NATSConnection(NATSOptions(nats, name: "aperture-archive \(settings.durable)"))
        defer { connection.close() }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await consume(connection) }
                group.addTask { await followStatus(connection) }
                group.addTask { await watch(connection) }
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            connection.close()
        }
    }

    private var running: Bool { !Task.isCancelled && !Task.isShuttingDownGracefully }

    /// Sets up the stream and the consumer (again after a failure), then fetches for ever.
    private func consume(_ connection: NATSConnection) async {
        var delay = Duration.milliseconds(200)
        while running {
            do {
                let subscription = try await subscribe(connection)
                parts.logger.info("archive: consuming \(nats.stream) as \(settings.durable)")
                delay = .milliseconds(200)
                defer { subscription.close() }
                while running {
                    let messages = try await subscription.fetch(batch: 64, timeout: .seconds(1))
                    for message in messages { await parts.ingest.receive(JetStreamMessage(message: message)) }
                }
            } catch {
                if running {
                    parts.logger.warning("archive: the stream consumer failed (\(error)); again in \(delay)")
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
        }
    }

    private func subscribe(_ connection: NATSConnection) async throws -> PullSubscription {
        let jetStream = try connection.jetStream()
        try await jetStream.ensureStream(.frames(nats), updating: false)
        return try await jetStream.pullSubscription(stream: nats.stream, subject: FrameExport.streamSubjects,
                                                    durable: settings.durable, settings: Self.consumerSettings(settings))
    }

    /// Keeps the monitor's connection state and the stream's pending count (with work-queue
    /// retention, the messages the archive has not acknowledged) up to date.
    private func watch(_ connection: NATSConnection) async {
        let stream = nats.stream
        let jetStream = try? connection.jetStream()
        while running {
            var pending: Int?
            if connection.isConnected, let state = try? await jetStream?.streamState(stream) {
                pending = Int(clamping: state.messages)
            }
            parts.monitor.update(connected: connection.isConnected, pending: pending)
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Keeps each camera's latest live status (`state`, `telemetry`, `export`).
    private func followStatus(_ connection: NATSConnection) async {
        var delay = Duration.milliseconds(200)
        while running {
            do {
                let subscription = try connection.subscribe("aperture.*.*.*")
                defer { subscription.close() }
                delay = .milliseconds(200)
                while running {
                    guard let message = try await subscription.next(timeout: .seconds(1)) else { continue }
                    await status(subject: message.subject, body: message.data)
                }
            } catch {
                if running {
                    parts.logger.warning("archive: the live status subscription failed (\(error)); again in \(delay)")
                    try? await Task.sleep(for: delay)
                    delay = min(delay * 2, .seconds(5))
                }
            }
        }
    }

    /// One live status message: its subject names a valid site, camera and kind, and its body is
    /// a ``LiveStatus`` of that camera; anything else is logged and dropped.
    func status(subject: String, body: [UInt8]) async {
        let tokens = subject.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard tokens.count == 4, FacilityName.isValid(tokens[1]), FacilityName.isValid(tokens[2]),
              ["state", "telemetry", "export"].contains(tokens[3]),
              let live = try? JSONDecoder().decode(LiveStatus.self, from: Data(body)),
              live.site == tokens[1], live.camera == tokens[2],
              let text = String(bytes: body, encoding: .utf8) else {
            parts.logger.debug("archive: a live status on '\(subject.prefix(120))' is not one (dropped)")
            return
        }
        do {
            try await parts.store.cameraStatus(site: tokens[1], camera: tokens[2], kind: tokens[3], body: text)
        } catch {
            parts.logger.warning("archive: cannot keep the status of \(tokens[1])/\(tokens[2]): \(error)")
        }
    }
}
