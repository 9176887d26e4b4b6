import FrameAnalysis
import Foundation
import Testing

/// psen_processing's ROIs: validation, JSON forms, profiles and the background-subtracted signal.
@Suite struct ROITests {
    /// The validation table: psen's list as it arrives, against a 1024x768 image.
    @Test(arguments: [
        (nil, nil),
        ([], nil),
        ([1, 2, 3], "roi_signal: ROI must have exactly 4 elements [offset_x, size_x, offset_y, size_y] (or null or [] to disable), got 3"),
        ([1, 2, 3, 4, 5], "roi_signal: ROI must have exactly 4 elements [offset_x, size_x, offset_y, size_y] (or null or [] to disable), got 5"),
        ([-1, 10, 0, 10], "roi_signal: ROI offsets (first and third elements) must be positive or zero: offset_x is -1 in [-1, 10, 0, 10]"),
        ([0, 10, -2, 10], "roi_signal: ROI offsets (first and third elements) must be positive or zero: offset_y is -2 in [0, 10, -2, 10]"),
        ([0, 0, 0, 10], "roi_signal: ROI sizes (second and fourth elements) must be at least 1: size_x is 0 in [0, 0, 0, 10]"),
        ([0, 10, 0, -3], "roi_signal: ROI sizes (second and fourth elements) must be at least 1: size_y is -3 in [0, 10, 0, -3]"),
        ([1000, 100, 0, 10], "roi_signal: offset_x + size_x = 1100 exceeds the image width 1024"),
        ([0, 10, 700, 69], "roi_signal: offset_y + size_y = 769 exceeds the image height 768"),
        ([Int.max, 1, 0, 1], "roi_signal: offset_x + size_x = 9223372036854775807 + 1 exceeds the image width 1024"),
        ([0, 1024, 0, 768], nil),
        ([1023, 1, 767, 1], nil),
    ] as [([Int]?, String?)])
    func validationTable(list: [Int]?, problem: String?) {
        let roi: ROI?
        do {
            roi = try ROI.parse(list, field: "roi_signal")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message == problem)
            return
        }
        let found = roi?.validate(width: 1024, height: 768, field: "roi_signal")
        #expect(found == problem)
        if list == nil || list == [] { #expect(roi == nil) }
    }

    @Test func validateChecksTheFormOfAnROIMadeDirectly() {
        #expect(ROI(offsetX: -1, sizeX: 1, offsetY: 0, sizeY: 1).validate(width: 10, height: 10) == "roi: ROI offsets (first and third elements) must be positive or zero: offset_x is -1 in [-1, 1, 0, 1]")
        #expect(ROI(offsetX: 0, sizeX: 10, offsetY: 0, sizeY: 10).validate(width: 10, height: 10) == nil)
    }

    @Test(arguments: [
        ("null", nil, true),
        ("[]", nil, true),
        ("[1, 2, 3, 4]", [1, 2, 3, 4], true),
        ("[1, 2, 3]", nil, false),
        ("[1.5, 2, 3, 4]", nil, false),
        ("\"[1, 2, 3, 4]\"", nil, false),
        ("{\"offset_x\": 1}", nil, false),
        ("12", nil, false),
        ("", nil, false),
    ] as [(String, [Int]?, Bool)])
    func requestBodies(body: String, expected: [Int]?, accepted: Bool) {
        do {
            let roi = try ROI.parse(json: Data(body.utf8), field: "roi_background")
            #expect(accepted, "\(body) was accepted")
            #expect(roi?.array == expected)
        } catch {
            #expect(!accepted, "\(body) was refused: \(error)")
            #expect(error.code == .invalidArgument)
            #expect(error.message.hasPrefix("roi_background: "))
        }
    }

