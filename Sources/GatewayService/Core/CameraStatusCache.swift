import Bus
import ApertureProtocol
import Foundation
import NIOCore
import Synchronization

/// The camera's status report as the gateway last fetched it, shared by every reader.
///
/// Scripts, dashboards and Alpaca clients poll the camera's status many times a second; each
/// poll used to be a round trip to `aperture-camera`. Now concurrent readers share one fetch,
/// and a report is reused for at most ``maximumAge``, and never after the camera announced a
/// change (a `camera.state`, `camera.exposure` or `camera.frame` event) or after a command
/// that changes something went through the gateway: a reader never sees a state older than
/// the last change it could know of.
public final class CameraStatusCache: Sendable {
    /// The longest a report is reused.
    public static let maximumAge: Duration = .milliseconds(100)

    struct Entry: Sendable {
        var report: CameraStatusReport
        /// The report encoded once as the HTTP body.
        var json: ByteBuffer
        var fetched: ContinuousClock.Instant
    }

    private struct State {
        var entry: Entry?
        var generation: UInt64 = 0
        var inflight: (generation: UInt64, task: Task<Entry, any Error>)?
    }
    private let state = Mutex(State())

    init() {}

    /// Forgets the report: the next reader fetches a new one.
    public func invalidate() {
        state.withLock { state in
            state.generation &+= 1
            state.entry = nil
        }
    }

    /// A report no older than ``maximumAge`` and newer than the last change.
    func current(fetch: @escaping @Sendable () async throws(APIError) -> CameraStatusReport) async throws(APIError) -> Entry {
        let now = ContinuousClock.now
        let (cached, task) = state.withLock { state -> (Entry?, Task<Entry, any Error>?) in
            if let entry = state.entry, now - entry.fetched < Self.maximumAge { return (entry, nil) }
            if let inflight = state.inflight, inflight.generation == state.generation { return (nil, inflight.task) }
            let generation = state.generation
            let task = Task<Entry, any Error> { [self] in
                let report = try await fetch()
                let entry = Entry(report: report, json: ByteBuffer(bytes: try JSONResponse.encoder.encode(report)),
                                  fetched: ContinuousClock.now)
                self.state.withLock { locked in
                    if locked.generation == generation { locked.entry = entry }
                    if locked.inflight?.generation == generation { locked.inflight = nil }
                }
                return entry
            }
            state.inflight = (generation, task)
            return (nil, task)
        }
        if let cached { return cached }
        do {
            return try await task!.value
        } catch {
            state.withLock { state in
                if let inflight = state.inflight, inflight.task == task { state.inflight = nil }
            }
            throw APIError(any: error)
        }
    }
}
