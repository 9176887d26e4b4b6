import ApertureProtocol
import Bus
import Foundation
import Hummingbird

/// `/v1/export`: the export of frames to the facility's archive (aperture-catalog's exporter,
/// over catalog.ctl): its status (backlog, lag, connection), and pause and resume at run time.
enum ExportRoutes {
    /// Pause and resume write to the catalog's database, which a burst of frames keeps busy:
    /// more than a query's seconds.
    static let controlTimeout: Duration = .seconds(15)

    static func register(_ routes: RouteTable, gateway: Gateway) {
        routes.get("export") { _, _ in
            JSONResponse.make(try await gateway.catalog(ExportStatusCommand.self, NoArguments()))
        }
        routes.post("export/pause") { _, _ in
            JSONResponse.make(try await gateway.catalog(ExportPauseCommand.self, NoArguments(), timeout: controlTimeout))
        }
        routes.post("export/resume") { _, _ in
            JSONResponse.make(try await gateway.catalog(ExportResumeCommand.self, NoArguments(), timeout: controlTimeout))
        }
    }
}
