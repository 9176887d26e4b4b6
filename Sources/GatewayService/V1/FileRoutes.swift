import Bus
import ApertureConfig
import FITSStorage
import Foundation
#if canImport(Glibc)
import CDispatch  // stat() and its fields come through it in release builds (MemberImportVisibility)
import Glibc
#endif
import HTTPTypes
import Hummingbird
import NIOCore

/// `/v1/files`: the FITS files under the data root, by night (`DATA_ROOT/YYYYMMDD/`), plain
/// (`.fits`) and Rice tile-compressed (`.fits.fz`), with downloads that honour HTTP `Range`.
///
/// Only `YYYYMMDD` folders and the files directly in them are reachable: a night must be eight
/// digits, a name must not start with a dot or hold a slash, and the resolved path (symbolic
/// links followed) must still lie under the data root, so `../` in any form gets 400 or 404.
enum FileRoutes {
    struct Night: Encodable {
        var night: String
        var files: Int
        var bytes: Int
    }

    struct Listing: Encodable {
        struct File: Encodable {
            var name: String
            var size: Int
            var modified: Double
            var url: String
        }
        var night: String
        var files: [File]
    }

    static func register(_ routes: RouteTable, gateway: Gateway) {
        let root = gateway.configuration.storage.dataRoot
        let fileIO = FileIO()
        routes.get("files") { _, _ in
            JSONResponse.make(["nights": try nights(root: root)])
        }
        routes.get("files/{night}") { _, context in
            let night = try validNight(try context.parameters.require("night"))
            return JSONResponse.make(try listing(root: root, night: night))
        }
        routes.get("files/{night}/{name}") { request, context in
            let night = try validNight(try context.parameters.require("night"))
            let name = try context.parameters.require("name")
            let path = try resolve(root: root, night: night, name: name.removingPercentEncoding ?? name)
            return try await download(path, request: request, context: context, fileIO: fileIO)
        }
    }

    static func validNight(_ night: String) throws(APIError) -> String {
        guard FrameStore.isNightFolderName(night) else {
            throw APIError.invalid("night", "night: must be a date as YYYYMMDD (got '\(night.prefix(40))')")
        }
        return night
    }

    static func nights(root: String) throws(APIError) -> [Night] {
        let manager = FileManager.default
        guard let entries = try? manager.contentsOfDirectory(atPath: root) else { return [] }
        return entries.filter { (try? validNight($0)) != nil }.sorted().compactMap { night in
            guard let listing = try? listing(root: root, night: night) else { return nil }
            return Night(night: night, files: listing.files.count, bytes: listing.files.reduce(0) { $0 + $1.size })
        }
    }

    static func listing(root: String, night: String) throws(APIError) -> Listing {
        // The folder itself must lie under the data root (a symbolic link out of it does not).
        guard let resolvedRoot = realpath(root), let folder = realpath(root + "/" + night),
              folder.hasPrefix(resolvedRoot + "/"),
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
            throw APIError.notFound("night \(night): no such folder under the data root")
        }
        var files: [Listing.File] = []
        for name in names.sorted() where !name.hasPrefix(".") && FITSFile.isFITSName(name) {
            var info = stat()
            guard stat(folder + "/" + name, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            let modified = Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
            files.append(.init(name: name, size: Int(info.st_size), modified: modified, url: "files/\(night)/\(name)"))
        }
        return Listing(night: night, files: files)
    }

    /// The file's real path, checked to lie under the data root.
    static func resolve(root: String, night: String, name: String) throws(APIError) -> String {
        guard !name.isEmpty, !name.hasPrefix("."), !name.contains("/"), !name.contains("\0") else {
            throw APIError.invalid("name", "name: '\(name.prefix(80))' is not a file name in the night's folder")
        }
        let path = root + "/" + night + "/" + name
        guard let resolvedRoot = realpath(root), let resolved = realpath(path) else {
            throw APIError.notFound("\(night)/\(name): no such file")
        }
        guard resolved.hasPrefix(resolvedRoot + "/") else {
            throw APIError.notFound("\(night)/\(name): no such file under the data root")
        }
        var info = stat()
        guard stat(resolved, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw APIError.notFound("\(night)/\(name): not a regular file")
        }
        return resolved
    }

    private static func realpath(_ path: String) -> String? {
        guard let pointer = Glibc.realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// The file, whole (200) or the one byte range asked for (206), with `Accept-Ranges`.
    static func download(_ path: String, request: Request, context: GatewayApplication.Context,
                         fileIO: FileIO) async throws -> Response {
        var info = stat()
        guard stat(path, &info) == 0 else { throw APIError.notFound("the file vanished") }
        let size = Int(info.st_size)
        let name = URL(fileURLWithPath: path).lastPathComponent
        var headers: HTTPFields = [
            // A `.fits.fz` is a FITS file too (an empty primary HDU and a BINTABLE extension,
            // the tiled image convention): application/fits (RFC 4047), not gzip.
            .contentType: "application/fits",
            .acceptRanges: "bytes",
            .contentDisposition: "attachment; filename=\"\(name)\"",
            .lastModified: httpDate(Double(info.st_mtim.tv_sec)),
        ]
        if let rangeHeader = request.headers[.range] {
            guard let range = try byteRange(rangeHeader, size: size) else {
                return APIError(.rangeNotSatisfiable, .rangeNotSatisfiable,
                                "Range '\(rangeHeader)' lies outside the file's \(size) bytes", field: "Range")
                    .responseWith([.contentRange: "bytes */\(size)", .acceptRanges: "bytes"])
            }
            headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"
            headers[.contentLength] = String(range.count)
            let body = try await fileIO.loadFile(path: path, range: range, context: context)
            return Response(status: .partialContent, headers: headers, body: body)
        }
        headers[.contentLength] = String(size)
        if size == 0 { return Response(status: .ok, headers: headers, body: .init()) }
        let body = try await fileIO.loadFile(path: path, context: context)
        return Response(status: .ok, headers: headers, body: body)
    }

    /// One `bytes=` range; nil when it cannot be satisfied. Several ranges are refused (400).
    static func byteRange(_ header: String, size: Int) throws(APIError) -> ClosedRange<Int>? {
        guard header.hasPrefix("bytes=") else {
            throw APIError.invalid("Range", "Range: only 'bytes=' ranges are served (got '\(header.prefix(60))')")
        }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(",") else {
            throw APIError.invalid("Range", "Range: ask for one range at a time")
        }
        let parts = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw APIError.invalid("Range", "Range: '\(spec)' is not FIRST-LAST") }
        if parts[0].isEmpty {
            guard let suffix = Int(parts[1]), suffix > 0 else { throw APIError.invalid("Range", "Range: '\(spec)' is not -COUNT") }
            guard size > 0 else { return nil }
            return max(0, size - suffix)...(size - 1)
        }
        guard let first = Int(parts[0]), first >= 0 else { throw APIError.invalid("Range", "Range: '\(spec)' has no valid first byte") }
        let last: Int
        if parts[1].isEmpty {
            last = size - 1
        } else {
            guard let value = Int(parts[1]), value >= first else {
                throw APIError.invalid("Range", "Range: '\(spec)': the last byte must be a number not below the first")
            }
            last = min(value, size - 1)
        }
        guard first < size else { return nil }
        return first...last
    }

    static func httpDate(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }
}

extension APIError {
    /// The error's response with extra headers.
    func responseWith(_ extra: HTTPFields) -> Response {
        var response = self.response
        for field in extra { response.headers[field.name] = field.value }
        return response
    }
}
