import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Readings of the clocks a benchmark times itself with.
public enum Timing {
    /// `CLOCK_MONOTONIC` in nanoseconds: cheap enough to time one round trip.
    @inline(__always)
    public static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }

    /// `CLOCK_MONOTONIC` in seconds.
    public static func seconds() -> Double {
        Double(nanoseconds()) / 1e9
    }

    /// CPU time of the calling thread in seconds (`CLOCK_THREAD_CPUTIME_ID`).
    public static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
    }

    /// Runs `body` and returns the seconds it took (`CLOCK_MONOTONIC`).
    public static func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = nanoseconds()
        try body()
        return Double(nanoseconds() - start) / 1e9
    }
}

extension Duration {
    /// The duration in milliseconds.
    public var milliseconds: Double {
        Double(components.seconds) * 1e3 + Double(components.attoseconds) * 1e-15
    }
}

/// What the whole process used (every thread: the benchmark's, the libraries'), from
/// `getrusage(RUSAGE_SELF)`; the difference of two readings is what happened in between.
public struct ResourceUsage: Sendable {
    /// User plus system CPU time, in nanoseconds.
    public var cpuNanoseconds: UInt64 = 0
    /// Voluntary plus involuntary context switches.
    public var contextSwitches: Int = 0

    public init(cpuNanoseconds: UInt64 = 0, contextSwitches: Int = 0) {
        self.cpuNanoseconds = cpuNanoseconds
        self.contextSwitches = contextSwitches
    }

    /// User plus system CPU time, in seconds.
    public var cpuSeconds: Double { Double(cpuNanoseconds) / 1e9 }

    /// The process's usage so far.
    public static func now() -> ResourceUsage {
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        func nanoseconds(_ t: timeval) -> UInt64 { UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_usec) * 1_000 }
        return ResourceUsage(cpuNanoseconds: nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime),
                             contextSwitches: usage.ru_nvcsw + usage.ru_nivcsw)
    }

    public static func - (a: ResourceUsage, b: ResourceUsage) -> ResourceUsage {
        ResourceUsage(cpuNanoseconds: a.cpuNanoseconds - b.cpuNanoseconds,
                      contextSwitches: a.contextSwitches - b.contextSwitches)
    }

    public static func += (a: inout ResourceUsage, b: ResourceUsage) {
        a.cpuNanoseconds += b.cpuNanoseconds
        a.contextSwitches += b.contextSwitches
    }
}
