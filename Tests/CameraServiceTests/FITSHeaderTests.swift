import ApertureConfig
import ApertureProtocol
import CameraCore
@testable import CameraService
import FITSStorage
import Foundation
import Testing

/// The time, site and detector keywords of a saved frame (issue 14, item 5), with values that can
/// be checked by hand: J2000.0 is MJD 51544.5, and its Greenwich mean sidereal time is
/// 280.46061837° (IAU 1982), so a star at that right ascension and at the site's latitude is at
/// the zenith of a site on the Greenwich meridian.
struct FITSHeaderTests {
    static let j2000 = Date(timeIntervalSince1970: 946_728_000)  // 2000-01-01T12:00:00 UTC
    static let info = CameraInfo(model: "m", serial: "s", width: 64, height: 64, pixelWidth: 13, pixelHeight: 13,
                                 minimumSetpoint: -80, maximumSetpoint: 20, maximumBinX: 4, maximumBinY: 4,
                                 readoutModes: ["fast"], gains: ["1x"], hasShutter: true, minimumExposure: 0,
                                 maximumExposure: 3600, maximumADU: 65535, electronsPerADU: 1.4, firstRowIsTop: true)

    func context(time: Double, start: Date, pointing: SkyPointing?, site: ApertureConfiguration.Site,
                 keywords: [String: KeywordValue]? = nil) -> FITSHeader.Context {
        var request = ExposureRequest(type: .object, time: time)
        request.keywords = keywords
        let settings = AcquisitionSettings(exposureTime: time, shutter: .open, subframe: Subframe(x: 0, y: 0, width: 64, height: 64),
                                           imageType: .object, pointing: pointing)
        return FITSHeader.Context(request: request, settings: settings, info: Self.info, start: start, temperature: nil,
                                  filter: "V", instrument: "i", telescope: "t", observer: "o", exposureId: "e", frame: 1,
                                  count: 1, site: site, electronsPerADU: 1.4)
    }

    func values(_ context: FITSHeader.Context) -> [String: FITSValue] {
        Dictionary(FITSHeader.cards(context).cards.map { ($0.keyword, $0.value) }) { first, _ in first }
    }

    @Test func timesComeAsUTCDatesAndModifiedJulianDatesOfStartAndEnd() {
        let header = values(context(time: 30, start: Self.j2000, pointing: nil, site: .init()))
        #expect(header["DATE-OBS"] == .string("2000-01-01T12:00:00.000"))
        #expect(header["DATE-END"] == .string("2000-01-01T12:00:30.000"))
        #expect(header["MJD-OBS"] == .double(51544.5))
        #expect(header["MJD-END"] == .double(((51544.5 + 30.0 / 86400) * 86_400_000).rounded() / 86_400_000))
        #expect(header["TIMESYS"] == .string("UTC"))
        #expect(header["EGAIN"] == .double(1.4))
        // No site, no pointing: nothing stands for them.
        for keyword in ["SITELAT", "SITELONG", "SITEELEV", "AIRMASS"] { #expect(header[keyword] == nil, "\(keyword)") }
    }

    @Test func airmassIsOneAtTheZenithAndAboutTwoThirtyDegreesUp() {
        let site = ApertureConfiguration.Site(latitude: 47, longitude: 0, elevation: 1100)
        let zenith = values(context(time: 0, start: Self.j2000, pointing: SkyPointing(ra: 280.46061837, dec: 47), site: site))
        #expect(zenith["SITELAT"] == .double(47) && zenith["SITELONG"] == .double(0) && zenith["SITEELEV"] == .double(1100))
        guard case .double(let one)? = zenith["AIRMASS"] else { Issue.record("no AIRMASS at the zenith"); return }
        #expect(abs(one - 1) < 0.001, "\(one)")
        // On the meridian 60° from the zenith: sec z = 2, which Kasten & Young's curvature lowers by 0.3 %.
        let low = values(context(time: 0, start: Self.j2000, pointing: SkyPointing(ra: 280.46061837, dec: -13), site: site))
        guard case .double(let two)? = low["AIRMASS"] else { Issue.record("no AIRMASS 30° up"); return }
        #expect(abs(two - 2) < 0.01 && two < 2, "\(two)")
        // Below the horizon: left out.
        let below = values(context(time: 0, start: Self.j2000, pointing: SkyPointing(ra: 100.46, dec: -47), site: site))
        #expect(below["AIRMASS"] == nil)
    }

    @Test func aUsersAirmassIsRefusedUpFrontWhenApertureComputesIt() {
        let site = ApertureConfiguration.Site(latitude: 47, longitude: 0)
        // Below the horizon now, but it may rise before a later frame: refused all the same.
        let refused = FITSHeader.problem(context(time: 1, start: Self.j2000, pointing: SkyPointing(ra: 100.46, dec: -47),
                                                 site: site, keywords: ["airmass": .double(1.2)]))
        #expect(refused?.field == "keywords")
        #expect(refused?.message.contains("AIRMASS") == true)
        // Without a site the user's AIRMASS is the only one, and welcome.
        #expect(FITSHeader.problem(context(time: 1, start: Self.j2000, pointing: SkyPointing(ra: 100.46, dec: -47),
                                           site: .init(), keywords: ["AIRMASS": .double(1.2)])) == nil)
    }
}

