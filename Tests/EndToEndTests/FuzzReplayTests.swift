import Foundation
import Testing
import ProcessTestSupport

/// The fuzz targets (`Benchmarks/Fuzz`, issue 11), built the ordinary way: every crash the
/// fuzzers found is replayed (each once killed a process), then the seed corpus and a short
/// seeded random run. A crash here is a regression; `Benchmarks/fuzz.sh` runs the real fuzzers.
@Suite(.serialized) struct FuzzReplayTests {
    /// The repository's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test(arguments: ["envelope", "http-body", "alpaca", "frame-ring"])
    func reproducersCorpusAndASeededRunCrashNothing(target: String) async throws {
        let fuzz = Self.root + "/Benchmarks/Fuzz"
        var inputs = [fuzz + "/corpus/" + target]
        let crashes = fuzz + "/crashes/" + target
        if FileManager.default.fileExists(atPath: crashes) { inputs.append(crashes) }
        let outputPath = NSTemporaryDirectory() + "aperture-fuzz-replay-\(getpid())-\(target).log"
        FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ServiceHarness.buildDirectory + "/aperture-fuzz-" + target)
        process.arguments = inputs + ["--random", "20000", "--seed", "11", "--dict", fuzz + "/dict/\(target).dict"]
        process.standardOutput = FileHandle(forWritingAtPath: outputPath)
        process.standardError = FileHandle(forWritingAtPath: outputPath)
        try process.run()
        // Waits without holding a thread of the cooperative pool (other suites run meanwhile).
        let deadline = Date().addingTimeInterval(120)
        while !process.hasEnded, Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        if !process.hasEnded { kill(process.processIdentifier, SIGKILL) }
        let status = process.waitForExit()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(target):\n\(output.suffix(3000))")
        #expect(output.contains("no crash"), "\(target):\n\(output.suffix(3000))")
    }
}
