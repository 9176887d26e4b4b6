import ApertureProtocol
import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// An error of the archive's HTTP API, in the camera hosts' shape:
/// `{"error": {"code": ..., "message": ..., "field": ...}}`.
public struct ArchiveHTTPError: Error, Sendable, HTTPResponseError {
    /// The HTTP status.
    public var status: HTTPResponse.Status
    /// The stable code and message, with the field at fault.
    public var error: BusError

    /// Maps a bus error (a refused query, an unknown id) to its status; anything else is 500.
    public init(_ error: any Error) {
        if let error = error as? ArchiveHTTPError { self = error; return }
        guard let bus = error as? BusError else {
            self.status = .internalServerError
            self.error = BusError(.internal, "\(error)")
            return
        }
        self.error = bus
        switch bus.code {
        case .invalidArgument, .badRequest: status = .badRequest
        case .notFound: status = .notFound
        default: status = .internalServerError
        }
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: ErrorCode
            var message: String
            var field: String?
        }
        var error: Detail
    }

    /// The JSON reply.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        ArchiveRoutes.json(Body(error: .init(code: error.code, message: error.message, field: error.field)), status: status)
    }
}

/// What the archive's consumer and its database check report for `/healthz` and `/metrics`.
public final class ConsumerMonitor: Sendable {
    private let state = Mutex<(connected: Bool, pending: Int?)>((false, nil))
    private let database = Mutex<ContinuousClock.Instant?>(nil)
    /// Creates a monitor: not connected, pending unknown, the database not yet seen.
    public init() {}
    /// Whether the archive's NATS connection is up, and the consumer's pending messages (the
    /// server's count, when known).
    public var current: (connected: Bool, pending: Int?) { state.withLock { $0 } }
    /// Records the connection's state and the pending count.
    public func update(connected: Bool, pending: Int?) { state.withLock { $0 = (connected, pending) } }
    /// Records that the database answered now.
    public func databaseAnswered() { database.withLock { $0 = .now } }
    /// Whether the database answered within the last 10 seconds (a check hanging on a server that
    /// is gone counts as down, and `/healthz` never waits for it).
    public var databaseUp: Bool { database.withLock { $0.map { ContinuousClock.now - $0 < .seconds(10) } ?? false } }
}