extension FITSHeaderTests {
    /// A 2x2-binned object frame at gain 1 ("2x") in the slow readout mode, with everything known.
    func knownContext() -> FITSHeader.Context {
        let request = ExposureRequest(type: .object, time: 30, object: "M42", observer: "A. Observer", binX: 2, binY: 2,
                                      readoutMode: 0, gain: 1, keywords: ["SEEING": .double(1.5)])
        let settings = AcquisitionSettings(exposureTime: 30, shutter: .open, subframe: Subframe(x: 0, y: 0, width: 64, height: 64),
                                           binX: 2, binY: 2, readoutMode: 0, gain: 1, imageType: .object)
        var info = Self.info
        info.gains = ["1x", "2x"]
        return FITSHeader.Context(
            request: request, settings: settings, info: info, start: Self.j2000,
            temperature: TemperatureStatus(celsius: -59.876, setpoint: -60, coolerOn: true, state: .stabilized, coolerPower: 40),
            filter: "V", instrument: "MRO camera", telescope: "MRO 0.8 m", observer: "Night crew", exposureId: "e", frame: 1,
            count: 1, site: ApertureConfiguration.Site(latitude: 46.95, longitude: -120.72, elevation: 1198, name: "mro"),
            electronsPerADU: 0.7, camera: "north")
    }

