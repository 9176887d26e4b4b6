import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import Hummingbird

/// `/v1/focus`: focus sessions (the processor's, as evora's focus routes use them) and the
/// measurement of one saved file.
enum V1FocusRoutes {
    /// `POST /v1/focus/sessions/{id}/points`'s body.
    struct PointBody: Decodable {
        /// The focuser position, within ``FocusSessionLimits/position``.
        var position: Double
        /// A FITS file under the data root.
        var filename: String
    }

    /// `POST /v1/focus/sessions`'s body (optional).
    struct CreateBody: Decodable {
        /// The id; nil: made up from the time.
        var id: String?
    }

    /// `POST /v1/focus/measure`'s body.
    struct MeasureBody: Decodable {
        /// A FITS file under the data root.
        var filename: String
    }

    static func register(_ routes: RouteTable, gateway: Gateway) {
        let limit = gateway.configuration.gateway.maxBody
        routes.get("focus/sessions") { _, _ in
            JSONResponse.make(try await gateway.processor(FocusSessionListCommand.self))
        }
        routes.post("focus/sessions") { request, _ in
            let body = try await RequestBody.decode(CreateBody.self, from: request, limit: limit)
            if let id = body.id, let problem = FocusSessionLimits.idProblem(id) { throw APIError.invalid("id", "id: \(problem)") }
            return JSONResponse.make(try await gateway.processor(FocusSessionCreateCommand.self, .init(id: body.id)),
                                     status: .created)
        }
        routes.get("focus/sessions/{id}") { _, context in
            JSONResponse.make(try await gateway.processor(FocusSessionGetCommand.self, .init(id: try sessionId(context))))
        }
        routes.delete("focus/sessions/{id}") { _, context in
            let id = try sessionId(context)
            guard try await gateway.processor(FocusSessionDeleteCommand.self, .init(id: id)).deleted else {
                throw APIError.notFound("no focus session '\(id)'")
            }
            return JSONResponse.make(FocusSessionDeleteCommand.Result(deleted: true))
        }
        routes.post("focus/sessions/{id}/points") { request, context in
            let id = try sessionId(context)
            let body = try await RequestBody.decode(PointBody.self, from: request, limit: limit)
            guard body.position.isFinite, FocusSessionLimits.position.contains(body.position) else {
                throw APIError.invalid("position", "position: \(body.position) is outside -1e9...1e9 (focuser steps)")
            }
            return JSONResponse.make(try await gateway.processor(
                FocusSessionAddCommand.self, .init(id: id, position: body.position, filename: body.filename),
                timeout: EvoraFocusRoutes.measureTimeout))
        }
        routes.get("focus/sessions/{id}/plot.png") { _, context in
            let session = try await gateway.processor(FocusSessionGetCommand.self, .init(id: try sessionId(context)))
            return try await EvoraFocusRoutes.plotResponse(session)
        }
        routes.post("focus/measure") { request, _ in
            let body = try await RequestBody.decode(MeasureBody.self, from: request, limit: limit)
            return JSONResponse.make(try await gateway.processor(MeasureFileCommand.self, .init(filename: body.filename),
                                                                 timeout: EvoraFocusRoutes.measureTimeout))
        }
    }

    /// The `{id}` of the path, checked.
    static func sessionId(_ context: GatewayApplication.Context) throws(APIError) -> String {
        let id: String
        do {
            id = try context.parameters.require("id")
        } catch {
            throw APIError.invalid("id", "id: is required")
        }
        if let problem = FocusSessionLimits.idProblem(id) { throw APIError.invalid("id", "id: \(problem)") }
        return id
    }
}