/// The archive's HTTP API (docs/archive.md): `/v1/frames` as on a camera host but across every
/// site and camera, `/v1/cameras`, `/v1/problems`, `/healthz`, `/metrics`, and the facility dashboard at `/`.
public enum ArchiveRoutes {
    /// The router.
    /// - Parameters:
    ///   - store: the database.
    ///   - files: the central root.
    ///   - ingest: the ingest (its counters).
    ///   - monitor: the consumer's state.
    public static func router(store: ArchiveStore, files: CentralFiles, ingest: FrameIngest,
                              monitor: ConsumerMonitor) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ErrorMapping())
        let fileIO = FileIO()
        router.get("/") { _, _ in asset(PackageResources.archive_html, "text/html; charset=utf-8") }
        router.get("/archive.js") { _, _ in asset(PackageResources.archive_js, "text/javascript; charset=utf-8") }
        router.get("/archive.css") { _, _ in asset(PackageResources.archive_css, "text/css; charset=utf-8") }
        router.get("/healthz") { _, _ in
            let database = monitor.databaseUp
            let consumer = monitor.current
            struct Health: Encodable {
                var status: String
                var database: Bool
                var nats: Bool
            }
            return json(Health(status: database ? "ok" : "degraded", database: database, nats: consumer.connected),
                        status: database ? .ok : .serviceUnavailable)
        }
        router.get("/metrics") { _, _ in
            try await metrics(store: store, ingest: ingest, monitor: monitor)
        }
        router.get("/v1/frames") { request, _ in
            let page = try await store.frames(try query(request))
            return wantsCSV(request) ? csv(page) : json(page)
        }
        router.get("/v1/frames/summary") { request, _ in json(try await store.summary(try query(request))) }
        router.get("/v1/frames/{id}") { _, context in json(try await store.frame(id: try id(context)).row) }
        router.get("/v1/frames/{id}/file") { _, context in
            let (row, central) = try await store.frame(id: try id(context))
            let path = files.root + "/" + central
            guard await files.exists(path) else {
                throw BusError(.notFound, "frame \(row.id): its central file \(central) is missing", field: "id")
            }
            var headers: HTTPFields = [.contentType: "application/fits", .cacheControl: "no-cache"]
            headers[.contentDisposition] = "attachment; filename=\"\(URL(fileURLWithPath: central).lastPathComponent)\""
            headers[.contentLength] = String(row.bytes)
            return Response(status: .ok, headers: headers, body: try await fileIO.loadFile(path: path, context: context))
        }
        router.get("/v1/cameras") { _, _ in
            struct Cameras: Encodable { var cameras: [CameraView] }
            return json(Cameras(cameras: try await store.cameras().map(CameraView.init)))
        }
        router.get("/v1/problems") { request, _ in
            var kind: ProblemKind?
            var limit = 100
            for (name, value) in request.uri.queryParameters.map({ (String($0.key), String($0.value)) }) {
                switch name {
                case "kind":
                    guard let chosen = ProblemKind(rawValue: value) else {
                        throw BusError.invalid("kind", "'\(value.prefix(40))' is not one of \(ProblemKind.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    kind = chosen
                case "limit":
                    guard let number = Int(value), (1...FrameQuery.maximumLimit).contains(number) else {
                        throw BusError.invalid("limit", "'\(value.prefix(40))' is not a whole number from 1 to \(FrameQuery.maximumLimit)")
                    }
                    limit = number
                default: throw BusError.invalid(name, "is not a parameter of /v1/problems (they are: kind, limit)")
                }
            }
            struct Problems: Encodable { var problems: [ArchiveProblem] }
            return json(Problems(problems: try await store.problems(kind: kind, limit: limit)))
        }
        return router
    }

    /// `/v1/frames`'s query, checked where it enters (the camera hosts' rules and words).
    static func query(_ request: Request) throws(BusError) -> FrameQuery {
        try FrameQuery(parameters: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
    }

    static func id(_ context: BasicRequestContext) throws(BusError) -> Int64 {
        let text = context.parameters.get("id") ?? ""
        guard let id = Int64(text), id > 0 else {
            throw BusError.invalid("id", "'\(text.prefix(40))' is not a frame id (a whole number from 1)")
        }
        return id
    }

    /// Whether the client asked for CSV (`Accept: text/csv`).
    static func wantsCSV(_ request: Request) -> Bool {
        guard let accept = request.headers[.accept]?.lowercased() else { return false }
        return accept.split(separator: ",").contains { $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "text/csv" }
    }

    /// The page as CSV (RFC 4180, a header line), the next cursor in `Aperture-Next-Cursor`.
    static func csv(_ page: FramePage) -> Response {
        var text = FrameRow.csvLine(FrameRow.csvColumns) + "\r\n"
        for row in page.frames { text += FrameRow.csvLine(row.csvValues) + "\r\n" }
        var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-cache"]
        if let next = page.next, let name = HTTPField.Name("Aperture-Next-Cursor") { headers[name] = next }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"internal","message":"cannot encode reply"}}"#.utf8)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func asset(_ bytes: [UInt8], _ type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-cache"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Prometheus text: frames and bytes stored, problems by kind, the consumer's pending messages.
    static func metrics(store: ArchiveStore, ingest: FrameIngest, monitor: ConsumerMonitor) async throws -> Response {
        let counts = try await store.counts()
        let statistics = await ingest.statistics
        let held = await ingest.held
        let consumer = monitor.current
        var lines = [
            "# HELP aperture_archive_frames Frames (rows) in the archive.", "# TYPE aperture_archive_frames gauge",
            "aperture_archive_frames \(counts.frames)",
            "# HELP aperture_archive_bytes Bytes of the archive's files.", "# TYPE aperture_archive_bytes gauge",
            "aperture_archive_bytes \(counts.bytes)",
            "# HELP aperture_archive_problems Open problems by kind.", "# TYPE aperture_archive_problems gauge",
        ]
        for kind in ProblemKind.allCases { lines.append("aperture_archive_problems{kind=\"\(kind.rawValue)\"} \(counts.problems[kind] ?? 0)") }
        lines += [
            "# HELP aperture_archive_stored_total Rows written since start.", "# TYPE aperture_archive_stored_total counter",
            "aperture_archive_stored_total \(statistics.stored)",
            "# HELP aperture_archive_refused_total Messages terminated since start.", "# TYPE aperture_archive_refused_total counter",
            "aperture_archive_refused_total \(statistics.refused)",
            "# HELP aperture_archive_held Messages held unacknowledged (frames in flight).", "# TYPE aperture_archive_held gauge",
            "aperture_archive_held \(held)",
            "# HELP aperture_archive_nats_connected Whether the NATS connection is up.", "# TYPE aperture_archive_nats_connected gauge",
            "aperture_archive_nats_connected \(consumer.connected ? 1 : 0)",
        ]
        if let pending = consumer.pending {
            lines += ["# HELP aperture_archive_consumer_pending Messages of the stream not yet delivered to the archive.",
                      "# TYPE aperture_archive_consumer_pending gauge", "aperture_archive_consumer_pending \(pending)"]
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: lines.joined(separator: "\n") + "\n")))
    }

    /// Turns every error a route throws into the JSON error shape with its status.
    struct ErrorMapping: RouterMiddleware {
        typealias Context = BasicRequestContext
        func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
            do {
                return try await next(request, context)
            } catch let error as HTTPError {
                throw ArchiveHTTPError(status: error.status, error: BusError(error.status == .notFound ? .notFound : .badRequest,
                                                                             error.body ?? "\(error.status)"))
            } catch {
                throw ArchiveHTTPError(error)
            }
        }
    }
}

