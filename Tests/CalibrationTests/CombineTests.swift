import ApertureProtocol
import Bus
@testable import Calibration
import FITSStorage
import Foundation
import Testing

/// Combines small stacks whose answers are known, one pixel at a time.
@Suite struct CombineTests {
    /// Combines `stacks[pixel] = values across frames` and returns one value per pixel.
    func combine(_ stacks: [[UInt16]], _ method: CombineMethod, threads: Int = 1) -> [Float] {
        let depth = stacks[0].count
        let frames: [[UInt16]] = (0..<depth).map { frame in stacks.map { $0[frame] } }
        return withFrames(frames) { StackCombiner.combine($0, count: stacks.count, method: method, threads: threads) }
    }

    func withFrames<Result>(_ frames: [[UInt16]], _ body: ([UnsafeBufferPointer<UInt16>]) -> Result) -> Result {
        func nest(_ index: Int, _ done: [UnsafeBufferPointer<UInt16>]) -> Result {
            index == frames.count ? body(done) : frames[index].withUnsafeBufferPointer { nest(index + 1, done + [$0]) }
        }
        return nest(0, [])
    }

    @Test func medianOfOddAndEvenCountsIsExact() {
        #expect(combine([[5, 1, 9, 3, 7]], .median) == [5])
        // Even: the mean of the two middle values.
        #expect(combine([[10, 2, 8, 4]], .median) == [6])
        #expect(combine([[1, 2]], .median) == [1.5])
        // Many pixels, against a plain sort, across block boundaries and threads.
        var generator = SystemRandomNumberGenerator()
        let stacks = (0..<(StackCombiner.blockPixels * 2 + 17)).map { _ in (0..<10).map { _ in UInt16.random(in: 0...65535, using: &generator) } }
        let expected = stacks.map { values -> Float in
            let sorted = values.sorted().map(Float.init)
            return (sorted[4] + sorted[5]) / 2
        }
        #expect(combine(stacks, .median) == expected)
        #expect(combine(stacks, .median, threads: 3) == expected)
    }

    @Test func theSortingNetworkSortsEveryCount() {
        for depth in 1...40 {
            let stacks = (0..<19).map { _ in (0..<depth).map { _ in UInt16.random(in: 0...65535) } }
            let expected = stacks.map { values -> Float in
                let sorted = values.sorted().map(Float.init)
                return depth % 2 == 1 ? sorted[depth / 2] : (sorted[depth / 2 - 1] + sorted[depth / 2]) / 2
            }
            #expect(combine(stacks, .median) == expected, "\(depth) frames")
        }
    }

    @Test func sigmaClippingRejectsACosmicRay() {
        // Nine values near 1000 and one cosmic ray at 60000: the mean would be about 6900.
        let values: [UInt16] = [998, 1001, 1003, 999, 1000, 1002, 997, 1001, 1000, 60000]
        let clipped = combine([values], .sigmaClippedMean(SigmaClip()))
        let kept = values.dropLast().map(Double.init)
        #expect(abs(Double(clipped[0]) - kept.reduce(0, +) / 9) < 1e-3)
        // A low outlier too (a dead read), with a lower threshold only rejecting below.
        let low: [UInt16] = [1000, 1002, 998, 1001, 999, 1003, 997, 1000, 0, 1000]
        let lowClipped = combine([low], .sigmaClippedMean(SigmaClip(kappaLow: 3, kappaHigh: 3, iterations: 5)))
        #expect(abs(Double(lowClipped[0]) - 1000) < 0.5)
        // Nothing to reject: the plain mean.
        let flat: [UInt16] = [10, 12, 14, 16]
        #expect(combine([flat], .sigmaClippedMean(SigmaClip())) == [13])
    }

    @Test func sigmaClipParametersAreChecked() {
        #expect(SigmaClip().problem == nil)
        #expect(SigmaClip(kappaLow: .nan).problem?.field == "kappa_low")
        #expect(SigmaClip(kappaHigh: 0).problem?.field == "kappa_high")
        #expect(SigmaClip(iterations: 0).problem?.field == "iterations")
    }

    @Test func imageMedianIsExact() {
        let odd: [UInt16] = [9, 1, 5, 3, 7]
        #expect(odd.withUnsafeBufferPointer { StackCombiner.median(of: $0) } == 5)
        let even: [Float] = [4, 1, 3, 2]
        #expect(even.withUnsafeBufferPointer { StackCombiner.median(of: $0) } == 2.5)
        let many = (0..<10_001).map { _ in Float.random(in: -1000...1000) }
        #expect(many.withUnsafeBufferPointer { StackCombiner.median(of: $0) } == many.sorted()[5000])
    }
}

/// Masters written through FITSStorage and read back.
@Suite struct MasterBuilderTests {
    let folder = FileManager.default.temporaryDirectory.path + "/calibration-test-" + UUID().uuidString

    /// Writes frames with the camera's writer and returns their rows as the catalog would make them.
    func frames(_ type: String, count: Int, width: Int = 64, height: Int = 48, filter: String? = nil,
                exptime: Double = 10, pixel: (Int, Int) -> UInt16) throws -> [FrameRow] {
        try FileManager.default.createDirectory(atPath: folder + "/20261206", withIntermediateDirectories: true)
        return try (0..<count).map { index in
            let pixels = (0..<(width * height)).map { pixel(index, $0) }
            let path = "20261206/\(type.prefix(4).lowercased())-\(index + 1).fits"
            try pixels.withUnsafeBufferPointer { buffer in
                try FITSFile.write(pixels: buffer, width: width, height: height,
                                   cards: [FITSCard(keyword: "IMAGETYP", value: .string(type))], comments: [], to: folder + "/" + path)
            }
            var row = FrameRow(id: Int64(index + 1), path: path, bytes: 0, sha256: String(repeating: "ab", count: 32),
                               night: "2026-12-05", missing: false, added: "")
            row.imagetyp = type
            row.width = width
            row.height = height
            row.xbinning = 1
            row.ybinning = 1
            row.gain = "1x"
            row.readoutMode = "fast"
            row.exptime = exptime
            row.filter = filter
            row.ccdTemp = -20 + Double(index) * 0.1
            row.dateObs = "2026-12-06T01:00:0\(index).000"
            return row
        }
    }

