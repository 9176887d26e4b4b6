import Dispatch

/// How the values of one pixel across the input frames become the master's value.
public enum CombineMethod: Sendable, Hashable {
    /// The median (the mean of the two middle values for an even count).
    case median
    /// The mean of the values left after iterative sigma clipping (``SigmaClip``).
    case sigmaClippedMean(SigmaClip)

    /// The method's name as requests and headers spell it: `median` or `sigma_clip`.
    public var name: String {
        switch self {
        case .median: "median"
        case .sigmaClippedMean: "sigma_clip"
        }
    }
}

/// Iterative sigma clipping, as astropy's `sigma_clip` does it with its defaults (`cenfunc`
/// median, `stdfunc` the population standard deviation): each round keeps the values within
/// `[median - kappaLow * std, median + kappaHigh * std]` of the values kept so far, until a round
/// rejects nothing or `iterations` rounds have run.
public struct SigmaClip: Sendable, Hashable {
    /// Rejection threshold below the median, in standard deviations.
    public var kappaLow: Double
    /// Rejection threshold above the median, in standard deviations.
    public var kappaHigh: Double
    /// The most clipping rounds.
    public var iterations: Int

    /// The thresholds a request may give.
    public static let kappaRange: ClosedRange<Double> = 0.1...100
    /// The rounds a request may ask for.
    public static let iterationRange: ClosedRange<Int> = 1...100

    /// Creates the parameters (checked by ``problem``).
    ///
    /// - Parameters:
    ///   - kappaLow: Threshold below the median (default 3).
    ///   - kappaHigh: Threshold above the median (default 3).
    ///   - iterations: The most rounds (default 5).
    public init(kappaLow: Double = 3, kappaHigh: Double = 3, iterations: Int = 5) {
        self.kappaLow = kappaLow
        self.kappaHigh = kappaHigh
        self.iterations = iterations
    }

    /// The first parameter out of its range, and why; `nil` when all are valid.
    public var problem: (field: String, message: String)? {
        for (field, value) in [("kappa_low", kappaLow), ("kappa_high", kappaHigh)]
        where !(value.isFinite && Self.kappaRange.contains(value)) {
            return (field, "\(value) is not a finite number from \(Self.kappaRange.lowerBound) to \(Self.kappaRange.upperBound)")
        }
        if !Self.iterationRange.contains(iterations) {
            return ("iterations", "\(iterations) is not from \(Self.iterationRange.lowerBound) to \(Self.iterationRange.upperBound)")
        }
        return nil
    }
}

/// A pixel type the combiner reads: the camera's 16-bit frames, or floats (normalised flats).
public protocol StackPixel: Sendable {
    /// The value as a float.
    var floatValue: Float { get }
}

extension UInt16: StackPixel {
    /// The value as a float (exact).
    @inline(__always) public var floatValue: Float { Float(self) }
}

extension Float: StackPixel {
    /// The value itself.
    @inline(__always) public var floatValue: Float { self }
}

/// Combines N frames of the same size pixel by pixel into one 32-bit float image.
///
/// Cache-friendly: the image is cut into runs of ``blockPixels`` pixels; for a run, the N
/// values of each pixel are gathered next to each other (a transpose of N short rows, which stay
/// in the cache), then each pixel's N values are sorted in place with an insertion sort (N is
/// small: tens) and the median or the clipped mean is read off the sorted values: after sorting,
/// the values a clipping round keeps are always one contiguous range, so each round only moves
/// two ends. Runs are independent: with `threads` > 1 they are spread over that many threads
/// (`DispatchQueue.concurrentPerform`), with 1 they run on the caller's thread.
///
/// Blocks: call it from a thread of its own, not from Swift's cooperative pool.
public enum StackCombiner {
    /// Pixels per run: 20 frames of 4-byte values are 160 KB, within a core's L2 cache.
    public static let blockPixels = 2048