extension ArchiveHTTPError {
    init(status: HTTPResponse.Status, error: BusError) {
        self.status = status
        self.error = error
    }
}

/// One camera in `/v1/cameras`: who it is, what its live status last said, and its last frame here.
struct CameraView: Encodable {
    var site: String
    var camera: String
    /// The camera's state, from its last `state` or `telemetry` message.
    var state: String?
    /// Whether the camera is connected (`telemetry`).
    var connected: Bool?
    /// The sensor's temperature in degrees Celsius (`telemetry`).
    var temperature: Double?
    /// Frames the instance has not had acknowledged yet (`export`).
    var exportBacklog: Int?
    /// Seconds the oldest of them has waited (`export`).
    var exportLag: Double?
    /// Whether the instance's export is connected to NATS (`export`).
    var exportConnected: Bool?
    /// When the last status came (ISO UTC).
    var lastSeen: String?
    /// The last frame stored from the camera (its path on the camera host).
    var lastFrame: String?
    /// When it was stored.
    var lastStored: String?
    /// Frames stored from the camera.
    var frames: Int64
    /// The last status of each kind, as sent.
    var status: [String: LiveStatus]

    enum CodingKeys: String, CodingKey {
        case site, camera, state, connected, temperature, frames, status
        case exportBacklog = "export_backlog"
        case exportLag = "export_lag"
        case exportConnected = "export_connected"
        case lastSeen = "last_seen"
        case lastFrame = "last_frame"
        case lastStored = "last_stored"
    }

    init(_ camera: ArchiveCamera) {
        site = camera.site
        self.camera = camera.camera
        status = (try? JSONDecoder().decode([String: LiveStatus].self, from: Data(camera.status.utf8))) ?? [:]
        let telemetry = status["telemetry"], export = status["export"]?.export
        state = [status["state"], telemetry].compactMap { $0 }.max { $0.time < $1.time }?.state
        connected = telemetry?.connected
        temperature = telemetry?.temperature?.celsius
        exportBacklog = export?.backlogFrames
        exportLag = export?.lagSeconds
        exportConnected = export?.connected
        lastSeen = camera.lastSeen
        lastFrame = camera.lastFrame
        lastStored = camera.lastStored
        frames = camera.frames
    }
}
