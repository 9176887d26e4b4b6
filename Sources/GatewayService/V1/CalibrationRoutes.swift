import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/calibration`: master frames and the calibration library (aperture-catalog over
/// catalog.ctl, `calibration.combine` and `calibration.match`).
enum CalibrationRoutes {
    /// How long a combine may take before the gateway stops waiting (500 frames of 2048x2048
    /// are read from disk and combined at nice 10).
    static let combineTimeout: Duration = .seconds(600)

    static func register(_ routes: RouteTable, gateway: Gateway) {
        // POST /v1/calibration/masters: 201 with the master's row, its inputs and the time taken.
        routes.post("calibration/masters") { request, _ in
            let body = try await RequestBody.decode(CombineRequest.self, from: request, limit: gateway.configuration.gateway.maxBody)
            do throws(BusError) {
                try body.validate()
            } catch {
                throw APIError(error, from: .catalog)
            }
            let result = try await gateway.catalog(CalibrationCombineCommand.self, body, timeout: combineTimeout)
            return JSONResponse.make(result, status: .created)
        }
        // GET /v1/calibration/match?frame=ID|path=P&kind=dark|bias|flat|all&tolerance=1.0: 200 with
        // one answer per kind (a master, or null and the reason); 404 for an unknown frame.
        routes.get("calibration/match") { request, _ in
            JSONResponse.make(try await gateway.catalog(CalibrationMatchCommand.self, try matchRequest(request)))
        }
        // Room for `POST /v1/calibration/sets` (calibration sets, issue 15 item 4).
    }

    /// The match request from the query parameters, each checked where it enters.
    static func matchRequest(_ request: Request) throws(APIError) -> MatchRequest {
        var match = MatchRequest()
        var seen = Set<String>()
        for (key, value) in request.uri.queryParameters.map({ (String($0.key), String($0.value)) }) {
            guard seen.insert(key).inserted else { throw APIError.invalid(key, "\(key): is given more than once") }
            switch key {
            case "frame":
                guard let id = Int64(value), id > 0 else {
                    throw APIError.invalid(key, "frame: '\(value.prefix(40))' is not a frame id (a whole number from 1)")
                }
                match.frame = id
            case "path":
                match.path = value
            case "kind":
                guard let kind = MatchKind(rawValue: value) else {
                    throw APIError.invalid(key, "kind: '\(value.prefix(40))' is not dark, bias, flat or all")
                }
                match.kind = kind
            case "tolerance":
                guard let tolerance = Double(value), tolerance.isFinite, MatchRequest.toleranceRange.contains(tolerance) else {
                    throw APIError.invalid(key, "tolerance: '\(value.prefix(40))' is not a number of degrees from 0 to 100")
                }
                match.tolerance = tolerance
            default:
                throw APIError.invalid(key, "\(key): is not a parameter of /v1/calibration/match (frame, path, kind, tolerance)")
            }
        }
        do throws(BusError) {
            try match.validate()
        } catch {
            throw APIError(error, from: .catalog)
        }
        return match
    }
}