    @Test func everyKeywordOfTheListComesWithItsValueAndAComment() {
        let cards = FITSHeader.cards(knownContext()).cards
        let byKeyword = Dictionary(cards.map { ($0.keyword, $0) }) { first, _ in first }
        let expected: [String: FITSValue] = [
            "DATE-OBS": .string("2000-01-01T12:00:00.000"), "DATE-END": .string("2000-01-01T12:00:30.000"),
            "MJD-OBS": .double(51544.5), "TIMESYS": .string("UTC"), "EXPTIME": .double(30), "DARKTIME": .double(30),
            "INSTRUME": .string("MRO camera"), "DETECTOR": .string("m"), "TELESCOP": .string("MRO 0.8 m"),
            // The request's observer wins over camera.observer.
            "OBSERVER": .string("A. Observer"), "OBJECT": .string("M42"),
            "SITELAT": .double(46.95), "SITELONG": .double(-120.72), "SITEELEV": .double(1198),
            "XBINNING": .integer(2), "YBINNING": .integer(2),
            // 13 um pixels binned 2x2 are 26 um.
            "XPIXSZ": .double(26), "YPIXSZ": .double(26),
            "CCD-TEMP": .double(-59.88), "SET-TEMP": .double(-60), "COOLERON": .logical(true),
            "GAIN": .string("2x"), "EGAIN": .double(0.7), "READOUTM": .string("fast"), "ROWORDER": .string("TOP-DOWN"),
            "SWCREATE": .string("Aperture \(ApertureVersion.string)"), "SEEING": .double(1.5),
            // The facility identity (site.name, camera.name).
            "SITE": .string("mro"), "CAMERA": .string("north"),
        ]
        for (keyword, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(byKeyword[keyword]?.value == value, "\(keyword): \(String(describing: byKeyword[keyword]?.value))")
            // Aperture's own keywords say what they are; the user's own come as given, without one.
            if keyword != "SEEING" { #expect(byKeyword[keyword]?.comment?.isEmpty == false, "\(keyword) has no comment") }
        }
        #expect(byKeyword["MJD-END"] != nil)
        // No pointing, so no AIRMASS even with a site.
        #expect(byKeyword["AIRMASS"] == nil)
        #expect(Set(cards.map(\.keyword)).count == cards.count, "a keyword is written twice")
    }

    @Test func whatIsNotKnownIsLeftOutNeverWrittenAsZeroOrEmpty() {
        var context = knownContext()
        context.request.object = nil
        context.request.observer = nil
        context.instrument = ""
        context.telescope = ""
        context.observer = ""
        context.info.model = ""
        context.info.pixelWidth = 0
        context.info.pixelHeight = 0
        context.electronsPerADU = nil
        context.site = .init(latitude: 46.95)
        context.temperature = nil
        let header = values(context)
        for keyword in ["OBJECT", "OBSERVER", "INSTRUME", "TELESCOP", "DETECTOR", "XPIXSZ", "YPIXSZ", "EGAIN",
                        "SITELONG", "SITEELEV", "CCD-TEMP", "SET-TEMP", "COOLERON"] {
            #expect(header[keyword] == nil, "\(keyword) = \(String(describing: header[keyword]))")
        }
        #expect(header["SITELAT"] == .double(46.95))
        // An empty request object or observer is no value either, and camera.observer fills in.
        context.request.object = ""
        context.observer = "Night crew"
        #expect(values(context)["OBJECT"] == nil)
        #expect(values(context)["OBSERVER"] == .string("Night crew"))
        // A cooler that is off has no set-point in effect; the sensor's reading stays.
        context.temperature = TemperatureStatus(celsius: 18.5, setpoint: 20, coolerOn: false, state: .off, coolerPower: nil)
        let warm = values(context)
        #expect(warm["CCD-TEMP"] == .double(18.5) && warm["COOLERON"] == .logical(false))
        #expect(warm["SET-TEMP"] == nil)
        // A reading that is no number leaves CCD-TEMP out instead of failing the save.
        context.temperature?.celsius = .nan
        #expect(values(context)["CCD-TEMP"] == nil)
    }

    @Test func dateObsIsTheStartInISOUTCWithoutAZoneLetter() {
        let start = Date(timeIntervalSince1970: 1_796_000_000.1234)  // 2026-11-30T00:53:20.123 UTC
        let header = values(context(time: 0.5, start: start, pointing: nil, site: .init()))
        #expect(header["DATE-OBS"] == .string("2026-11-30T00:53:20.123"))
        #expect(header["DATE-END"] == .string("2026-11-30T00:53:20.623"))
        // astropy: Time('2026-11-30T00:53:20.123', scale='utc').mjd == 61374.03703846065 (MJD-OBS is
        // kept to the millisecond, as DATE-OBS).
        guard case .double(let mjd)? = header["MJD-OBS"] else { Issue.record("no MJD-OBS"); return }
        #expect(abs(mjd - 61374.03703846065) < 1e-9, "\(mjd)")
    }

    @Test func precessionFromJ2000MatchesMeeusExample21b() {
        // Meeus, Astronomical Algorithms (2nd ed.), example 21.b: theta Persei to 2028 Nov 13.19
        // (JD 2462088.69, MJD 62088.19), from 41.054063, 49.227750 to 41.547214, 49.348483.
        let date = Date(timeIntervalSince1970: (62088.19 - 40587) * 86400)
        let ofDate = SkyGeometry.precessed(ra: 41.054063, dec: 49.227750, to: date)
        #expect(abs(ofDate.ra - 41.547214) < 2e-6, "\(ofDate.ra)")
        #expect(abs(ofDate.dec - 49.348483) < 2e-6, "\(ofDate.dec)")
        // At J2000.0 nothing moves.
        let same = SkyGeometry.precessed(ra: 41.054063, dec: 49.227750, to: Self.j2000)
        #expect(abs(same.ra - 41.054063) < 1e-9 && abs(same.dec - 49.227750) < 1e-9)
    }

    @Test func admissionRefusesAUserKeywordApertureWritesAtRunTimeAndTakesOneItLeavesOut() throws {
        var configuration = ApertureConfiguration()
        configuration.camera.telescope = ""
        configuration.camera.observer = ""
        func plan(_ keywords: [String: KeywordValue], byGain: [Double]? = [1.4]) -> CameraError? {
            do throws(CameraError) {
                _ = try ExposureAdmission.plan(ExposureRequest(type: .object, time: 1, keywords: keywords), info: Self.info,
                                               configuration: configuration, electronsPerADUByGain: byGain)
                return nil
            } catch { return error }
        }
        // The cooler may be on when a frame starts, and the driver knows its gain: both are Aperture's.
        #expect(plan(["SET-TEMP": .double(-60)])?.message.contains("SET-TEMP is written by Aperture itself") == true)
        #expect(plan(["EGAIN": .double(2)])?.message.contains("EGAIN is written by Aperture itself") == true)
        // A driver that does not know its gain leaves EGAIN to the user; so does an empty camera.telescope.
        #expect(plan(["EGAIN": .double(2)], byGain: nil) == nil)
        #expect(plan(["TELESCOP": .string("borrowed 0.4 m")]) == nil)
        configuration.camera.telescope = "MRO 0.8 m"
        #expect(plan(["TELESCOP": .string("borrowed 0.4 m")])?.field == "keywords")
        // SITE and CAMERA are the instance's identity, in every header: a request cannot set them.
        for keyword in ["SITE", "camera"] {
            let refused = plan([keyword: .string("elsewhere")])
            #expect(refused?.field == "keywords")
            #expect(refused?.message.contains("\(keyword.uppercased()) is written by Aperture itself and cannot be set") == true,
                    "\(refused?.message ?? "accepted")")
        }
    }

    @Test func everyFrameCarriesTheConfiguredSiteAndCameraAndTheDefaults() {
        // The defaults: site local, camera camera (never left out: the names are always known).
        let defaults = values(context(time: 1, start: Self.j2000, pointing: nil, site: .init()))
        #expect(defaults["SITE"] == .string("local") && defaults["CAMERA"] == .string("camera"))
        var configured = knownContext()
        configured.site.name = "kitt"
        configured.camera = "south-2"
        let cards = FITSHeader.cards(configured).cards
        #expect(cards.first { $0.keyword == "SITE" }?.value == .string("kitt"))
        #expect(cards.first { $0.keyword == "CAMERA" }?.value == .string("south-2"))
        #expect(cards.first { $0.keyword == "CAMERA" }?.comment == "facility camera (camera.name)")
    }
}
