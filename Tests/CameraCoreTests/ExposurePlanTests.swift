import ApertureProtocol
import Bus
import CameraCore
import Testing

/// Request validation: bad input gets `invalid_argument` naming the field.
@Suite struct ExposurePlanTests {
    let info = CameraInfo(model: "test", width: 1024, height: 1024, pixelWidth: 13, pixelHeight: 13,
                          minimumSetpoint: -80, maximumSetpoint: 20, maximumBinX: 4, maximumBinY: 4,
                          readoutModes: ["fast", "slow"], gains: ["1x", "2x"], hasShutter: true,
                          minimumExposure: 0, maximumExposure: 3600, electronsPerADU: 1)
    let filters = ["Ha", "B", "V"]

    func refusal(_ request: ExposureRequest, maximum: Double = 600) -> CameraError? {
        do {
            _ = try request.plan(info: info, maximumExposure: maximum, filters: filters)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultsCoverTheWholeSensorUnbinned() throws {
        let plan = try ExposureRequest(type: .object, time: 2).plan(info: info, maximumExposure: 600, filters: filters)
        #expect(plan.settings.subframe == Subframe(x: 0, y: 0, width: 1024, height: 1024))
        #expect(plan.settings.shutter == .auto)
        #expect(plan.mode == .single)
        #expect(plan.count == 1)
    }

    @Test func biasAndDarkCloseTheShutterAndBiasIsZeroSeconds() throws {
        let bias = try ExposureRequest(type: .bias, time: 5).plan(info: info, maximumExposure: 600, filters: filters)
        #expect(bias.settings.shutter == .closed)
        #expect(bias.settings.exposureTime == 0)
        let dark = try ExposureRequest(type: .dark, time: 5).plan(info: info, maximumExposure: 600, filters: filters)
        #expect(dark.settings.shutter == .closed)
        #expect(dark.settings.exposureTime == 5)
    }

    @Test func aCountAboveOneIsASeriesAndFilterNamesAreCanonical() throws {
        let plan = try ExposureRequest(type: .flat, time: 1, count: 3, filter: "ha")
            .plan(info: info, maximumExposure: 600, filters: filters)
        #expect(plan.mode == .series)
        #expect(plan.count == 3)
        #expect(plan.filter == "Ha")
    }

    @Test func badValuesAreRefusedNamingTheField() {
        let cases: [(ExposureRequest, String)] = [
            (ExposureRequest(type: .object, time: -1), "time: must not be negative"),
            (ExposureRequest(type: .dark, time: 0), "time: a dark frame needs an exposure time above 0"),
            (ExposureRequest(type: .object, time: 601), "time: 601.0 s is above the maximum of 600.0 s"),
            (ExposureRequest(type: .object, time: .nan), "time: must be a finite"),
            (ExposureRequest(type: .object, time: 1, count: 0, mode: .series), "count: must be from 1"),
            (ExposureRequest(type: .object, time: 1, count: 2, mode: .single), "count: a single exposure takes 1 frame"),
            (ExposureRequest(type: .object, time: 1, filter: "Z"), "filter: unknown filter 'Z'"),
            (ExposureRequest(type: .object, time: 1, binX: 8), "bin_x: 8 is not supported"),
            (ExposureRequest(type: .object, time: 1, binY: 0), "bin_y: 0 is not supported"),
            (ExposureRequest(type: .object, time: 1, subframe: Subframe(x: 1000, y: 0, width: 100, height: 100)), "lies outside the 1024x1024 sensor"),
            (ExposureRequest(type: .object, time: 1, subframe: Subframe(x: -1, y: 0, width: 10, height: 10)), "subframe: x and y must be >= 0"),
            (ExposureRequest(type: .object, time: 1, subframe: Subframe(x: 0, y: 0, width: 0, height: 10)), "subframe: width and height must be >= 1"),
            (ExposureRequest(type: .object, time: 1, subframe: Subframe(x: 0, y: 0, width: 101, height: 100), binX: 2, binY: 2), "must be multiples of the binning"),
            (ExposureRequest(type: .object, time: 1, readoutMode: 2), "readout_mode: 2 is not one of 0...1"),
            (ExposureRequest(type: .object, time: 1, gain: -1), "gain: -1 is not one of 0...1"),
            (ExposureRequest(type: .object, time: 1, comment: "caf\u{e9}"), "comment: must be printable ASCII"),
            (ExposureRequest(type: .object, time: 1, object: String(repeating: "x", count: 69)), "object: must be printable ASCII of at most 68"),
        ]
        for (request, expected) in cases {
            let error = refusal(request)
            #expect(error?.code == .invalidArgument, "\(request)")
            #expect(error?.message.contains(expected) == true, "expected '\(expected)', got '\(error?.message ?? "nothing")'")
        }
    }

    @Test func focusIsReadFromTheCommentAsEvoraDid() {
        #expect(ExposureRequest(type: .object, time: 1, comment: "focus: 1250").focusFromComment == 1250)
        #expect(ExposureRequest(type: .object, time: 1, comment: "M42 FOCUS=-3.5 good seeing").focusFromComment == -3.5)
        #expect(ExposureRequest(type: .object, time: 1, comment: "no focus here").focusFromComment == nil)
    }
}