    @Test func codableAsTheFourElementList() throws {
        let roi = ROI(offsetX: 1, sizeX: 2, offsetY: 3, sizeY: 4)
        #expect(String(decoding: try JSONEncoder().encode(roi), as: UTF8.self) == "[1,2,3,4]")
        #expect(try JSONDecoder().decode(ROI.self, from: Data("[1,2,3,4]".utf8)) == roi)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ROI.self, from: Data("[1,0,3,4]".utf8)) }
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(ROI.self, from: Data("[]".utf8)) }
    }

    /// An 8x6 frame: rows 0-1 are background, `100 + x`; rows 2-5 the same plus a line of 50 in
    /// column 3. Signal ROI: rows 2-5 (4 rows); background ROI: rows 0-1 (2 rows).
    func lineFrame() -> [UInt16] {
        (0..<48).map { index in
            let x = index % 8, y = index / 8
            return UInt16(100 + x + (y >= 2 && x == 3 ? 50 : 0))
        }
    }

    @Test func signalProfileMinusTheBackgroundScaledToTheSignalRows() throws {
        var configuration = AnalysisConfiguration()
        configuration.signalROI = ROI(offsetX: 0, sizeX: 8, offsetY: 2, sizeY: 4)
        configuration.backgroundROI = ROI(offsetX: 0, sizeX: 8, offsetY: 0, sizeY: 2)
        let result = try analyze(lineFrame(), width: 8, height: 6, configuration)
        let signal: [Double] = (0..<8).map { (x: Int) -> Double in Double(4 * (100 + x) + (x == 3 ? 200 : 0)) }
        let background: [Double] = (0..<8).map { (x: Int) -> Double in Double(2 * (100 + x)) }
        #expect(result.roiSignalXProfile == signal)
        #expect(result.roiBackgroundXProfile == background)
        // signal - background * 4 / 2: only the line is left, 4 rows of 50.
        #expect(result.backgroundSubtractedSignal == [0, 0, 0, 200, 0, 0, 0, 0])
        #expect(result.roiErrors.isEmpty)

        // Equal heights: psen's plain difference.
        configuration.signalROI = ROI(offsetX: 2, sizeX: 3, offsetY: 4, sizeY: 2)
        configuration.backgroundROI = ROI(offsetX: 2, sizeX: 3, offsetY: 0, sizeY: 2)
        let equal = try analyze(lineFrame(), width: 8, height: 6, configuration)
        #expect(equal.roiSignalXProfile == [204, 306, 208])
        #expect(equal.backgroundSubtractedSignal == [0, 100, 0])
    }

    @Test func roisThatDoNotFitTheFrameAreReportedNotThrown() throws {
        var configuration = AnalysisConfiguration()
        configuration.signalROI = ROI(offsetX: 0, sizeX: 8, offsetY: 2, sizeY: 5)  // 7 rows > 6
        configuration.backgroundROI = ROI(offsetX: 0, sizeX: 8, offsetY: 0, sizeY: 2)
        let result = try analyze(lineFrame(), width: 8, height: 6, configuration)
        #expect(result.roiErrors == ["roi_signal: offset_y + size_y = 7 exceeds the image height 6"])
        #expect(result.roiSignalXProfile == nil)
        #expect(result.backgroundSubtractedSignal == nil)
        #expect(result.roiBackgroundXProfile?.count == 8)
        #expect(result.total != nil)  // the statistics are still computed

        configuration.signalROI = ROI(offsetX: 0, sizeX: 4, offsetY: 2, sizeY: 4)
        let mismatched = try analyze(lineFrame(), width: 8, height: 6, configuration)
        #expect(mismatched.roiErrors == ["roi_background: size_x 8 differs from roi_signal's 4: no background-subtracted signal"])
        #expect(mismatched.roiSignalXProfile?.count == 4)
        #expect(mismatched.backgroundSubtractedSignal == nil)

        #expect(throws: AnalysisError(.invalidArgument, "roi_signal: offset_y + size_y = 7 exceeds the image height 6", field: "roi_signal")) {
            var tooLow = configuration
            tooLow.signalROI = ROI(offsetX: 0, sizeX: 8, offsetY: 2, sizeY: 5)
            try tooLow.validate(width: 8, height: 6)
        }
    }

    @Test func anROIChangeTakesEffectOnTheNextFrame() throws {
        let analyzer = FrameAnalyzer()
        var configuration = AnalysisConfiguration()
        configuration.signalROI = ROI(offsetX: 0, sizeX: 2, offsetY: 0, sizeY: 1)
        let first = try analyze(lineFrame(), width: 8, height: 6, configuration, analyzer: analyzer)
        #expect(first.roiSignalXProfile == [100, 101])
        configuration.signalROI = ROI(offsetX: 3, sizeX: 1, offsetY: 2, sizeY: 4)
        let second = try analyze(lineFrame(), width: 8, height: 6, configuration, analyzer: analyzer)
        #expect(second.roiSignalXProfile == [612])
        configuration.signalROI = nil
        let third = try analyze(lineFrame(), width: 8, height: 6, configuration, analyzer: analyzer)
        #expect(third.roiSignalXProfile == nil)
    }
}
