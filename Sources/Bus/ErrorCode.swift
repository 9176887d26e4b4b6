/// A stable, machine-readable error code: the same text on the bus, in HTTP replies and in logs,
/// and one Swift type for every process and face.
///
/// The codes Aperture sends are a closed set (the private `Known`); a code from a peer this
/// build does not know is kept as its text, shown as it came and treated as an internal fault.
/// Text becomes a code only in ``init(from:)`` (the wire's decoder): everywhere else codes are
/// compared as values, never as strings.
public struct ErrorCode: Sendable, Hashable, Codable, CustomStringConvertible {
    private enum Known: String, Sendable, CaseIterable {
        // The bus itself.
        case badRequest = "bad_request"
        case unknownCommand = "unknown_command"
        case timeout, closed, cancelled, transport
        case `internal`
        case busy
        case invalidArgument = "invalid_argument"
        case frameRingMissing = "frame_ring_missing"
        case frameRingCorrupt = "frame_ring_corrupt"
        // The camera.
        case notConnected = "not_connected"
        case driver = "driver_error"
        case notSupported = "not_supported"
        case storage = "storage_error"
        case notFound = "not_found"
        // The processor's focus fits.
        case insufficientData = "insufficient_data"
        case notAMinimum = "not_a_minimum"
        // The gateway's own.
        case cameraUnavailable = "camera_unavailable"
        case processorUnavailable = "processor_unavailable"
        case supervisorUnavailable = "supervisor_unavailable"
        case catalogUnavailable = "catalog_unavailable"
        case unauthorized
        case tokenRequired = "token_required"
        case forbiddenHost = "forbidden_host"
        case forbiddenOrigin = "forbidden_origin"
        case methodNotAllowed = "method_not_allowed"
        case bodyTooLarge = "body_too_large"
        case rangeNotSatisfiable = "range_not_satisfiable"
        case tooManyClients = "too_many_clients"
        case notConfigured = "not_configured"
        case upstreamFailed = "upstream_failed"
    }

    private enum Value: Sendable, Hashable {
        case known(Known)
        /// A code from a peer this build does not know, as it came.
        case unrecognized(String)
    }

    private let value: Value

    private init(_ known: Known) { value = .known(known) }

    /// The code as it travels: lower case with underscores.
    public var rawValue: String {
        switch value {
        case .known(let known): known.rawValue
        case .unrecognized(let text): text
        }
    }

    /// Whether this build knows the code (a peer may send one it does not).
    public var isKnown: Bool {
        if case .known = value { return true }
        return false
    }

    /// The code as on the wire, e.g. `invalid_argument`.
    public var description: String { rawValue }

    /// Reads a code from the wire.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        value = Known(rawValue: text).map(Value.known) ?? .unrecognized(text)
    }

    /// Writes the code as a JSON string, unknown codes with the text they came with.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    // MARK: The bus

    /// The message could not be parsed, is too large, or its envelope is invalid.
    public static let badRequest = ErrorCode(.badRequest)
    /// The command name is not one the peer answers.
    public static let unknownCommand = ErrorCode(.unknownCommand)
    /// No reply arrived before the request's deadline (or the SDK did not finish in time).
    public static let timeout = ErrorCode(.timeout)
    /// The socket was closed (locally) while the operation was pending.
    public static let closed = ErrorCode(.closed)
    /// The operation was cancelled by its task.
    public static let cancelled = ErrorCode(.cancelled)
    /// An NNG call failed for a reason other than the ones above.
    public static let transport = ErrorCode(.transport)
    /// The peer could not handle the command because of a fault on its side.
    public static let `internal` = ErrorCode(.internal)
    /// The peer is busy with something that excludes this command (an exposure, say), or has
    /// as many requests in flight as it takes.
    public static let busy = ErrorCode(.busy)
    /// A value is malformed or out of range; the error's `field` names it.
    public static let invalidArgument = ErrorCode(.invalidArgument)
    /// The frame ring's file does not exist (yet): the camera has not created it.
    public static let frameRingMissing = ErrorCode(.frameRingMissing)
    /// The file is not a valid frame ring: wrong magic, version, checksum or sizes.
    public static let frameRingCorrupt = ErrorCode(.frameRingCorrupt)

    // MARK: The camera

    /// The camera is not connected (not initialised, or shut down).
    public static let notConnected = ErrorCode(.notConnected)
    /// The driver or SDK reported a failure (`driver_error`).
    public static let driver = ErrorCode(.driver)
    /// The camera cannot do this at all (no shutter, no such readout mode...).
    public static let notSupported = ErrorCode(.notSupported)
    /// A frame could not be stored (disk full, folder not writable) (`storage_error`).
    public static let storage = ErrorCode(.storage)
    /// No such thing (an exposure id the camera does not keep, a file).
    public static let notFound = ErrorCode(.notFound)

    // MARK: The processor

    /// Too few usable points for a focus fit.
    public static let insufficientData = ErrorCode(.insufficientData)
    /// A focus fit whose curve has no minimum.
    public static let notAMinimum = ErrorCode(.notAMinimum)

    // MARK: The gateway

    /// `camera_unavailable`, `processor_unavailable`, `supervisor_unavailable`,
    /// `catalog_unavailable`: the process
    /// does not answer (503 with Retry-After).
    public static func unavailable(_ process: BusProcess) -> ErrorCode {
        switch process {
        case .camera: ErrorCode(.cameraUnavailable)
        case .processor: ErrorCode(.processorUnavailable)
        case .supervisor: ErrorCode(.supervisorUnavailable)
        case .catalog: ErrorCode(.catalogUnavailable)
        }
    }
    /// A request that changes state came without the token (401).
    public static let unauthorized = ErrorCode(.unauthorized)
    /// The gateway refuses to listen beyond loopback without a token.
    public static let tokenRequired = ErrorCode(.tokenRequired)
    /// The Host header is not one the gateway serves (403).
    public static let forbiddenHost = ErrorCode(.forbiddenHost)
    /// A browser request from another origin (403).
    public static let forbiddenOrigin = ErrorCode(.forbiddenOrigin)
    /// The path exists, the method does not (405).
    public static let methodNotAllowed = ErrorCode(.methodNotAllowed)
    /// The body is larger than the route takes (413).
    public static let bodyTooLarge = ErrorCode(.bodyTooLarge)
    /// A Range header outside the file (416).
    public static let rangeNotSatisfiable = ErrorCode(.rangeNotSatisfiable)
    /// Every event-stream slot is taken (503).
    public static let tooManyClients = ErrorCode(.tooManyClients)
    /// The feature asked for needs configuration it does not have (e.g. no `weather.source`).
    public static let notConfigured = ErrorCode(.notConfigured)
    /// A service the gateway reads from (the weather source) failed or did not answer in time (502, 504).
    public static let upstreamFailed = ErrorCode(.upstreamFailed)

    /// Whether the code says the peer did not answer at all (a local timeout, a closed socket, a
    /// cancelled request, a transport failure), rather than answering with an error.
    public var isNoAnswer: Bool {
        self == .timeout || self == .closed || self == .cancelled || self == .transport
    }
}

/// The processes a client of the bus asks (the gateway names the one that did not answer).
public enum BusProcess: String, Sendable, Hashable, CaseIterable {
    /// `aperture-camera`, on `camera.ctl`.
    case camera
    /// `aperture-processor`, on `processor.ctl`.
    case processor
    /// `aperture`, the supervisor, on `supervisor.ctl`.
    case supervisor
    /// `aperture-catalog`, on `catalog.ctl`.
    case catalog
}
