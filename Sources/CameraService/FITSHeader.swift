import ApertureConfig
import ApertureProtocol
import Bus
import CameraCore
import FITSStorage
import Foundation

/// Builds the FITS header of a saved frame (issues 3 and 14's keyword lists; REFERENCE.md: evora,
/// INDI, NINA, Rots et al. 2015 for the times).
///
/// A value Aperture does not know is never written as a zero or an empty string: its keyword is
/// left out (an empty INSTRUME, TELESCOP or OBSERVER, no OBJECT, a pixel size or EGAIN the
/// driver does not report, no temperature reading, no site).
package enum FITSHeader {
    /// What the header describes.
    struct Context {
        var request: ExposureRequest
        var settings: AcquisitionSettings
        var info: CameraInfo
        /// The exposure's start.
        var start: Date
        /// The temperature read just before the exposure.
        var temperature: TemperatureStatus?
        /// The filter at the wheel's actual position.
        var filter: String?
        /// `camera.instrument`, `camera.telescope`, `camera.observer` (empty: left out).
        var instrument: String
        var telescope: String
        var observer: String
        var exposureId: String
        var frame: Int
        var count: Int?
        /// The telescope's focal length in millimetres (FOCALLEN), when the driver knows it.
        var focalLength: Double? = nil
        /// Where the telescope stands (`site.*`; unknown parts are left out).
        var site = ApertureConfiguration.Site()
        /// Electrons per ADU at the frame's gain (EGAIN), when the driver knows it.
        var electronsPerADU: Double? = nil
        /// `camera.name`: the camera's facility-wide name (CAMERA; SITE is `site.name`).
        var camera = ApertureConfiguration().camera.name
    }

    /// The entry of `byGain` for `gain`, if there is one.
    static func electronsPerADU(_ byGain: [Double]?, gain: Int) -> Double? {
        guard let byGain, byGain.indices.contains(gain) else { return nil }
        return byGain[gain]
    }

    /// A string card, or none for an empty (unknown) value.
    static func text(_ keyword: String, _ value: String?, _ comment: String) -> FITSCard? {
        guard let value, value.contains(where: { $0 != " " }) else { return nil }
        return FITSCard(keyword: keyword, value: .string(value), comment: comment)
    }

    /// A number card, or none unless the value is finite and above zero (a size, a gain).
    static func positive(_ keyword: String, _ value: Double?, _ comment: String) -> FITSCard? {
        guard let value, value.isFinite, value > 0 else { return nil }
        return FITSCard(keyword: keyword, value: .double(value), comment: comment)
    }

    /// `yyyy-MM-ddTHH:mm:ss.SSS` in UTC.
    static func isoDate(_ date: Date) -> String {
        var seconds = time_t(floor(date.timeIntervalSince1970))
        var milliseconds = Int(((date.timeIntervalSince1970 - floor(date.timeIntervalSince1970)) * 1000).rounded(.down))
        if milliseconds > 999 { milliseconds = 999 }
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03d", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, milliseconds)
    }

    /// A Modified Julian Date to the millisecond, as MJD-OBS and MJD-END carry it.
    static func mjd(_ date: Date) -> Double {
        (SkyGeometry.modifiedJulianDate(date) * 86_400_000).rounded() / 86_400_000
    }

    /// SITELAT, SITELONG, SITEELEV for what of the site is known, and AIRMASS at mid-exposure
    /// when the site and the pointing are known and the target is above the horizon.
    static func siteCards(_ context: Context, middle: Date) -> [FITSCard] {
        var cards: [FITSCard] = []
        let site = context.site
        if let latitude = site.latitude {
            cards.append(FITSCard(keyword: "SITELAT", value: .double(latitude), comment: "[deg] site latitude, north"))
        }
        if let longitude = site.longitude {
            cards.append(FITSCard(keyword: "SITELONG", value: .double(longitude), comment: "[deg] site longitude, east"))
        }
        if let elevation = site.elevation {
            cards.append(FITSCard(keyword: "SITEELEV", value: .double(elevation), comment: "[m] site elevation"))
        }
        if let airmass = airmass(context, at: middle) {
            cards.append(FITSCard(keyword: "AIRMASS", value: .double((airmass * 10000).rounded() / 10000),
                                  comment: "airmass at mid-exposure (Kasten & Young 1989)"))
        }
        return cards
    }

    /// The airmass at `date`, when the site's position and the pointing are known and the
    /// target is above the horizon.
    static func airmass(_ context: Context, at date: Date) -> Double? {
        guard let latitude = context.site.latitude, let longitude = context.site.longitude,
              let pointing = context.settings.pointing else { return nil }
        return SkyGeometry.airmass(altitude: SkyGeometry.altitude(ra: pointing.ra, dec: pointing.dec, latitude: latitude,
                                                                  longitude: longitude, at: date))
    }

    /// The cards after the mandatory ones, and the COMMENT lines.
    static func cards(_ context: Context) -> (cards: [FITSCard], comments: [String]) {
        let request = context.request
        let settings = context.settings
        let end = context.start.addingTimeInterval(settings.exposureTime)
        var cards: [FITSCard] = [
            FITSCard(keyword: "DATE-OBS", value: .string(isoDate(context.start)), comment: "UTC start of exposure"),
            FITSCard(keyword: "DATE-END", value: .string(isoDate(end)), comment: "UTC end of exposure"),
            FITSCard(keyword: "MJD-OBS", value: .double(mjd(context.start)), comment: "[d] MJD (UTC) of the start"),
            FITSCard(keyword: "MJD-END", value: .double(mjd(end)), comment: "[d] MJD (UTC) of the end"),
            FITSCard(keyword: "TIMESYS", value: .string("UTC"), comment: "time scale of the dates"),
            FITSCard(keyword: "EXPTIME", value: .double(settings.exposureTime), comment: "[s] exposure time"),
            FITSCard(keyword: "DARKTIME", value: .double(settings.exposureTime), comment: "[s] dark current integration time"),
            FITSCard(keyword: "IMAGETYP", value: .string(request.type.fitsName), comment: "frame type"),
        ]
        if let temperature = context.temperature {
            if temperature.celsius.isFinite {
                cards.append(FITSCard(keyword: "CCD-TEMP", value: .double((temperature.celsius * 100).rounded() / 100),
                                      comment: "[C] sensor temperature at start"))
            }
            // A set-point is in effect only while the cooler is on (a driver reports one anyway).
            if temperature.coolerOn {
                cards.append(FITSCard(keyword: "SET-TEMP", value: .double(Double(temperature.setpoint)),
                                      comment: "[C] cooler set-point"))
            }
            cards.append(FITSCard(keyword: "COOLERON", value: .logical(temperature.coolerOn), comment: "cooler on"))
        }
        let info = context.info
        let gain = info.gains.indices.contains(settings.gain) ? info.gains[settings.gain] : nil
        let readoutMode = info.readoutModes.indices.contains(settings.readoutMode) ? info.readoutModes[settings.readoutMode] : nil
        cards += [
            FITSCard(keyword: "XBINNING", value: .integer(settings.binX), comment: "binning factor in x"),
            FITSCard(keyword: "YBINNING", value: .integer(settings.binY), comment: "binning factor in y"),
            FITSCard(keyword: "XORGSUBF", value: .integer(settings.subframe.x), comment: "subframe origin x (unbinned)"),
            FITSCard(keyword: "YORGSUBF", value: .integer(settings.subframe.y), comment: "subframe origin y (unbinned)"),
            positive("XPIXSZ", info.pixelWidth * Double(settings.binX), "[um] pixel width including binning"),
            positive("YPIXSZ", info.pixelHeight * Double(settings.binY), "[um] pixel height including binning"),
            text("INSTRUME", context.instrument, "instrument"),
            text("DETECTOR", info.model, "camera model"),
            text("TELESCOP", context.telescope, "telescope"),
            text("OBSERVER", request.observer ?? context.observer, "observer"),
            text("OBJECT", request.object, "object"),
            text("GAIN", gain, "gain setting"),
            positive("EGAIN", context.electronsPerADU, "[e-/ADU] electrons per ADU at this gain"),
            text("READOUTM", readoutMode, "readout mode"),
        ].compactMap { $0 }
        // Where the wheel was; left out when the wheel could not be read (an unknown is no value).
        if let filter = context.filter {
            cards.append(FITSCard(keyword: "FILTER", value: .string(filter), comment: "filter at the wheel's position"))
        }
        if let pointing = settings.pointing {
            cards += [
                FITSCard(keyword: "OBJCTRA", value: .string(pointing.sexagesimalRA), comment: "[h m s] J2000 right ascension pointed at"),
                FITSCard(keyword: "OBJCTDEC", value: .string(pointing.sexagesimalDec), comment: "[d m s] J2000 declination pointed at"),
                FITSCard(keyword: "RA", value: .double(pointing.ra), comment: "[deg] J2000 right ascension pointed at"),
                FITSCard(keyword: "DEC", value: .double(pointing.dec), comment: "[deg] J2000 declination pointed at"),
                FITSCard(keyword: "EQUINOX", value: .double(2000), comment: "[yr] equinox of RA and DEC"),
            ]
        }
        if let focalLength = context.focalLength {
            cards.append(FITSCard(keyword: "FOCALLEN", value: .double(focalLength), comment: "[mm] focal length"))
        }
        cards += siteCards(context, middle: context.start.addingTimeInterval(settings.exposureTime / 2))
        if let focus = request.focusFromComment {
            cards.append(FITSCard(keyword: "FOCUS", value: .double(focus), comment: "focus position (from the comment)"))
        }
        cards += [
            FITSCard(keyword: "ROWORDER", value: .string(RowOrder(firstRowIsTop: context.info.firstRowIsTop).rawValue),
                     comment: "first row is the \(context.info.firstRowIsTop ? "top" : "bottom") of the image"),
            FITSCard(keyword: "SWCREATE", value: .string("Aperture \(ApertureVersion.string)"), comment: "software"),
            FITSCard(keyword: "SITE", value: .string(context.site.name), comment: "facility site (site.name)"),
            FITSCard(keyword: "CAMERA", value: .string(context.camera), comment: "facility camera (camera.name)"),
            FITSCard(keyword: "EXPID", value: .string(context.exposureId), comment: "Aperture exposure id"),
            FITSCard(keyword: "FRAMENUM", value: .integer(context.frame), comment: "frame number within the exposure"),
        ]
        if let plan = request.plan {
            cards += [
                FITSCard(keyword: "PLAN", value: .string(plan.id), comment: "observing plan id"),
                FITSCard(keyword: "PLANSTEP", value: .integer(plan.step), comment: "step of the plan, from 1"),
                FITSCard(keyword: "PLANIDX", value: .integer(plan.first + context.frame - 1), comment: "frame within the step, from 1"),
            ]
        }
        for (keyword, value) in (request.keywords ?? [:]).sorted(by: { $0.key < $1.key }) {
            cards.append(FITSCard(keyword: keyword.uppercased(), value: value.fitsValue, comment: nil))
        }
        let comments = request.comment.map { [$0] } ?? []
        return (cards, comments)
    }

    /// The keywords the sequencer's frames get (a request outside a plan may not set them either:
    /// the catalog reads them as the plan's).
    static let planKeywords: Set<String> = ["PLAN", "PLANSTEP", "PLANIDX"]

    /// Why the header of a request's frames could not be written, checked when the request
    /// arrives by the FITS writer's own rule (``FITSFile/headerProblem(cards:comments:)``) on
    /// the header its frames will get (a reading and a filter stand in for the ones taken at
    /// the start of each frame; Aperture's own values always pass).
    /// - Returns: the error naming the request's field at fault, or `nil` if every frame's
    ///   header can be written.
    static func problem(_ context: Context) -> CameraError? {
        var context = context
        // A reading with the cooler on: CCD-TEMP and SET-TEMP may both be written at run time.
        context.temperature = context.temperature
            ?? TemperatureStatus(celsius: 0, setpoint: 0, coolerOn: true, state: .stabilized, coolerPower: nil)
        let request = context.request
        let userKeys = (request.keywords ?? [:]).keys.sorted()
        func invalid(_ field: String, _ detail: String) -> CameraError { .invalid(field, detail) }
        // AIRMASS is written whenever the target is above the horizon, which may change before a
        // frame of a long series: with a site and a pointing, it is always Aperture's.
        if context.site.latitude != nil, context.site.longitude != nil, context.settings.pointing != nil,
           userKeys.contains(where: { $0.uppercased() == "AIRMASS" }) {
            return invalid("keywords", "AIRMASS is written by Aperture itself when site.latitude, site.longitude and a "
                + "pointing are known")
        }
        if let key = userKeys.first(where: { planKeywords.contains($0.uppercased()) }) {
            return invalid("keywords", "\(key.uppercased()) is written by Aperture itself for the frames of a plan and cannot be set")
        }
        let header = cards(context)
        guard let problem = FITSFile.headerProblem(cards: header.cards, comments: header.comments) else { return nil }
        guard let keyword = problem.keyword else { return invalid("comment", "\(problem.message)") }
        let spellings = userKeys.filter { $0.uppercased() == keyword }
        if !spellings.isEmpty {
            if spellings.count > 1 {
                return invalid("keywords", "\(spellings.joined(separator: " and ")) are the same FITS keyword \(keyword) "
                    + "(keywords are upper-cased); give it once")
            }
            let own = cards(Context(copying: context, keywords: [:])).cards.contains { $0.keyword == keyword }
            if own || FITSFile.isReserved(keyword) {
                return invalid("keywords", "\(keyword) is written by Aperture itself and cannot be set")
            }
            return invalid("keywords", "\(spellings[0]): \(problem.message.replacingOccurrences(of: "invalid FITS card: ", with: ""))")
        }
        switch keyword {
        case "FOCUS": return invalid("comment", "the focus position: \(problem.message)")
        case "OBJECT": return invalid("object", "\(problem.message)")
        case "OBSERVER": return invalid("observer", "\(problem.message)")
        default: return CameraError(.invalidArgument, "the FITS header cannot be written: \(problem.message)")
        }
    }
}

