import FrameAnalysis
import Foundation
import Testing

/// The analyzer's memory: nothing allocated once warmed up, correct results when the size changes.
@Suite struct AllocationTests {
    func baseAddress(_ array: [Double]?) -> UnsafeRawPointer? {
        array?.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test func nothingIsAllocatedAfterTheFirstFrameOfASize() throws {
        let frames = try SimulatorFrames(size: 256)
        let pixels = try (0..<3).map { _ in try frames.take(exposure: 5) }
        var configuration = AnalysisConfiguration.everything
        configuration.centroidThreshold = 600
        configuration.signalROI = ROI(offsetX: 10, sizeX: 100, offsetY: 10, sizeY: 50)
        configuration.backgroundROI = ROI(offsetX: 10, sizeX: 100, offsetY: 100, sizeY: 50)
        let analyzer = FrameAnalyzer()
        var result = FrameAnalysis()
        try pixels[0].withUnsafeBufferPointer {
            try analyzer.analyze(pixels: $0, width: 256, height: 256, configuration: configuration, into: &result)
        }
        let warm = analyzer.bufferAllocations
        #expect(warm > 0)
        let profile = baseAddress(result.profileX)
        let signal = baseAddress(result.backgroundSubtractedSignal)
        let counts = result.histogram?.counts.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
        for index in [1, 2, 0, 1, 2] {
            try pixels[index].withUnsafeBufferPointer {
                try analyzer.analyze(pixels: $0, width: 256, height: 256, configuration: configuration, into: &result)
            }
            #expect(analyzer.bufferAllocations == warm)
            // The result's arrays are filled in place.
            #expect(baseAddress(result.profileX) == profile)
            #expect(baseAddress(result.backgroundSubtractedSignal) == signal)
            #expect(result.histogram?.counts.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) } == counts)
        }
        // The same frame gives the same result whatever came before it.
        let fresh = try analyze(pixels[2], width: 256, height: 256, configuration)
        try pixels[2].withUnsafeBufferPointer {
            try analyzer.analyze(pixels: $0, width: 256, height: 256, configuration: configuration, into: &result)
        }
        #expect(result == fresh)
    }

    @Test func changingSizesGivesTheSameResultsAsAFreshAnalyzer() throws {
        let analyzer = FrameAnalyzer()
        var random = TestRandom(state: 7)
        var configuration = AnalysisConfiguration.everything
        configuration.centroidThreshold = 20000
        for (width, height) in [(64, 48), (200, 10), (13, 77), (64, 48), (1, 1)] {
            let pixels = (0..<(width * height)).map { _ in UInt16(random.next(below: 65536)) }
            let reused = try analyze(pixels, width: width, height: height, configuration, analyzer: analyzer)
            let fresh = try analyze(pixels, width: width, height: height, configuration)
            #expect(reused == fresh, "\(width)x\(height)")
        }
    }
}
