import ApertureConfig
import ApertureProtocol
import Bus
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/frames`: the frame catalog (aperture-catalog over catalog.ctl): the rows a query
/// selects as JSON or CSV, a page at a time; one row with its headers; its file; a summary.
enum CatalogRoutes {
    static func register(_ routes: RouteTable, gateway: Gateway) {
        let fileIO = FileIO()
        let root = gateway.configuration.storage.dataRoot
        routes.get("frames") { request, _ in
            let query = try parse(request)
            let page = try await gateway.catalog(CatalogFramesCommand.self, query)
            if wantsCSV(request) { return csv(page, request: request) }
            return JSONResponse.make(page)
        }
        routes.get("frames/summary") { request, _ in
            JSONResponse.make(try await gateway.catalog(CatalogSummaryCommand.self, try parse(request)))
        }
        routes.get("frames/{id}") { _, context in
            JSONResponse.make(try await gateway.catalog(CatalogFrameCommand.self, .init(id: try id(context))))
        }
        routes.get("frames/{id}/file") { request, context in
            let row = try await gateway.catalog(CatalogFrameCommand.self, .init(id: try id(context)))
            let parts = row.path.split(separator: "/").map(String.init)
            guard parts.count == 2, !row.missing else {
                throw APIError.notFound("frame \(row.id): its file \(row.path) is \(row.missing ? "missing" : "not in a night folder")")
            }
            let path = try FileRoutes.resolve(root: root, night: parts[0], name: parts[1])
            return try await FileRoutes.download(path, request: request, context: context, fileIO: fileIO)
        }
    }

    /// The row id of the path.
    static func id(_ context: GatewayApplication.Context) throws -> Int64 {
        let text = try context.parameters.require("id")
        guard let id = Int64(text), id > 0 else {
            throw APIError.invalid("id", "id: '\(text.prefix(40))' is not a frame id (a whole number from 1)")
        }
        return id
    }

    /// The query's filters, checked where they enter.
    static func parse(_ request: Request) throws(APIError) -> FrameQuery {
        let pairs = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        do throws(BusError) {
            return try FrameQuery(parameters: pairs)
        } catch {
            throw APIError(error, from: .catalog)
        }
    }

    /// Whether the client asked for CSV (`Accept: text/csv`) rather than JSON.
    static func wantsCSV(_ request: Request) -> Bool {
        guard let accept = request.headers[.accept]?.lowercased() else { return false }
        return accept.split(separator: ",").contains { $0.split(separator: ";").first?.trimmingCharacters(in: .whitespaces) == "text/csv" }
    }

    /// The page as CSV (RFC 4180, a header line); the next page's cursor in `Link` and `Aperture-Next-Cursor`.
    static func csv(_ page: FramePage, request: Request) -> Response {
        var text = FrameRow.csvLine(FrameRow.csvColumns) + "\r\n"
        for row in page.frames {
            text += FrameRow.csvLine(row.csvValues) + "\r\n"
        }
        var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-cache"]
        if let next = page.next, let name = HTTPField.Name("Aperture-Next-Cursor"), let link = HTTPField.Name("Link") {
            headers[name] = next
            var components = URLComponents()
            components.path = "/v1/frames"
            var items = request.uri.queryParameters.filter { $0.key != "cursor" }
                .map { URLQueryItem(name: String($0.key), value: String($0.value)) }
            items.append(URLQueryItem(name: "cursor", value: next))
            components.queryItems = items
            if let target = components.string { headers[link] = "<\(target)>; rel=\"next\"" }
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