    @Test func masterFlatIsNormalisedToMedianOne() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Flats of different levels (1000, 2000, 3000) with the same vignetting-like pattern:
        // each is divided by its median, so the master is the pattern over its median.
        var rows = try frames("Flat Field", count: 3, filter: "V") { index, pixel in
            UInt16(Double(1000 * (index + 1)) * (pixel % 2 == 0 ? 0.9 : 1.1))
        }
        // The camera that took the flats (issue 16): the master says so too.
        for index in rows.indices { (rows[index].site, rows[index].camera) = ("mro", "north") }
        try MasterBuilder.check(rows, kind: .flat)
        let saved = try MasterBuilder.build(.init(kind: .flat, method: .median, inputs: rows, paths: rows.map { folder + "/" + $0.path }),
                                            dataRoot: folder, threads: 2)
        #expect(saved.path.hasPrefix(folder + "/masters/MASTERFLAT-"))
        let master = try FITSFile.readFloat(path: saved.path)
        #expect(master.pixels.withUnsafeBufferPointer { StackCombiner.median(of: $0) } == 1)
        #expect(abs(Double(master.pixels[0]) - 0.9 / 1.0) < 1e-3)
        #expect(abs(Double(master.pixels[1]) - 1.1 / 1.0) < 1e-3)
        #expect(master.header["IMAGETYP"].flatMap(FITSFile.value(fromCardText:)) == .string("MASTERFLAT"))
        #expect(master.header["FILTER"].flatMap(FITSFile.value(fromCardText:)) == .string("V"))
        #expect(master.header["SITE"].flatMap(FITSFile.value(fromCardText:)) == .string("mro"))
        #expect(master.header["CAMERA"].flatMap(FITSFile.value(fromCardText:)) == .string("north"))
        #expect(master.header["BITPIX"] == "-32")
        #expect(master.header["NCOMBINE"] == "3")
        #expect(master.header["HISTORY"]?.split(separator: "\n").count == 3)
        #expect(try FITSFile.verifyChecksums(path: saved.path) == (1, 1))
    }

    @Test func aCrashedSavesTemporaryIsRemovedAndFinalFilesKept() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let rows = try frames("Bias Frame", count: 2) { index, pixel in UInt16(500 + index + pixel % 3) }
        let saved = try MasterBuilder.build(.init(kind: .bias, method: .median, inputs: rows, paths: rows.map { folder + "/" + $0.path }),
                                            dataRoot: folder, threads: 1)
        let masters = folder + "/" + MasterBuilder.folder
        // A dead writer's temporary (pid 2^31 - 2 does not exist) and a live one's (this process).
        let dead = masters + "/.MASTERBIAS-20261206-0002.fits.tmp-2147483646-ab12"
        let live = masters + "/.MASTERBIAS-20261206-0003.fits.tmp-\(getpid())-cd34"
        for path in [dead, live] { #expect(FileManager.default.createFile(atPath: path, contents: Data([1, 2, 3]))) }
        let removed = FrameStore(root: masters, prefix: "MASTER").removeStaleFloatTemporaries()
        #expect(removed == [dead])
        #expect(FileManager.default.fileExists(atPath: live) && FileManager.default.fileExists(atPath: saved.path))
    }

    @Test func inputsThatDisagreeAreRefusedNamingThem() throws {
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var rows = try frames("Dark Frame", count: 3) { _, _ in 500 }
        rows[2].exptime = 30
        #expect(throws: BusError.self) { try MasterBuilder.check(rows, kind: .dark) }
        do {
            try MasterBuilder.check(rows, kind: .dark)
        } catch {
            #expect(error.field == "frames")
            #expect(error.message.contains("exposure times differ: 10 s (ids 1, 2), 30 s (id 3)"))
        }
        rows[2].exptime = 10
        rows[1].imagetyp = "Light Frame"
        do {
            try MasterBuilder.check(rows, kind: .dark)
            Issue.record("a light frame was taken for a dark")
        } catch {
            #expect(error.message.contains("id 2 are not 'Dark Frame' frames (Light Frame)"))
        }
        // Two cameras' darks never make one master; a row older than CAMERA names none and passes.
        rows[1].imagetyp = "Dark Frame"
        (rows[0].site, rows[0].camera) = ("mro", "north")
        (rows[1].site, rows[1].camera) = ("mro", "south")
        do {
            try MasterBuilder.check(rows, kind: .dark)
            Issue.record("two cameras' frames were combined")
        } catch {
            #expect(error.field == "frames")
            #expect(error.message.contains("the frames come from 2 cameras (mro/north, mro/south)"), "\(error.message)")
        }
        rows[1].camera = "north"
        #expect(throws: Never.self) { try MasterBuilder.check(rows, kind: .dark) }
        do {
            try MasterBuilder.check(Array(rows.prefix(1)), kind: .dark)
            Issue.record("one frame was taken for a master")
        } catch {
            #expect(error.code == .insufficientData)
        }
    }
}
