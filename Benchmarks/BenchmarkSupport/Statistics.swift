/// The order statistics of a set of measurements: percentiles by nearest rank, the median,
/// the mean and the extremes. Every benchmark summarises its samples with this one type.
public struct Distribution: Sendable {
    /// The samples, smallest first.
    public let sorted: [Double]

    /// - Parameter samples: the measurements, in any order and any unit.
    public init(_ samples: some Sequence<Double>) {
        sorted = samples.sorted()
    }

    /// How many samples there are.
    public var count: Int { sorted.count }

    /// The nearest-rank percentile: the smallest sample with at least the fraction `p` of the
    /// samples at or below it (`p` in 0...1); NaN when there are no samples.
    public func percentile(_ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Swift.max(1, Int((p * Double(sorted.count)).rounded(.up)))
        return sorted[Swift.min(sorted.count, rank) - 1]
    }

    /// The 50th percentile by nearest rank (a sample; ``median`` averages the middle two).
    public var p50: Double { percentile(0.50) }
    /// The 90th percentile by nearest rank.
    public var p90: Double { percentile(0.90) }
    /// The 99th percentile by nearest rank.
    public var p99: Double { percentile(0.99) }

    /// The middle sample, or the mean of the middle two; NaN when there are no samples.
    public var median: Double {
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The arithmetic mean; NaN when there are no samples.
    public var mean: Double { sorted.isEmpty ? .nan : sorted.reduce(0, +) / Double(sorted.count) }
    /// The smallest sample; NaN when there are none.
    public var min: Double { sorted.first ?? .nan }
    /// The largest sample; NaN when there are none.
    public var max: Double { sorted.last ?? .nan }
}
