import ApertureConfig
import ApertureProtocol
import Bus
import FITSStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Plate solving under `/v1`: `POST /v1/solutions` solves a saved file (or the latest frame)
/// through the processor's `solve`, `GET /v1/solutions/{id}` reads a solution back, and
/// `GET /v1/solutions/{id}/visualization.png` draws the frame with its detected stars (circles)
/// and the matched catalogue stars (squares). evora's `POST /api/plate_solve`
/// (``EvoraFramingRoutes``) uses the same call and picture.
package enum SolvingRoutes {
    /// A solution as `/v1` shows it: the processor's, with the picture's URL.
    struct Reply: Encodable {
        var solution: PlateSolution
        var visualizationURL: String?
        func encode(to encoder: any Encoder) throws {
            try solution.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(visualizationURL, forKey: .visualizationURL)
        }
        enum Key: String, CodingKey { case visualizationURL = "visualization_url" }
    }

    static func register(_ routes: RouteTable, gateway: Gateway) {
        routes.post("solutions") { request, _ in
            try gateway.authorize(request)
            let arguments = try await RequestBody.decode(SolveCommand.Arguments.self, from: request,
                                                         limit: gateway.configuration.gateway.maxBody)
            let solution = try await solve(arguments, gateway: gateway)
            return JSONResponse.make(Reply(solution: solution, visualizationURL: visualizationPath(solution)),
                                     status: .created, headers: [.location: "solutions/\(solution.id)"])
        }
        routes.get("solutions/{id}") { _, context in
            let id = try context.parameters.require("id")
            let solution = try await gateway.processor(SolutionQueryCommand.self, .init(id: id))
            return JSONResponse.make(Reply(solution: solution, visualizationURL: visualizationPath(solution)))
        }
        routes.get("solutions/{id}/visualization.png") { _, context in
            let id = try context.parameters.require("id")
            let solution = try await gateway.processor(SolutionQueryCommand.self, .init(id: id))
            // Reading and drawing a whole frame: off the event loops and the cooperative pool.
            let root = gateway.configuration.storage.dataRoot
            let png = try await Gateway.offload { try visualization(solution, root: root) }
            return Response(status: .ok, headers: [.contentType: "image/png", .cacheControl: "max-age=3600"],
                            body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
    }

    /// The picture's path under the gateway (`/v1/solutions/{id}/visualization.png`) for a
    /// solution with a frame to draw; nil otherwise.
    static func visualizationPath(_ solution: PlateSolution) -> String? {
        solution.width == nil ? nil : "/v1/solutions/\(solution.id)/visualization.png"
    }

    /// Asks the processor to solve, waiting as long as the time limit allows (and a margin for
    /// reading the file and finding its stars).
    static func solve(_ arguments: SolveCommand.Arguments, gateway: Gateway) async throws(APIError) -> PlateSolution {
        var limit = gateway.configuration.processor.solveTimeLimit
        if let asked = arguments.timeLimit, asked.isFinite, asked > 0, asked <= 600 { limit = .seconds(asked) }
        return try await gateway.processor(SolveCommand.self, arguments, timeout: limit + .seconds(30))
    }

    /// Draws the solved frame (zscale, at most 1024 pixels wide, top row up) with a circle on
    /// each detected star and a square on each matched catalogue star.
    /// - Throws: ``APIError`` 404 when the solution has no frame or the file is gone.
    static func visualization(_ solution: PlateSolution, root: String) throws(APIError) -> [UInt8] {
        guard let file = solution.file, solution.width != nil else {
            throw APIError.notFound("solution \(solution.id) has no frame to draw (\(solution.failureReason ?? "no file"))")
        }
        let path = file.hasPrefix("/") ? file : root + "/" + file
        let frame: (width: Int, height: Int, pixels: [UInt16], header: [String: String])
        do throws(StorageError) {
            frame = try FITSFile.read(path: path)
        } catch {
            throw APIError.notFound("the frame of solution \(solution.id) cannot be read: \(error.message)")
        }
        let topDown = frame.header["ROWORDER"]?.contains("BOTTOM-UP") != true
        var image = frame.pixels.withUnsafeBufferPointer {
            PreviewImage.render($0, frameWidth: frame.width, frameHeight: frame.height, topDown: topDown,
                                   width: 1024, stretch: .zscale)
        }
        let factor = Double(image.width) / Double(frame.width)
        /// A frame point (0-based, file row order) on the picture.
        func place(_ point: PixelPoint) -> (Double, Double) {
            let row = topDown ? point.y : Double(frame.height - 1) - point.y
            return ((point.x + 0.5) * factor - 0.5, (row + 0.5) * factor - 0.5)
        }
        func plot(_ x: Int, _ y: Int, _ level: UInt8) {
            guard x >= 0, y >= 0, x < image.width, y < image.height else { return }
            image.grey[y * image.width + x] = level
        }
        for star in solution.stars {
            let (cx, cy) = place(star)
            let radius = 8.0
            for step in 0..<64 {
                let angle = Double(step) * 2 * .pi / 64
                plot(Int((cx + radius * cos(angle)).rounded()), Int((cy + radius * sin(angle)).rounded()), 255)
            }
        }
        for match in solution.matches {
            let (cx, cy) = place(match)
            let half = 12
            let x0 = Int(cx.rounded()), y0 = Int(cy.rounded())
            for offset in -half...half {
                plot(x0 + offset, y0 - half, 255)
                plot(x0 + offset, y0 + half, 255)
                plot(x0 - half, y0 + offset, 255)
                plot(x0 + half, y0 + offset, 255)
            }
        }
        do throws(PNGEncoder.Failure) {
            return try PNGEncoder.encodeGrey(image.grey, width: image.width, height: image.height, text: [
                ("Title", "Aperture plate solution \(solution.id)"),
                ("Comment", "circles: \(solution.stars.count) detected stars; squares: \(solution.matches.count) matched catalogue stars"),
            ])
        } catch {
            throw APIError(.internalServerError, .internal, "the picture cannot be encoded: \(error)")
        }
    }
}
