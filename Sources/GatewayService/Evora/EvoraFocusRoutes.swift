import ApertureConfig
import ApertureProtocol
import Bus
import FrameAnalysis
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// evora-server's focus blueprint at its paths: `POST /api/add_focus_datapoint`,
/// `GET /plot/<sid>` and `POST /api/reset`, as its web client's Focus tab calls them (through
/// nginx, which strips the client's `/api`). The sessions and the measurements are the
/// processor's (`focus_session_*` on processor.ctl); the plot is drawn here (``FocusPlot``).
enum EvoraFocusRoutes {
    /// The key under which Aperture's HFD stands in evora's per-method dicts (`hfd_metrics`,
    /// `hfd_fits`, `predicted_min_hfd`), where evora has `sep`, `my` and `PHD`.
    static let hfdMethod = "aperture"

    /// Measuring a file reads and analyses it: allow for a large one on a busy machine.
    static let measureTimeout: Duration = .seconds(30)

    static func register(on router: Router<GatewayApplication.Context>, gateway: Gateway) {
        router.post("api/add_focus_datapoint") { request, _ -> Response in
            try await EvoraRoutes.evora {
                let fields = try await fields(of: request, gateway: gateway)
                let sid = try sessionId(fields["sid"])
                let position = try position(fields["focuserPosition"], name: "focuserPosition")
                guard let filename = fields["filename"] as? String else {
                    throw APIError.invalid("filename", "filename: is required (a FITS file under the data root, "
                                           + "e.g. 20261206/image-0003.fits)")
                }
                let session = try await gateway.processor(FocusSessionAddCommand.self,
                                                          .init(id: sid, position: position, filename: filename),
                                                          timeout: measureTimeout)
                return JSONResponse.make(Serialized(session))
            }
        }
        router.get("plot/:sid") { _, context -> Response in
            let sid = try context.parameters.require("sid")
            if let problem = FocusSessionLimits.idProblem(sid) { throw APIError.notFound("no focus session: the id \(problem)") }
            let session = try await gateway.processor(FocusSessionGetCommand.self, .init(id: sid))
            return try await plotResponse(session)
        }
        router.post("api/reset") { request, _ -> Response in
            try await EvoraRoutes.evora {
                let fields = try await fields(of: request, gateway: gateway)
                let sid = try sessionId(fields["sid"])
                _ = try await gateway.processor(FocusSessionDeleteCommand.self, .init(id: sid))
                return JSONResponse.make([String: String]())
            }
        }
    }

