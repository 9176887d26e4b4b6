import Foundation
import Testing
import ProcessTestSupport

/// The files of `Sources/GatewayService/Resources/` as they are in the source tree, and the
/// linters the tests run on them.
enum ResourceFiles {
    /// The package's root folder.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let resources = root.appendingPathComponent("Sources/GatewayService/Resources")

    /// The names of the files in a folder of `Resources/`, sorted.
    static func names(in folder: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: resources.appendingPathComponent(folder).path).sorted()
    }

    static func contents(_ folder: String, _ name: String) throws -> Data {
        try Data(contentsOf: resources.appendingPathComponent(folder).appendingPathComponent(name))
    }

    /// Writes `bytes` to a new temporary file named `name` and returns its path.
    static func temporaryFile(_ name: String, _ bytes: some Sequence<UInt8>) throws -> String {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("aperture-resources-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    /// Runs a program found on `PATH` (through `env`, which answers 127 when there is none)
    /// and returns its exit status and what it printed on both outputs. Waits without holding a
    /// thread of the cooperative pool: a linter takes seconds, and on a 2-core machine two
    /// blocked threads would stall every other suite's bus replies for as long.
    static func run(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let log = try temporaryFile("output.log", [])
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: log).deletingLastPathComponent().path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.currentDirectoryURL = root
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = output
        process.standardError = output
        try process.run()
        try? output.close()
        let deadline = ContinuousClock.now + .seconds(120)
        while !process.hasEnded, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        if !process.hasEnded { kill(process.processIdentifier, SIGKILL) }
        return (process.waitForExit(), (try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
    }
}

@Suite struct ResourceFilesTests {
    /// Text is kept in files a person can read whole and an editor and a linter can check
    /// (issue 12): none holds more than 500 lines.
    @Test func noResourceFileHoldsMoreThan500Lines() throws {
        var checked = 0
        for folder in try FileManager.default.contentsOfDirectory(atPath: ResourceFiles.resources.path) {
            for name in try ResourceFiles.names(in: folder) {
                let lines = try ResourceFiles.contents(folder, name).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count - 1
                #expect(lines <= 500, "Resources/\(folder)/\(name) has \(lines) lines: split it (see OpenAPIDocument, DashboardAssets)")
                checked += 1
            }
        }
        #expect(checked >= 10, "only \(checked) resource files found under \(ResourceFiles.resources.path)")
    }
}
