import ApertureProtocol
import Calibration
import Testing

/// The calibration library's rule over catalog rows: each match, and each no-match reason.
@Suite struct DarkLibraryTests {
    func master(_ id: Int64, _ type: String = "MASTERDARK", exptime: Double = 30, binning: Int = 1, readout: String = "fast",
                gain: String = "1x", temperature: Double? = -20, filter: String? = nil, date: String = "2026-12-06T01:00:00.000",
                missing: Bool = false) -> FrameRow {
        var row = FrameRow(id: id, path: "masters/\(type)-\(id).fits", bytes: 1, sha256: "", night: "2026-12-05",
                           missing: missing, added: "")
        row.imagetyp = type
        row.exptime = exptime
        row.xbinning = binning
        row.ybinning = binning
        row.readoutMode = readout
        row.gain = gain
        row.ccdTemp = temperature
        row.filter = filter
        row.width = 1024
        row.height = 1024
        row.dateObs = date
        return row
    }

    let frame = FrameTraits(exptime: 30, xbinning: 1, ybinning: 1, readoutMode: "fast", gain: "1x", filter: "V", ccdTemp: -20.2,
                            width: 1024, height: 1024)

    @Test func nearestTemperatureThenNewestWins() {
        let masters = [
            master(1, temperature: -19.5),
            master(2, temperature: -20.0, date: "2026-12-01T00:00:00.000"),
            master(3, temperature: -20.4, date: "2026-12-03T00:00:00.000"),
            master(4, temperature: -20.4, date: "2026-12-05T00:00:00.000"),
            master(5, temperature: -20.2, missing: true),
            master(6, exptime: 60, temperature: -20.2),
        ]
        // -20.0 and -20.4 are both 0.2 from -20.2: the newer of the two at that distance wins.
        let found = DarkLibrary.match(.dark, for: frame, among: masters)
        #expect(found.master?.id == 4)
        #expect(found.reason == nil)
        // Closer than both.
        let closer = DarkLibrary.match(.dark, for: frame, among: masters + [master(7, temperature: -20.25)])
        #expect(closer.master?.id == 7)
    }

    @Test func noMatchSaysWhatDiffered() {
        let none = DarkLibrary.match(.dark, for: frame, among: [])
        #expect(none.reason == "no MASTERDARK in the catalog")
        let exptime = DarkLibrary.match(.dark, for: frame, among: [master(1, exptime: 10), master(2, exptime: 60), master(3, exptime: 300)])
        #expect(exptime.master == nil)
        #expect(exptime.reason == "no MASTERDARK with exptime 30 s; nearest have 10, 60")
        let binning = DarkLibrary.match(.dark, for: frame, among: [master(1, binning: 2)])
        #expect(binning.reason == "no MASTERDARK with exptime 30 s and binning 1x1; they have 2x2")
        let readout = DarkLibrary.match(.dark, for: frame, among: [master(1, readout: "slow")])
        #expect(readout.reason == "no MASTERDARK with exptime 30 s and binning 1x1 and readout fast; they have slow")
        let gain = DarkLibrary.match(.dark, for: frame, among: [master(1, gain: "4x")])
        #expect(gain.reason?.hasSuffix("and gain 1x; they have 4x") == true)
        let warm = DarkLibrary.match(.dark, for: frame, among: [master(1, temperature: -15.2), master(2, temperature: -10),
                                                                master(3, temperature: nil)])
        #expect(warm.reason == "3 MASTERDARK(s) match exptime/binning/readout/gain/size but none within 1.0 C of -20.2 (nearest -15.2)")
        // A wider tolerance takes it.
        #expect(DarkLibrary.match(.dark, for: frame, among: [master(1, temperature: -15.2)], tolerance: 5.5).master?.id == 1)
        var unknown = frame
        unknown.exptime = nil
        #expect(DarkLibrary.match(.dark, for: unknown, among: [master(1), master(2, exptime: 60)]).reason
                == "the frame has no EXPTIME and every MASTERDARK left has one (30, 60)")
        // A value missing on both sides matches.
        var noReadout = frame
        noReadout.readoutMode = nil
        var bare = master(3)
        bare.readoutMode = nil
        #expect(DarkLibrary.match(.dark, for: noReadout, among: [master(1), bare]).master?.id == 3)
    }

    @Test func biasAndFlatIgnoreExposureTimeAndFlatsNeedTheFilter() {
        let masters = [
            master(1, "MASTERBIAS", exptime: 0, temperature: -5, date: "2026-12-01T00:00:00.000"),
            master(2, "MASTERBIAS", exptime: 0, temperature: -30, date: "2026-12-02T00:00:00.000"),
            master(3, "MASTERFLAT", exptime: 2, filter: "R"),
        ]
        #expect(DarkLibrary.match(.bias, for: frame, among: masters).master?.id == 2)
        let flat = DarkLibrary.match(.flat, for: frame, among: masters)
        #expect(flat.master == nil)
        #expect(flat.reason == "no MASTERFLAT with binning 1x1 and readout fast and gain 1x and size 1024x1024 and filter V; they have R")
        #expect(DarkLibrary.match(.flat, for: frame, among: masters + [master(4, "MASTERFLAT", exptime: 3, filter: "V")]).master?.id == 4)
    }
}
