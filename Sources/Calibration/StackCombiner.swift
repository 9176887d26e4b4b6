import Dispatch
import FrameAnalysis

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
    /// Eight values from `pointer` on, as floats.
    static func load8(_ pointer: UnsafePointer<Self>) -> SIMD8<Float>
    /// The value as a float.
    var floatValue: Float { get }
}

extension UInt16: StackPixel {
    /// Eight values from `pointer` on, as floats (exact).
    @inline(__always) public static func load8(_ pointer: UnsafePointer<UInt16>) -> SIMD8<Float> {
        var values = SIMD8<Float>()
        for lane in 0..<8 { values[lane] = Float(pointer[lane]) }
        return values
    }

    /// The value as a float (exact).
    @inline(__always) public var floatValue: Float { Float(self) }
}

extension Float: StackPixel {
    /// Eight values from `pointer` on.
    @inline(__always) public static func load8(_ pointer: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(pointer).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// The value itself.
    @inline(__always) public var floatValue: Float { self }
}

/// Combines N frames of the same size pixel by pixel into one 32-bit float image.
///
/// Eight pixels at a time: the N values of eight neighbouring pixels are loaded as N vectors
/// (one per frame: contiguous loads, no transpose) and sorted lane by lane by a sorting network
/// (Batcher's merge exchange, Knuth's Algorithm 5.2.2M, built once for N; each comparator is a
/// vector min and max, with no branch), so each comparator orders eight pixels' values at once.
/// The median is then the middle vector (the mean of the two middle ones for an even N); for
/// the clipped mean, each pixel's sorted values are read off and clipped: after sorting, the
/// values a clipping round keeps are always one contiguous range, so a round only moves two
/// ends. Pixels are cut into runs of ``blockPixels``; with `threads` > 1 the runs are spread
/// over that many threads (`DispatchQueue.concurrentPerform`), with 1 they run on the caller's.
///
/// Blocks: call it from a thread of its own, not from Swift's cooperative pool.
public enum StackCombiner {
    /// Pixels per run handed to one thread at a time.
    public static let blockPixels = 4096

    /// Combines frames.
    ///
    /// - Parameters:
    ///   - frames: N ≥ 1 buffers of `count` pixels each (the caller checks the sizes).
    ///   - count: Pixels per frame.
    ///   - method: Median or sigma-clipped mean.
    ///   - threads: How many threads share the work (1: the caller's only).
    /// - Returns: `count` values.
    public static func combine(
        _ frames: [UnsafeBufferPointer<UInt16>], count: Int, method: CombineMethod, threads: Int = 1
    ) -> [Float] {
        combineStack(frames, count: count, method: method, threads: threads)
    }

    /// Combines float frames (normalised flats), as the 16-bit one.
    ///
    /// - Parameters:
    ///   - frames: N ≥ 1 buffers of `count` pixels each.
    ///   - count: Pixels per frame.
    ///   - method: Median or sigma-clipped mean.
    ///   - threads: How many threads share the work.
    /// - Returns: `count` values.
    public static func combine(
        _ frames: [UnsafeBufferPointer<Float>], count: Int, method: CombineMethod, threads: Int = 1
    ) -> [Float] {
        combineStack(frames, count: count, method: method, threads: threads)
    }

    /// The combine, specialised in this module for each pixel type (the public entry points are
    /// concrete so that callers in other modules never run the generic code).
    static func combineStack<Pixel: StackPixel>(
        _ frames: [UnsafeBufferPointer<Pixel>], count: Int, method: CombineMethod, threads: Int
    ) -> [Float] {
        precondition(!frames.isEmpty && frames.allSatisfy { $0.count >= count }, "frames must hold count pixels each")
        let blocks = (count + blockPixels - 1) / blockPixels
        let comparators = network(frames.count)
        return [Float](unsafeUninitializedCapacity: count) { output, initialized in
            // Each worker writes its own blocks of the output and only reads the frames.
            nonisolated(unsafe) let destination = output.baseAddress!
            nonisolated(unsafe) let frames = frames
            let body = { @Sendable (worker: Int, workers: Int) in
                let depth = frames.count
                let vectors = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: depth)
                let values = UnsafeMutablePointer<Float>.allocate(capacity: depth)
                let tail = UnsafeMutablePointer<Pixel>.allocate(capacity: 8)
                defer {
                    vectors.deallocate()
                    values.deallocate()
                    tail.deallocate()
                }
                var block = worker
                while block < blocks {
                    let end = min(count, (block + 1) * blockPixels)
                    var pixel = block * blockPixels
                    while pixel < end {
                        let lanes = min(8, end - pixel)
                        for (index, frame) in frames.enumerated() {
                            if lanes == 8 {
                                vectors[index] = Pixel.load8(frame.baseAddress! + pixel)
                            } else {
                                // The last pixels: the rest of the lanes repeat the first one.
                                for lane in 0..<8 { tail[lane] = frame[pixel + min(lane, lanes - 1)] }
                                vectors[index] = Pixel.load8(tail)
                            }
                        }
                        sort(vectors, comparators)
                        let target = destination + pixel
                        switch method {
                        case .median:
                            let middle = depth / 2
                            let median = depth % 2 == 1 ? vectors[middle] : (vectors[middle - 1] + vectors[middle]) * 0.5
                            for lane in 0..<lanes { target[lane] = median[lane] }
                        case .sigmaClippedMean:
                            for lane in 0..<lanes {
                                for index in 0..<depth { values[index] = vectors[index][lane] }
                                target[lane] = reduce(values, depth, method)
                            }
                        }
                        pixel += lanes
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

    /// The comparators of a sorting network for `count` values (Batcher's merge exchange, Knuth's
    /// Algorithm 5.2.2M): after applying each `(i, j)` (i < j) as "put the smaller at i", in
    /// order, any `count` values are sorted.
    static func network(_ count: Int) -> [(Int, Int)] {
        guard count > 1 else { return [] }
        var t = 0
        while 1 << t < count { t += 1 }
        var comparators: [(Int, Int)] = []
        var p = 1 << (t - 1)
        while p > 0 {
            var q = 1 << (t - 1)
            var r = 0
            var d = p
            while true {
                for i in 0..<(count - d) where i & p == r {
                    comparators.append((i, i + d))
                }
                guard q != p else { break }
                d = q - p
                q >>= 1
                r = p
            }
            p >>= 1
        }
        return comparators
    }

    /// Sorts the vectors lane by lane with the network's comparators.
    @inline(__always)
    static func sort(_ vectors: UnsafeMutablePointer<SIMD8<Float>>, _ comparators: [(Int, Int)]) {
        comparators.withUnsafeBufferPointer { pairs in
            for (i, j) in pairs {
                let a = vectors[i]
                let b = vectors[j]
                // Lane by lane (the loops become one vector min and max; the standard library's
                // generic pointwiseMin was several times slower when measured).
                var low = a
                var high = b
                for lane in 0..<8 {
                    low[lane] = Swift.min(a[lane], b[lane])
                    high[lane] = Swift.max(a[lane], b[lane])
                }
                vectors[i] = low
                vectors[j] = high
            }
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
        return values.withUnsafeMutableBufferPointer { InPlace.median($0) } ?? .nan
    }
}