/// What `expose` checks before it starts anything, in one place: the plan against the camera
/// and the configuration, then the whole header its frames will get by the FITS writer's rule.
/// The camera calls it; so does the fuzz harness (`Benchmarks/Fuzz`).
package enum ExposureAdmission {
    /// Checks `request` and returns the plan to run it by.
    /// - Parameters:
    ///   - request: the request as it arrived.
    ///   - info: what the camera can do.
    ///   - configuration: the service's configuration (limits, filters, header texts).
    ///   - defaultPointing: the pointing of a request that names none (the driver's).
    ///   - focalLength: the telescope's focal length in mm, for FOCALLEN (the driver's).
    ///   - electronsPerADUByGain: electrons per ADU at each gain, for EGAIN (the driver's).
    /// - Returns: the plan to run.
    /// - Throws: ``CameraError`` `invalid_argument` naming the field, the value and the rule.
    package static func plan(_ request: ExposureRequest, info: CameraInfo, configuration: ApertureConfiguration,
                             defaultPointing: SkyPointing? = nil, focalLength: Double? = nil,
                             electronsPerADUByGain: [Double]? = nil) throws(CameraError) -> ExposurePlan {
        var plan = try request.plan(info: info, maximumExposure: configuration.camera.maximumExposure,
                                    filters: configuration.filterWheel.filters)
        if plan.settings.pointing == nil { plan.settings.pointing = defaultPointing }
        let now = Date()
        // FILTER is written whenever the wheel can be read, which is known only at run time: the
        // check assumes it is there, so that a user keyword FILTER is refused now, not at save.
        let filter = plan.filter ?? configuration.filterWheel.filters.first ?? "unknown"
        if let problem = FITSHeader.problem(FITSHeader.Context(
            request: request, settings: plan.settings, info: info, start: now, temperature: nil,
            filter: filter, instrument: configuration.camera.instrument, telescope: configuration.camera.telescope,
            observer: configuration.camera.observer, exposureId: "20000101T000000-0001", frame: plan.count ?? 1,
            count: plan.count, focalLength: focalLength, site: configuration.site,
            electronsPerADU: FITSHeader.electronsPerADU(electronsPerADUByGain, gain: plan.settings.gain),
            camera: configuration.camera.name)) {
            throw problem
        }
        return plan
    }
}

extension FITSHeader.Context {
    /// The same context with other user keywords.
    init(copying context: FITSHeader.Context, keywords: [String: KeywordValue]) {
        self = context
        request.keywords = keywords
    }
}

extension KeywordValue {
    var fitsValue: FITSValue {
        switch self {
        case .string(let value): return .string(value)
        case .integer(let value): return .integer(value)
        case .double(let value): return .double(value)
        case .logical(let value): return .logical(value)
        }
    }
}

/// The software version written as SWCREATE.
enum ApertureVersion {
    static let string = "0.1.0"
}
