import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/plans`: the plan queue (the sequencer in aperture-catalog, over catalog.ctl): submit a
/// plan, list and read plans, pause, resume, cancel and move one.
enum PlanRoutes {
    /// Checking a plan asks the camera about each exposure step: more than a query's second.
    static let submitTimeout: Duration = .seconds(60)

    /// The body of `POST /v1/plans/{id}/move`.
    struct Move: Decodable {
        /// The new place, from 0 (the head).
        var position: Int
    }

    static func register(_ routes: RouteTable, gateway: Gateway) {
        let limit = gateway.configuration.gateway.maxBody
        routes.post("plans") { request, _ in
            let document = try await RequestBody.decode(PlanDocument.self, from: request, limit: limit)
            let plan = try await gateway.catalog(PlanSubmitCommand.self, document, timeout: submitTimeout)
            return JSONResponse.make(plan, status: .created, headers: [.location: "plans/\(plan.id)"])
        }
        routes.post("calibration/sets") { request, _ in
            let set = try await RequestBody.decode(CalibrationSetRequest.self, from: request, limit: limit)
            let plan = try await gateway.catalog(CalibrationSetCommand.self, set, timeout: submitTimeout)
            return JSONResponse.make(plan, status: .created, headers: [.location: "../plans/\(plan.id)"])
        }
        routes.get("plans") { request, _ in
            var arguments = PlanListCommand.Arguments()
            for (key, value) in request.uri.queryParameters {
                switch String(key) {
                case "state":
                    guard let state = PlanState(rawValue: String(value)) else {
                        throw APIError.invalid("state", "state: '\(String(value).prefix(40))' is not one of "
                            + PlanState.allCases.map(\.rawValue).joined(separator: ", "))
                    }
                    arguments.state = state
                case "limit":
                    guard let number = Int(String(value)) else {
                        throw APIError.invalid("limit", "limit: '\(String(value).prefix(40))' is not a whole number")
                    }
                    arguments.limit = number
                default:
                    throw APIError.invalid(String(key), "\(String(key).prefix(40)): unknown parameter; plans are filtered by state and limit")
                }
            }
            return JSONResponse.make(try await gateway.catalog(PlanListCommand.self, arguments))
        }
        routes.get("plans/{id}") { _, context in
            JSONResponse.make(try await gateway.catalog(PlanGetCommand.self, try identifier(context)))
        }
        routes.post("plans/{id}/pause") { _, context in
            JSONResponse.make(try await gateway.catalog(PlanPauseCommand.self, try identifier(context), timeout: .seconds(20)))
        }
        routes.post("plans/{id}/resume") { _, context in
            JSONResponse.make(try await gateway.catalog(PlanResumeCommand.self, try identifier(context)))
        }
        routes.post("plans/{id}/cancel") { _, context in
            JSONResponse.make(try await gateway.catalog(PlanCancelCommand.self, try identifier(context), timeout: .seconds(20)))
        }
        routes.post("plans/{id}/move") { request, context in
            let move = try await RequestBody.decode(Move.self, from: request, limit: limit)
            let id = try identifier(context).id
            return JSONResponse.make(try await gateway.catalog(PlanMoveCommand.self, .init(id: id, position: move.position)))
        }
    }

    /// The plan id of the path.
    static func identifier(_ context: GatewayApplication.Context) throws -> PlanIdentifier {
        let id = try context.parameters.require("id")
        guard PlanRecord.isPlanId(id) else {
            throw APIError.invalid("id", "id: '\(id.prefix(40))' is not a plan id (P and letters, digits or -)")
        }
        return PlanIdentifier(id: id)
    }
}
