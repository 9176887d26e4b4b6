// aperture-bench-masters: master-frame combines (Calibration.StackCombiner) against numpy's
// median and astropy's sigma_clip on the same frames, in one run (issue 15's figure).
//
//   swift build -c release --product aperture-bench-masters
//   .build/release/aperture-bench-masters [--frames 20] [--rounds 3] [--dir /tmp] [--width 2048] [--height 2048]
//
// Frames: N (default 20) simulator dark frames (300 s: bias, dark current, read noise and
// cosmic rays) of W x H, made by CameraCore's SimulatedCamera as the camera process makes them,
// held in memory (Swift) and written once as one raw uint16 stack that Benchmarks/masters_numpy.py
// loads (numpy and astropy, OMP/BLAS threads 1). Cases, best of R rounds:
//   median / sigma_clip, 1 thread and all cores: StackCombiner.combine from the frames in memory;
//   numpy np.median(stack, axis=0) and astropy sigma_clip(stack, sigma=3, maxiters=5, axis=0).mean(axis=0).
// MB/s counts input pixel bytes (N*W*H*2) per second. The results are compared: the median must
// equal numpy's exactly; the clipped mean's largest difference from astropy's is printed.
// Then the whole master as the catalog makes it (MasterBuilder.build: the frames read from FITS
// files, combined, the float master written and fsynced), best of R rounds.
// Goal: the one-thread median at least 5x numpy's median.

import ArgumentParser
import ApertureProtocol
import BenchmarkSupport
import Calibration
import CameraCore
import FITSStorage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct MasterBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-masters",
        abstract: "Master combines against numpy and astropy on simulator frames (docs/performance.md).")

    @Option(help: "Frames combined.")
    var frames = 20
    @Option(help: "Rounds of every case; the best is reported.")
    var rounds = 3
    @Option(name: .customLong("dir"), help: "Where to make the scratch folder.")
    var directory = "/tmp"
    @OptionGroup var size: FrameSize

    func validate() throws {
        guard frames >= 2, rounds > 0 else { throw ValidationError("--frames must be at least 2 and --rounds positive") }
    }
}

let options = MasterBenchmark.parseOrExit()
let width = options.size.width, height = options.size.height
let count = width * height
let scratch: ScratchDirectory
do {
    scratch = try ScratchDirectory(in: options.directory, prefix: "aperture-bench-masters")
} catch {
    fail("\(error)")
}
defer { scratch.remove() }

/// N dark frames from the simulator.
func simulate() -> [[UInt16]] {
    var configuration = SimulatedCamera.Configuration()
    configuration.width = width
    configuration.height = height
    configuration.timeScale = 0.000001
    let camera = SimulatedCamera(configuration: configuration)
    let settings = AcquisitionSettings(exposureTime: 300, shutter: .closed,
                                       subframe: Subframe(x: 0, y: 0, width: width, height: height), imageType: .dark)
    do {
        _ = try camera.connect()
        return try (0..<options.frames).map { _ throws(CameraError) -> [UInt16] in
            var pixels = [UInt16](repeating: 0, count: count)
            try camera.startAcquisition(settings)
            while try !camera.waitForAcquisition(timeout: 0.01) {}
            try pixels.withUnsafeMutableBufferPointer { buffer throws(CameraError) in try camera.readImage(into: buffer) }
            return pixels
        }
    } catch {
        fail("simulator: \(error)")
    }
}

func withBuffers<R>(_ arrays: [[UInt16]], _ body: ([UnsafeBufferPointer<UInt16>]) -> R) -> R {
    func nest(_ index: Int, _ done: [UnsafeBufferPointer<UInt16>]) -> R {
        index == arrays.count ? body(done) : arrays[index].withUnsafeBufferPointer { nest(index + 1, done + [$0]) }
    }
    return nest(0, [])
}

func readFloats(_ path: String) -> [Float] {
    guard let data = FileManager.default.contents(atPath: path), data.count == count * 4 else { fail("cannot read \(path)") }
    return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}

let images = simulate()
let stackPath = scratch.path + "/stack.raw"
var stackData = Data(capacity: count * 2 * images.count)
for image in images { image.withUnsafeBytes { stackData.append(contentsOf: $0) } }
guard FileManager.default.createFile(atPath: stackPath, contents: stackData) else { fail("cannot write \(stackPath)") }
stackData = Data()

let cores = ProcessInfo.processInfo.activeProcessorCount
print("aperture-bench-masters: \(options.frames) simulator darks (300 s) of \(width)x\(height), \(options.rounds) rounds, "
      + "best round; \(cores) cores, load \(loadAverage()), kernel \(kernelRelease())")

