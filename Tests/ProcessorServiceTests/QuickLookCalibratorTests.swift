import ApertureProtocol
import Bus
import FITSStorage
import Foundation
@testable import ProcessorService
import Testing

/// The calibrated quick look's parts: the arithmetic, and the answers when the catalog or the
/// frame's file cannot be had.
@Suite struct QuickLookCalibratorTests {
    @Test func aDarkIsSubtractedAndAFlatDividedWithThePedestal() {
        let width = 4, height = 2
        let dark = QuickLookCalibrator.Master(path: "masters/MASTERDARK-20261206-0001.fits", width: width, height: height,
                                              pixels: [500, 510, 520, 530, 500, 500, 500, 500])
        let flat = QuickLookCalibrator.Master(path: "masters/MASTERFLAT-20261206-0001.fits", width: width, height: height,
                                              pixels: [1, 2, 0.5, 1, 1, 1, 0, 1])
        let raw: [UInt16] = [600, 710, 570, 530, 0, 65535, 700, 400]
        var output = [UInt16](repeating: 0, count: raw.count)
        let plan = QuickLookCalibrator.Plan(bias: nil, dark: dark, flat: flat, reasons: [])
        let applied = raw.withUnsafeBufferPointer { pixels in
            output.withUnsafeMutableBufferPointer { QuickLookCalibrator.apply(plan, to: pixels, width: width, height: height, into: $0) }
        }
        // (raw - dark) / flat + 1000; a flat of 0 is left out; clipped to 0...65535.
        #expect(output == [1100, 1100, 1100, 1000, 500, 65535, 1200, 900])
        #expect(applied.applied && applied.dark == dark.path && applied.flat == flat.path && applied.bias == nil)
        #expect(applied.pedestal == 1000)

        // A master of another size is not applied, and says so.
        let small = QuickLookCalibrator.Plan(bias: QuickLookCalibrator.Master(path: "masters/b.fits", width: 2, height: 2,
                                                                               pixels: [0, 0, 0, 0]), reasons: [])
        let skipped = raw.withUnsafeBufferPointer { pixels in
            output.withUnsafeMutableBufferPointer { QuickLookCalibrator.apply(small, to: pixels, width: width, height: height, into: $0) }
        }
        #expect(!skipped.applied && skipped.reasons == ["uncalibrated: master bias masters/b.fits is 2x2, the frame 4x2"])
    }

    @Test func aCatalogThatDoesNotAnswerGivesCatalogUnavailable() async throws {
        let folder = "/tmp/aperture-quicklook-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let runtime = try RuntimeDirectory.prepare(folder)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // A saved frame with the cards the match needs.
        let path = folder + "/image-0001.fits"
        let pixels = [UInt16](repeating: 500, count: 64)
        try pixels.withUnsafeBufferPointer { buffer in
            try FITSFile.write(pixels: buffer, width: 8, height: 8, cards: [
                FITSCard(keyword: "GAIN", value: .string("1x")), FITSCard(keyword: "READOUTM", value: .string("fast")),
                FITSCard(keyword: "CCD-TEMP", value: .double(-20)),
            ], comments: [], to: path)
        }
        // catalog.ctl of a runtime directory where no catalog listens.
        let calibrator = QuickLookCalibrator(catalog: try RequestClient(dialing: runtime.endpoint(EndpointName.catalogControl)),
                                             dataRoot: folder)
        let metadata = FrameMetadata(exposureId: "e1", frameNumber: 1, width: 8, height: 8, exposureTime: 30)
        let unknown = await calibrator.plan(for: metadata)
        #expect(unknown.reasons == ["uncalibrated: the frame's file is unknown (its camera.frame notice did not arrive)"])
        calibrator.noted(FrameNotice(exposureId: "e1", frame: 1, count: 1, sequence: 1, width: 8, height: 8, preview: false,
                                     path: path, bytes: 2880 * 2))
        let plan = await calibrator.plan(for: metadata)
        #expect(plan.reasons == ["uncalibrated: catalog unavailable"])
        #expect(plan.subtracted == nil && plan.flat == nil)
        // The frame is still analysed, raw: nothing applied, and the result says why.
        let frame = [UInt16](repeating: 700, count: 64)
        var output = [UInt16](repeating: 0, count: 64)
        let applied = frame.withUnsafeBufferPointer { raw in
            output.withUnsafeMutableBufferPointer { QuickLookCalibrator.apply(plan, to: raw, width: 8, height: 8, into: $0) }
        }
        #expect(!applied.applied && applied.reasons == ["uncalibrated: catalog unavailable"] && applied.pedestal == 0)
    }
}
