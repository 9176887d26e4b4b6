import ApertureProtocol
import Bus
import Foundation
import HTTPTypes
import Hummingbird

/// evora-server's framing blueprint (`framing/endpoints.py`): `POST /api/plate_solve` with
/// `{filename, hint_ra_deg, hint_dec_deg, hint_radius_deg}`, answering
/// `{status: "success"|"failure", failure_reason, center_ra_deg, center_dec_deg, visualization_url}`.
///
/// As evora: a solve that finds nothing (no file, no stars, no solution within the time limit,
/// the solver missing or crashed) is HTTP 200 with `status: "failure"` and the reason, and the
/// centre 0.0 and URL null. The web client (`Framing.jsx`) sends the hints as strings, empty
/// when the user typed none: an empty string, null or a missing hint means no hint, and so do
/// evora's own defaults (0, 0, radius 360: the whole sky). Unlike evora, a request that cannot be
/// used (a hint that is not a number or out of range, a file outside the data root) is HTTP 400
/// naming the field, with the same keys (`status: "failure"`, the reason) plus Aperture's
/// `error` object; `visualization_url` is Aperture's picture of the frame with its detected and
/// matched stars, not evora's legacysurvey.org link.
package enum EvoraFramingRoutes {
    /// evora's reply, with explicit nulls.
    struct Reply: Encodable {
        var status: String
        var failureReason: String?
        var centerRA: Double
        var centerDec: Double
        var visualizationURL: String?
        var solutionID: String?
        var error: EvoraRoutes.Failure.Detail?
        enum CodingKeys: String, CodingKey {
            case status, error
            case failureReason = "failure_reason"
            case centerRA = "center_ra_deg"
            case centerDec = "center_dec_deg"
            case visualizationURL = "visualization_url"
            case solutionID = "solution_id"
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(status, forKey: .status)
            try container.encode(failureReason, forKey: .failureReason)
            try container.encode(centerRA, forKey: .centerRA)
            try container.encode(centerDec, forKey: .centerDec)
            try container.encode(visualizationURL, forKey: .visualizationURL)
            try container.encodeIfPresent(solutionID, forKey: .solutionID)
            try container.encodeIfPresent(error, forKey: .error)
        }
    }

    static func register(on router: Router<GatewayApplication.Context>, gateway: Gateway) {
        router.post("api/plate_solve") { request, _ -> Response in
            do throws(APIError) {
                try gateway.authorize(request)
                let fields = try await EvoraRoutes.fields(of: request, gateway: gateway)
                let arguments = try arguments(from: fields)
                let solution = try await SolvingRoutes.solve(arguments, gateway: gateway)
                let success = solution.status == "success"
                return JSONResponse.make(Reply(
                    status: solution.status, failureReason: solution.failureReason,
                    centerRA: solution.centerRA, centerDec: solution.centerDec,
                    visualizationURL: success ? SolvingRoutes.visualizationPath(solution).map {
                        EvoraRoutes.link(request, String($0.dropFirst()))
                    } : nil,
                    solutionID: solution.id))
            } catch {
                // evora's field is `filename`; the processor's is `file`.
                let error = error.field == "file"
                    ? APIError(error.status, error.code, "filename" + error.message.dropFirst(4), field: "filename") : error
                return JSONResponse.make(Reply(status: "failure", failureReason: error.message, centerRA: 0, centerDec: 0,
                                               visualizationURL: nil, error: .init(error)),
                                         status: error.status, headers: error.retryAfter.map { [.retryAfter: String($0)] } ?? [:])
            }
        }
    }

    /// The solve's arguments from evora's body.
    static func arguments(from fields: [String: Any]) throws(APIError) -> SolveCommand.Arguments {
        guard let file = fields["filename"] as? String, !file.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw APIError.invalid("filename", "filename: is required (a file name or a path inside the data root, or 'latest')")
        }
        /// A hint: nil when absent, null or an empty string (the web client's empty box).
        func hint(_ name: String) throws(APIError) -> Double? {
            switch fields[name] {
            case nil, is NSNull: return nil
            case let text as String where text.trimmingCharacters(in: .whitespaces).isEmpty: return nil
            case let value: return try EvoraRoutes.number(value, name: name)
            }
        }
        let ra = try hint("hint_ra_deg"), dec = try hint("hint_dec_deg"), radius = try hint("hint_radius_deg")
        guard let ra, let dec else {
            if ra == nil && dec == nil { return SolveCommand.Arguments(file: file) }  // a radius alone hints nothing
            let (missing, given) = ra == nil ? ("hint_ra_deg", "hint_dec_deg") : ("hint_dec_deg", "hint_ra_deg")
            throw APIError.invalid(missing, "\(missing): is required with \(given) (give both or neither)")
        }
        // evora's defaults (0, 0, radius 360) and any radius of 180 or more search the whole sky.
        if (radius ?? 0) >= 180 || (ra == 0 && dec == 0 && radius == nil) { return SolveCommand.Arguments(file: file) }
        return SolveCommand.Arguments(file: file, hintRA: ra, hintDec: dec, hintRadius: radius)
    }
}