var results: [String: [Float]] = [:]
var seconds: [String: Double] = [:]
let cases: [(String, CombineMethod, Int)] = [
    ("median, 1 thread", .median, 1), ("median, \(cores) threads", .median, cores),
    ("sigma_clip, 1 thread", .sigmaClippedMean(SigmaClip()), 1),
    ("sigma_clip, \(cores) threads", .sigmaClippedMean(SigmaClip()), cores),
]
for _ in 0..<options.rounds {
    for (name, method, threads) in cases {
        var output: [Float] = []
        let elapsed = Timing.seconds {
            output = withBuffers(images) { StackCombiner.combine($0, count: count, method: method, threads: threads) }
        }
        seconds[name] = min(seconds[name] ?? .infinity, elapsed)
        results[name] = output
    }
}

// numpy and astropy, one thread.
var environment = ProcessInfo.processInfo.environment
for key in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"] { environment[key] = "1" }
let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path + "/masters_numpy.py"
let python = Process()
python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
python.arguments = ["python3", script, stackPath, "\(options.frames)", "\(width)", "\(height)", scratch.path + "/numpy",
                    "\(options.rounds)"]
python.environment = environment
let pipe = Pipe()
python.standardOutput = pipe
do { try python.run() } catch { fail("python3: \(error)") }
let reply = pipe.fileHandleForReading.readDataToEndOfFile()
python.waitUntilExit()
guard python.terminationStatus == 0,
      let json = try? JSONSerialization.jsonObject(with: reply) as? [String: Any],
      let numpyMedian = json["median"] as? Double, let astropyClip = json["sigma_clip"] as? Double else {
    fail("masters_numpy.py failed (status \(python.terminationStatus)): \(String(decoding: reply, as: UTF8.self))")
}
let numpyVersion = json["numpy"] as? String ?? "?"

let megabytes = Double(count * 2 * options.frames) / 1e6
var table = Table(names: "combine of \(options.frames) x \(width)x\(height)", figures: ["seconds", "MB/s", "vs numpy median"])
@MainActor func row(_ name: String, _ time: Double) {
    table.append([name, fixed(time, 3), fixed(megabytes / time, 0), fixed(numpyMedian / time, 1) + "x"])
}
for (name, _, _) in cases { row("Swift " + name, seconds[name]!) }
row("numpy \(numpyVersion) median(axis=0)", numpyMedian)
row("astropy sigma_clip(axis=0).mean", astropyClip)
table.print()

// The whole master as the catalog makes it: the 20 frames read from FITS files (cfitsio), the
// median, the float master written and fsynced (MasterBuilder.build, all cores).
let frameFolder = scratch.path + "/20261206"
try? FileManager.default.createDirectory(atPath: frameFolder, withIntermediateDirectories: true)
var rows: [FrameRow] = []
for (index, image) in images.enumerated() {
    let name = "20261206/dark-\(index + 1).fits"
    do {
        try image.withUnsafeBufferPointer { buffer throws(StorageError) in
            try FITSFile.write(pixels: buffer, width: width, height: height,
                               cards: [FITSCard(keyword: "IMAGETYP", value: .string("Dark Frame"))], comments: [],
                               to: scratch.path + "/" + name)
        }
    } catch {
        fail("\(error)")
    }
    var row = FrameRow(id: Int64(index + 1), path: name, bytes: 0, sha256: String(repeating: "0", count: 64), night: "2026-12-05",
                       missing: false, added: "")
    row.imagetyp = "Dark Frame"
    row.width = width
    row.height = height
    row.exptime = 300
    rows.append(row)
}
var wholeSeconds = Double.infinity
for _ in 0..<options.rounds {
    let recipe = MasterBuilder.Recipe(kind: .dark, method: .median, inputs: rows, paths: rows.map { scratch.path + "/" + $0.path })
    var saved: SavedFile?
    let elapsed = Timing.seconds {
        do {
            saved = try MasterBuilder.build(recipe, dataRoot: scratch.path, threads: cores)
        } catch {
            fail("\(error)")
        }
    }
    wholeSeconds = min(wholeSeconds, elapsed)
    if let saved { unlink(saved.path) }
}
print("whole master (MasterBuilder.build: read \(options.frames) FITS files, median on \(cores) threads, write the float master, fsync): "
      + "\(fixed(wholeSeconds, 3)) s, \(fixed(megabytes / wholeSeconds, 0)) MB/s")

let numpyResult = readFloats(scratch.path + "/numpy-median.raw")
let astropyResult = readFloats(scratch.path + "/numpy-clip.raw")
let medianDifference = zip(results[cases[0].0]!, numpyResult).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
let clipDifference = zip(results[cases[2].0]!, astropyResult).reduce(Float(0)) { max($0, abs($1.0 - $1.1)) }
let clipDiffering = zip(results[cases[2].0]!, astropyResult).filter { abs($0.0 - $0.1) > 1e-3 }.count
print("median vs numpy: largest difference \(medianDifference) ADU")
print("sigma_clip mean vs astropy: largest difference \(clipDifference) ADU, \(clipDiffering) of \(count) pixels differ by more than 0.001")
let speedup = numpyMedian / seconds[cases[0].0]!
print("goal: one-thread median at least 5x numpy's median -> \(speedup >= 5 ? "met" : "NOT met") (\(fixed(speedup, 1))x)")
