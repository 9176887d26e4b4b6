/// The four frames the frame-ring writer copies in turn (`aperture-ring-peer`) and the
/// benchmark's memcpy case copies too: different bytes from one frame to the next, as a
/// camera's are.
public func sourceFrames(width: Int, height: Int) -> [[UInt16]] {
    (0..<4).map { k in
        (0..<(width * height)).map { UInt16(truncatingIfNeeded: $0 &* 31 &+ k &* 1009) }
    }
}
