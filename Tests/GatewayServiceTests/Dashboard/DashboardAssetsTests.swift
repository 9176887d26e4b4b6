import Foundation
import Testing
@testable import GatewayService

/// The dashboard's files (`Sources/GatewayService/Resources/dashboard/`): every one is served,
/// the script is its parts in order, and it parses (`node --check`).
@Suite struct DashboardAssetsTests {
    static func scriptParts() throws -> [String] {
        try ResourceFiles.names(in: "dashboard").filter { $0.hasPrefix("dashboard-") && $0.hasSuffix(".js") }
    }

    @Test func everyFileIsServedAndTheScriptIsItsPartsInOrder() throws {
        let parts = try Self.scriptParts()
        #expect(parts.count >= 2, "\(parts)")
        let served = Set(DashboardAssets.files.keys).subtracting(["dashboard.js"]).union(["index.html"]).union(parts)
        #expect(Set(try ResourceFiles.names(in: "dashboard")) == served, "a file of Resources/dashboard/ that is not served")
        #expect(try DashboardAssets.scriptParts.map { Data($0) } == parts.map { try ResourceFiles.contents("dashboard", $0) },
                "DashboardAssets.scriptParts is not \(parts.joined(separator: ", ")) in that order")
        let script = String(decoding: try #require(DashboardAssets.files["dashboard.js"]).body, as: UTF8.self)
        #expect(script.hasPrefix("'use strict';\n(() => {\n") && script.hasSuffix("})();\n"))
    }

    /// The script as served, and each part on its own (as an editor sees it).
    @Test func theScriptParses() async throws {
        let script = try #require(DashboardAssets.files["dashboard.js"]).body
        let file = try ResourceFiles.temporaryFile("dashboard.js", script)
        defer { try? FileManager.default.removeItem(atPath: (file as NSString).deletingLastPathComponent) }
        let partPaths = try Self.scriptParts().map { "Sources/GatewayService/Resources/dashboard/" + $0 }
        for path in [file] + partPaths {
            let (status, output) = try await ResourceFiles.run(["node", "--check", path])
            #expect(status == 0, "node --check \(path) (nodejs: scripts/install-deps.sh --test):\n\(output)")
        }
    }
}
