import ApertureProtocol
import DequeModule
import Foundation
import Synchronization

/// The last hour of the sensor's temperature, set-point and cooler power, from the camera's
/// telemetry events, so that the dashboard's chart shows the hour as soon as it is opened.
public final class TemperatureHistory: Sendable {
    /// One reading and when it was taken; encoded as the reading's fields plus `time`.
    public struct Sample: Encodable, Sendable, Hashable {
        /// Unix time of the reading.
        public var time: Double
        /// The temperature, set-point and cooler state read.
        public var reading: TemperatureStatus

        enum CodingKeys: String, CodingKey { case time }

        /// The reading's members, and `time`.
        public func encode(to encoder: any Encoder) throws {
            try reading.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(time, forKey: .time)
        }
    }

    /// How far back samples are kept, in seconds.
    public let span: Double
    /// At most one sample per this many seconds is kept (telemetry may come faster).
    public let resolution: Double
    private let samples = Mutex(Deque<Sample>())
    /// The newest reading whatever the resolution, and when a change made it stale.
    private let newest = Mutex<(sample: Sample?, staleBefore: Double)>((nil, 0))

    init(span: Double = 3600, resolution: Double = 1) {
        self.span = span
        self.resolution = resolution
    }

    /// Adds a reading taken at `time`.
    func record(_ reading: TemperatureStatus, at time: Double) {
        let sample = Sample(time: time, reading: reading)
        newest.withLock { newest in
            if time >= newest.staleBefore { newest.sample = sample }
        }
        samples.withLock { samples in
            if let last = samples.last, time - last.time < resolution { return }
            samples.append(sample)
            while let first = samples.first, first.time < time - span { samples.removeFirst() }
        }
    }

    /// Marks the newest reading stale (a set-point or cooler command went through): until the
    /// next telemetry, readers ask the camera.
    func invalidate(now: Double = Date().timeIntervalSince1970) {
        newest.withLock { newest in
            newest.sample = nil
            newest.staleBefore = now
        }
    }

    /// The newest reading when it is at most `maximumAge` seconds old and newer than the last
    /// change; nil otherwise.
    public func latest(maximumAge: Double, now: Double = Date().timeIntervalSince1970) -> TemperatureStatus? {
        guard let sample = newest.withLock({ $0.sample }), now - sample.time <= maximumAge else { return nil }
        return sample.reading
    }

    /// The samples of the last `seconds`, oldest first.
    public func samples(last seconds: Double, now: Double = Date().timeIntervalSince1970) -> [Sample] {
        samples.withLock { samples in samples.filter { $0.time >= now - seconds } }
    }
}
