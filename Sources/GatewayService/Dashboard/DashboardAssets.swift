import Foundation

/// The dashboard's static files, compiled into the gateway: the files of this target's
/// `Resources/dashboard/` (`.embedInCode`, so nothing is installed beside the executable).
///
/// They hold everything the page needs (no CDN, no external fonts: it works on an observatory
/// network without internet). Every URL in them is relative, so that the page works at the
/// gateway's root and behind nginx under `/api/`. The script is plain JavaScript, no library:
/// it talks to the `/v1` API, follows the events stream (`v1/events`) and keeps the page
/// current without reloading it; it is kept in parts of at most 500 lines (``scriptParts``).
///
/// Each has a strong `ETag` (a hash of its bytes). The page links its script and style sheet
/// with `?v=<hash>`, so that those can be cached for a long time (`immutable`) and a new build
/// is still picked up at once; the page itself is revalidated on every load (`no-cache`).
enum DashboardAssets {
    /// One file.
    struct Asset: Sendable {
        var contentType: String
        var body: [UInt8]
        /// A hash of the body, 16 hex digits.
        var hash: String
        /// The quoted `ETag`.
        var etag: String { "\"\(hash)\"" }

        init(contentType: String, bytes: [UInt8]) {
            self.contentType = contentType
            body = bytes
            hash = DashboardAssets.fnv1a(body)
        }
    }

    /// The script's parts (`Resources/dashboard/dashboard-N.js`), in the order they are served.
    static let scriptParts: [[UInt8]] = [PackageResources.dashboard_1_js, PackageResources.dashboard_2_js,
                                          PackageResources.dashboard_export_js, PackageResources.dashboard_focus_js,
                                          PackageResources.dashboard_history_js, PackageResources.dashboard_plans_js]

    /// `assets/dashboard.js`: the parts in order, inside one strict-mode function, so that they
    /// share one scope and their names stay out of the page's globals.
    static let script: [UInt8] = Array("'use strict';\n(() => {\n".utf8) + scriptParts.joined() + Array("})();\n".utf8)

    /// The files under `assets/`, by name.
    static let files: [String: Asset] = [
        "dashboard.js": Asset(contentType: "text/javascript; charset=utf-8", bytes: script),
        "dashboard.css": Asset(contentType: "text/css; charset=utf-8", bytes: PackageResources.dashboard_css),
        "favicon.svg": Asset(contentType: "image/svg+xml", bytes: PackageResources.favicon_svg),
    ]

    /// The page at `/`, its asset links carrying their hashes.
    static let index: Asset = {
        var html = String(decoding: PackageResources.index_html, as: UTF8.self)
        for (name, asset) in files {
            html = html.replacingOccurrences(of: "\"assets/\(name)\"", with: "\"assets/\(name)?v=\(asset.hash)\"")
        }
        return Asset(contentType: "text/html; charset=utf-8", bytes: Array(html.utf8))
    }()

    /// 64-bit FNV-1a, as hex.
    static func fnv1a(_ bytes: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