    /// Combines frames.
    ///
    /// - Parameters:
    ///   - frames: N ≥ 1 buffers of `count` pixels each (the caller checks the sizes).
    ///   - count: Pixels per frame.
    ///   - method: Median or sigma-clipped mean.
    ///   - threads: How many threads share the work (1: the caller's only).
    /// - Returns: `count` values.
    public static func combine<Pixel: StackPixel>(
        _ frames: [UnsafeBufferPointer<Pixel>], count: Int, method: CombineMethod, threads: Int = 1
    ) -> [Float] {
        precondition(!frames.isEmpty && frames.allSatisfy { $0.count >= count }, "frames must hold count pixels each")
        let blocks = (count + blockPixels - 1) / blockPixels
        return [Float](unsafeUninitializedCapacity: count) { output, initialized in
            // Each worker writes its own blocks of the output and only reads the frames.
            nonisolated(unsafe) let destination = output.baseAddress!
            nonisolated(unsafe) let frames = frames
            let body = { @Sendable (worker: Int, workers: Int) in
                let depth = frames.count
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: blockPixels * depth)
                defer { scratch.deallocate() }
                var block = worker
                while block < blocks {
                    let start = block * blockPixels
                    let length = min(blockPixels, count - start)
                    gather(frames, start: start, length: length, into: scratch)
                    for pixel in 0..<length {
                        let values = scratch + pixel * depth
                        sort(values, depth)
                        destination[start + pixel] = reduce(values, depth, method)
                    }
                    block += workers
                }
            }
            let workers = max(1, min(threads, blocks))
            if workers == 1 {
                body(0, 1)
            } else {
                DispatchQueue.concurrentPerform(iterations: workers) { body($0, workers) }
            }
            initialized = count
        }
    }

    /// Copies pixels `start..<start+length` of every frame into `scratch`, pixel-major: the N
    /// values of pixel `p` at `scratch[p * N ..< (p + 1) * N]`.
    @inline(__always)
    static func gather<Pixel: StackPixel>(_ frames: [UnsafeBufferPointer<Pixel>], start: Int, length: Int,
                                          into scratch: UnsafeMutablePointer<Float>) {
        let depth = frames.count
        for (index, frame) in frames.enumerated() {
            let source = frame.baseAddress! + start
            var target = scratch + index
            for pixel in 0..<length {
                target.pointee = source[pixel].floatValue
                target += depth
            }
        }
    }

    /// Sorts `count` values ascending (insertion sort: the counts here are small).
    @inline(__always)
    static func sort(_ values: UnsafeMutablePointer<Float>, _ count: Int) {
        var index = 1
        while index < count {
            let value = values[index]
            var hole = index
            while hole > 0 && values[hole - 1] > value {
                values[hole] = values[hole - 1]
                hole -= 1
            }
            values[hole] = value
            index += 1
        }
    }

    /// The median of sorted values `lower..<upper`.
    @inline(__always)
    static func median(_ values: UnsafeMutablePointer<Float>, _ lower: Int, _ upper: Int) -> Float {
        let count = upper - lower
        let middle = lower + count / 2
        return count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2
    }

    /// The master's value from one pixel's sorted values.
    @inline(__always)
    static func reduce(_ values: UnsafeMutablePointer<Float>, _ count: Int, _ method: CombineMethod) -> Float {
        switch method {
        case .median:
            return median(values, 0, count)
        case .sigmaClippedMean(let clip):
            var lower = 0
            var upper = count
            var sum = 0.0
            var squares = 0.0
            for index in 0..<count {
                let value = Double(values[index])
                sum += value
                squares += value * value
            }
            var round = 0
            while round < clip.iterations && upper - lower > 1 {
                round += 1
                let kept = Double(upper - lower)
                let mean = sum / kept
                let std = (max(0, squares / kept - mean * mean)).squareRoot()
                let center = Double(median(values, lower, upper))
                let low = center - clip.kappaLow * std
                let high = center + clip.kappaHigh * std
                let before = (lower, upper)
                while lower < upper && Double(values[lower]) < low {
                    let value = Double(values[lower])
                    sum -= value
                    squares -= value * value
                    lower += 1
                }
                while upper > lower && Double(values[upper - 1]) > high {
                    let value = Double(values[upper - 1])
                    sum -= value
                    squares -= value * value
                    upper -= 1
                }
                if before == (lower, upper) { break }
            }
            // Nothing left (cannot happen with kappa > 0: the median is always kept): the median.
            guard upper > lower else { return median(values, 0, count) }
            return Float(sum / Double(upper - lower))
        }
    }

    /// The median of all values of one image (for normalising flats): exact, by selection on a copy.
    ///
    /// - Parameter pixels: The image.
    /// - Returns: The median (the mean of the two middle values for an even count); NaN for none.
    public static func median<Pixel: StackPixel>(of pixels: UnsafeBufferPointer<Pixel>) -> Float {
        guard !pixels.isEmpty else { return .nan }
        var values = pixels.map(\.floatValue)
        let count = values.count
        return values.withUnsafeMutableBufferPointer { buffer in
            let upper = select(buffer, count / 2)
            guard count % 2 == 0 else { return upper }
            // The largest value below the upper middle one: all of them sit left of it now.
            var lower = -Float.infinity
            for index in 0..<(count / 2) { lower = max(lower, buffer[index]) }
            return (lower + upper) / 2
        }
    }

    /// Quickselect: reorders `values` so that `values[k]` holds the value of rank `k`, smaller
    /// or equal ones before it, and returns it.
    static func select(_ values: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Float {
        var low = 0
        var high = values.count - 1
        while low < high {
            // Median of three as the pivot.
            let middle = low + (high - low) / 2
            if values[middle] < values[low] { values.swapAt(middle, low) }
            if values[high] < values[low] { values.swapAt(high, low) }
            if values[high] < values[middle] { values.swapAt(high, middle) }
            let pivot = values[middle]
            var i = low
            var j = high
            while i <= j {
                while values[i] < pivot { i += 1 }
                while values[j] > pivot { j -= 1 }
                if i <= j {
                    values.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                high = j
            } else if k >= i {
                low = i
            } else {
                break
            }
        }
        return values[k]
    }
}
