/// A growable buffer of trivial values that is never shrunk: it reallocates only when a frame
/// needs more than it holds, and counts each allocation in the owner's counter.
struct ScratchBuffer<Element> {
    private(set) var base: UnsafeMutablePointer<Element>?
    private(set) var capacity = 0

    /// Makes room for `count` elements (contents are not kept when it grows).
    /// - Parameters:
    ///   - count: the elements needed.
    ///   - allocations: incremented when memory is allocated.
    /// - Returns: the buffer's start, valid until the next growth or ``release()``.
    mutating func reserve(_ count: Int, allocations: inout Int) -> UnsafeMutablePointer<Element> {
        if let base, capacity >= count { return base }
        base?.deallocate()
        let size = max(count, 1)
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: size)
        base = fresh
        capacity = size
        allocations += 1
        return fresh
    }

    /// Makes room for `count` elements, zero-filled when the memory is new (for buffers kept
    /// zero between uses).
    mutating func reserveZeroed(_ count: Int, allocations: inout Int) -> UnsafeMutablePointer<Element>
        where Element: FixedWidthInteger
    {
        let before = allocations
        let pointer = reserve(count, allocations: &allocations)
        if allocations != before { pointer.initialize(repeating: 0, count: capacity) }
        return pointer
    }

    /// Doubles the capacity, keeping the first `count` elements.
    mutating func grow(keeping count: Int, allocations: inout Int) -> UnsafeMutablePointer<Element> {
        let size = max(2 * capacity, 16)
        let fresh = UnsafeMutablePointer<Element>.allocate(capacity: size)
        if let base {
            fresh.moveInitialize(from: base, count: count)
            base.deallocate()
        }
        base = fresh
        capacity = size
        allocations += 1
        return fresh
    }

    /// Frees the memory.
    mutating func release() {
        base?.deallocate()
        base = nil
        capacity = 0
    }
}

/// Fills an optional result array in place when it already has `count` elements (and is not
/// shared), so that a result reused frame after frame allocates nothing.
@inline(__always)
func fillInPlace<Element: Numeric>(_ array: inout [Element]?, count: Int,
                                   _ body: (UnsafeMutableBufferPointer<Element>) -> Void) {
    if array?.count != count {
        array = [Element](repeating: 0, count: count)
    }
    array!.withUnsafeMutableBufferPointer { body($0) }
}

/// Sorting and selection in place, without the temporary buffers of the standard library's sort.
/// The selection is generic over floating point and inlinable, so that the frame analysis
/// (Double) and the master combine (Float, in Calibration) run the same specialised code.
package enum InPlace {
    /// Sorts `buffer` by `isBefore` (heapsort: no allocation, O(n log n)).
    static func sort<Element>(_ buffer: UnsafeMutableBufferPointer<Element>, by isBefore: (Element, Element) -> Bool) {
        let count = buffer.count
        guard count > 1 else { return }
        func siftDown(_ start: Int, _ end: Int) {
            var root = start
            while true {
                var child = 2 * root + 1
                if child >= end { return }
                if child + 1 < end && isBefore(buffer[child], buffer[child + 1]) { child += 1 }
                if !isBefore(buffer[root], buffer[child]) { return }
                buffer.swapAt(root, child)
                root = child
            }
        }
        var start = count / 2 - 1
        while start >= 0 {
            siftDown(start, count)
            start -= 1
        }
        var end = count - 1
        while end > 0 {
            buffer.swapAt(0, end)
            siftDown(0, end)
            end -= 1
        }
    }

    /// The median of `buffer` (the mean of the two middle values for an even count), reordering
    /// it; nil when empty.
    @inlinable
    package static func median<Value: BinaryFloatingPoint>(_ buffer: UnsafeMutableBufferPointer<Value>) -> Value? {
        let count = buffer.count
        guard count > 0 else { return nil }
        let upper = select(buffer, rank: count / 2)
        guard count % 2 == 0 else { return upper }
        // The lower middle is the largest value left of the upper one after the selection.
        var lower = buffer[0]
        for index in 1..<(count / 2) where buffer[index] > lower { lower = buffer[index] }
        return (lower + upper) / 2
    }

    /// Reorders `buffer` so that `buffer[rank]` holds the value of that rank in sorted order,
    /// smaller or equal values before it and larger or equal after (Hoare's quickselect with a
    /// median-of-three pivot).
    @inlinable
    package static func select<Value: BinaryFloatingPoint>(_ buffer: UnsafeMutableBufferPointer<Value>, rank: Int) -> Value {
        var low = 0
        var high = buffer.count - 1
        while high > low {
            let middle = low + (high - low) / 2
            if buffer[middle] < buffer[low] { buffer.swapAt(middle, low) }
            if buffer[high] < buffer[low] { buffer.swapAt(high, low) }
            if buffer[high] < buffer[middle] { buffer.swapAt(high, middle) }
            let pivot = buffer[middle]
            var i = low
            var j = high
            while i <= j {
                while buffer[i] < pivot { i += 1 }
                while buffer[j] > pivot { j -= 1 }
                if i <= j {
                    buffer.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if rank <= j {
                high = j
            } else if rank >= i {
                low = i
            } else {
                break
            }
        }
        return buffer[rank]
    }
}
