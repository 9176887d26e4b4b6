import Foundation
import Testing

/// The fuzz targets (`Benchmarks/Fuzz`, issue 11), built the ordinary way: every crash the
/// fuzzers found is replayed (each once killed a process), then the seed corpus and a short
/// seeded random run. A crash here is a regression; `Benchmarks/fuzz.sh` runs the real fuzzers.
@Suite struct FuzzReplayTests {
    /// The repository's root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    @Test(arguments: ["envelope", "http-body", "alpaca", "frame-ring"])
    func reproducersCorpusAndASeededRunCrashNothing(target: String) throws {
        let fuzz = Self.root + "/Benchmarks/Fuzz"
        var inputs = [fuzz + "/corpus/" + target]
        let crashes = fuzz + "/crashes/" + target
        if FileManager.default.fileExists(atPath: crashes) { inputs.append(crashes) }
        let (code, output) = try ServiceHarness.run([
            ServiceHarness.buildDirectory + "/aperture-fuzz-" + target,
        ] + inputs + ["--random", "20000", "--seed", "11", "--dict", fuzz + "/dict/\(target).dict"])
        #expect(code == 0, "\(target):\n\(output.suffix(3000))")
        #expect(output.contains("no crash"), "\(target):\n\(output.suffix(3000))")
    }
}
