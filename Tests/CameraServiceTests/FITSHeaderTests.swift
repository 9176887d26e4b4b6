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
                                  count: 1, site: site)
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