    /// The body's fields, as ``EvoraRoutes/fields(of:gateway:twice:)`` reads them, except that a
    /// number too large for a double (`1e400`, which Foundation refuses as "not valid JSON") is
    /// named by its key.
    static func fields(of request: Request, gateway: Gateway) async throws(APIError) -> [String: Any] {
        var buffer = try await RequestBody.collect(request, limit: gateway.configuration.gateway.maxBody)
        let data = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        if let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] { return object }
        let text = String(decoding: data, as: UTF8.self)
        for match in text.matches(of: /"([A-Za-z_]{1,40})"\s*:\s*(-?[0-9.]+[eE][+-]?[0-9]+)/) {
            if let value = Double(match.output.2), !value.isFinite {
                let key = String(match.output.1)
                throw APIError.invalid(key, "\(key): \(match.output.2) is not a finite number")
            }
        }
        if request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
            return EvoraRoutes.form(data)
        }
        throw APIError.invalid(nil, data.isEmpty ? "the body must be a JSON object" : "the body is not a JSON object")
    }

    /// The PNG of a session's plot, drawn off the request threads.
    static func plotResponse(_ session: FocusSession) async throws(APIError) -> Response {
        let png = try await Gateway.offload { try FocusPlot.png(session) }
        return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(bytes: png)))
    }

    /// `sid`: a string (evora's client sends `Date.now()` as text), or a whole number.
    static func sessionId(_ value: Any?) throws(APIError) -> String {
        let text: String
        switch value {
        case let string as String:
            text = string
        case nil, is NSNull:
            throw APIError.invalid("sid", "sid: is required (the focus session id, e.g. \"1733461200000\")")
        default:
            guard let number = JSONNumberFit.number(value), let whole = Int64(exactly: number.doubleValue) else {
                throw APIError.invalid("sid", "sid: must be a string of letters, digits, '.', '_' or '-'")
            }
            text = String(whole)
        }
        if let problem = FocusSessionLimits.idProblem(text) { throw APIError.invalid("sid", "sid: \(problem)") }
        return text
    }

    /// A focuser position: a number or numeric text (evora's client sends what the user typed),
    /// finite and within ``FocusSessionLimits/position``.
    static func position(_ value: Any?, name: String) throws(APIError) -> Double {
        let position = try EvoraRoutes.number(value, name: name)
        guard FocusSessionLimits.position.contains(position) else {
            throw APIError.invalid(name, "\(name): \(position) is outside -1e9...1e9 (focuser steps)")
        }
        return position
    }

    /// evora's `FocusSession.serialize()`, with Aperture's HFD under ``hfdMethod``; the fits are
    /// Aperture's (``FocusFit``'s default model: the squared metric is the parabola), so the
    /// coefficients `[a, b, c]` are of `metric^2 = a p^2 + b p + c` (`fit_model` says so).
    struct Serialized: Encodable {
        var id: String
        var focuserPositons: [Double]
        var fwhmMetrics: [Double]
        var hfdMetrics: [[String: Double]]
        var files: [String]
        var fwhmFit: [Double]?
        var hfdFits: [String: [Double]]
        var predictedMinFwhm: Double
        var predictedMinHfd: [String: Double]
        var fitModel: String
        var fwhmFitError: String?
        var hfdFitError: String?

        init(_ session: FocusSession) {
            id = session.id
            focuserPositons = session.points.map(\.position)
            fwhmMetrics = session.points.map(\.measurement.medianFWHM)
            hfdMetrics = session.points.map { [hfdMethod: $0.measurement.medianHFD] }
            files = session.points.map(\.measurement.filename)
            fwhmFit = session.fwhmFit.map(Self.coefficients)
            hfdFits = session.hfdFit.map { [hfdMethod: Self.coefficients($0)] } ?? [:]
            predictedMinFwhm = session.fwhmFit?.bestFocus ?? 0
            predictedMinHfd = session.hfdFit.map { [hfdMethod: $0.bestFocus] } ?? [:]
            fitModel = (session.fwhmFit ?? session.hfdFit)?.model.rawValue ?? FocusFit.Model.quadraticInSquares.rawValue
            fwhmFitError = session.fwhmFitError
            hfdFitError = session.hfdFitError
        }

        /// `a (p - p0)^2 + m0` as polynomial coefficients, highest power first (numpy's polyfit order).
        static func coefficients(_ fit: FocusFit) -> [Double] {
            [fit.curvature, -2 * fit.curvature * fit.bestFocus, fit.curvature * fit.bestFocus * fit.bestFocus + fit.vertexValue]
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(focuserPositons, forKey: .focuserPositons)
            try container.encode(fwhmMetrics, forKey: .fwhmMetrics)
            try container.encode(hfdMetrics, forKey: .hfdMetrics)
            try container.encode(files, forKey: .files)
            try container.encode(fwhmFit, forKey: .fwhmFit)  // null before a fit, as evora
            try container.encode(hfdFits, forKey: .hfdFits)
            try container.encode(predictedMinFwhm, forKey: .predictedMinFwhm)
            try container.encode(predictedMinHfd, forKey: .predictedMinHfd)
            try container.encode(fitModel, forKey: .fitModel)
            try container.encode(fwhmFitError, forKey: .fwhmFitError)
            try container.encode(hfdFitError, forKey: .hfdFitError)
        }

        enum CodingKeys: String, CodingKey {
            case id, files
            case focuserPositons = "focuser_positons"  // sic: evora's spelling
            case fwhmMetrics = "fwhm_metrics"
            case hfdMetrics = "hfd_metrics"
            case fwhmFit = "fwhm_fit"
            case hfdFits = "hfd_fits"
            case predictedMinFwhm = "predicted_min_fwhm"
            case predictedMinHfd = "predicted_min_hfd"
            case fitModel = "fit_model"
            case fwhmFitError = "fwhm_fit_error"
            case hfdFitError = "hfd_fit_error"
        }
    }
}
