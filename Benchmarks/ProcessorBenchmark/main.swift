// aperture-bench-processor: frames analysed per second by FrameAnalysis, beside numpy doing the
// same work on the same frames in the same run (issue 5).
//
//   swift build -c release --scratch-path .build-analysis --product aperture-bench-processor
//   .build-analysis/release/aperture-bench-processor [--frames N] [--seconds S] [--rounds R] [--width W] [--height H]
//
// Frames: N (default 4) simulator object frames of W x H (default 2048 x 2048) 16-bit pixels,
// 10 s exposures of a field of 800 stars (200 per megapixel, the simulator's default density),
// generated once and written to a raw file in a fresh folder under /tmp for numpy.
//
// Work per frame, both sides: min and max with their first positions, mean, sigma (population),
// total, net (border of 1 pixel), centroid and its sigmas (no threshold), a 1024-bin histogram
// over 0...65535 with the counts below and above and its entropy, x and y profiles (sums),
// saturated pixel count (>= 65535), and two 512x512 ROIs (signal and background) with their
// x-profiles and the background-subtracted signal. Swift: FrameAnalyzer.analyze into a reused
// result. numpy: the script below, the way a numpy user writes it (one vectorised call per
// quantity, centroid from the profiles), in one python3 process that stays up for the run.
// Both single-threaded. The cases run in R alternating rounds (default 3) of S seconds each
// (default 2), cycling over the frames, so that a load that comes and goes on this shared
// machine weighs on all of them alike; the medians of the rounds are reported, wall-clock rate
// and CPU time per frame of the analysing thread. A third case adds the focus metrics (star
// detection, FWHM, HFD) on the Swift side; numpy has no equivalent. For reference, a fourth case
// is numpy written by someone who knows the trick FrameAnalysis uses: one exact 16-bit histogram
// (np.bincount) from which the binned histogram, mean, sigma and saturation are derived; the
// goal is measured against the first (the numpy users write), the fourth is shown beside it.
//
// Before timing, the Swift results of frame 0 are compared with numpy's; the run stops if they
// differ.

import ApertureProtocol
import ArgumentParser
import BenchmarkSupport
import CameraCore
import FrameAnalysis
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

/// The options; the benchmark itself is this file's top-level code, which reads them first.
struct ProcessorBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-processor",
        abstract: "Frames analysed per second by FrameAnalysis, beside numpy doing the same work (docs/performance.md).")

    @Option(help: "Distinct frames generated.")
    var frames = 4
    @Option(help: "Timed seconds per case and round.")
    var seconds = 2.0
    @Option(help: "Alternating rounds of the cases; medians are reported.")
    var rounds = 3
    @OptionGroup var size: FrameSize

    func validate() throws {
        guard frames > 0, rounds > 0 else { throw ValidationError("--frames and --rounds must be positive integers") }
        guard seconds > 0, seconds.isFinite else { throw ValidationError("--seconds must be a positive number") }
        guard size.width >= 1024, size.height >= 1024 else { throw ValidationError("--width and --height must be at least 1024") }
    }
}

let options = ProcessorBenchmark.parseOrExit()
let width = options.size.width, height = options.size.height, pixelCount = width * height

// MARK: - The work

let signalROI = ROI(offsetX: width / 2 - 256, sizeX: 512, offsetY: height / 2 - 512, sizeY: 512)
let backgroundROI = ROI(offsetX: width / 2 - 256, sizeX: 512, offsetY: height / 2, sizeY: 512)

var configuration = AnalysisConfiguration()
configuration.signalROI = signalROI
configuration.backgroundROI = backgroundROI
configuration.histogramBins = 1024
configuration.histogramMinimum = 0
configuration.histogramMaximum = 65535
configuration.netBorderWidth = 1
configuration.saturationThreshold = 65535
var focusConfiguration = configuration
focusConfiguration.focus = true

// MARK: - Frames

let scratch: ScratchDirectory
do {
    scratch = try ScratchDirectory(in: "/tmp", prefix: "aperture-bench-processor")
} catch {
    fail("\(error)")
}
let folder = scratch.path
defer { scratch.remove() }

print("aperture-bench-processor: FrameAnalysis vs numpy, \(width)x\(height) UInt16 frames, one thread each")
var generationStart = Timing.seconds()
var simulator = SimulatedCamera.Configuration()
simulator.width = width
simulator.height = height
simulator.starCount = width * height / 5243  // 200 stars per 1024x1024, the default density
simulator.timeScale = 0.0001
let camera = SimulatedCamera(configuration: simulator)
do {
    _ = try camera.connect()
} catch {
    fail("simulator: \(error)")
}
let settings = AcquisitionSettings(exposureTime: 10, shutter: .auto, subframe: Subframe(x: 0, y: 0, width: width, height: height),
                                   imageType: .object)
var frames = [UInt16](repeating: 0, count: pixelCount * options.frames)
do {
    try frames.withUnsafeMutableBufferPointer { all throws(CameraError) in
        for index in 0..<options.frames {
            try camera.startAcquisition(settings)
            while try !camera.waitForAcquisition(timeout: 0.01) {}
            try camera.readImage(into: UnsafeMutableBufferPointer(rebasing: all[(index * pixelCount)..<((index + 1) * pixelCount)]))
        }
    }
} catch {
    fail("simulator: \(error)")
}
let rawPath = folder + "/frames.raw"
guard frames.withUnsafeBytes({ FileManager.default.createFile(atPath: rawPath, contents: Data($0)) }) else {
    fail("cannot write \(rawPath)")  // little-endian on x86_64 and arm64, as numpy reads it ("<u2")
}
print("  \(options.frames) simulator object frames (10 s, \(simulator.starCount) stars) generated in "
    + String(format: "%.1f s", Timing.seconds() - generationStart) + ", written to \(rawPath)")
print("  work: min/max + positions, mean, sigma, total, net (border 1), centroid + sigmas, 1024-bin histogram")
print("        (0...65535, below/above, entropy), x/y profiles, saturated count, ROIs \(signalROI) and")
print("        \(backgroundROI) with x-profiles and background-subtracted signal")

// MARK: - numpy

let numpyScript = #"""
import json, sys, time
import numpy as np

path, w, h, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sig = json.loads(sys.argv[5]); bkg = json.loads(sys.argv[6])
BINS, LO, HI, BORDER, SAT = 1024, 0.0, 65535.0, 1, 65535
frames = np.fromfile(path, dtype="<u2").reshape(n, h, w)
xs = np.arange(w, dtype=np.float64)
ys = np.arange(h, dtype=np.float64)

def analyse(img):
    r = {}
    amin = int(img.argmin()); amax = int(img.argmax())
    r["min_max"] = {"min": int(img.min()), "min_x": amin % w, "min_y": amin // w,
                    "max": int(img.max()), "max_x": amax % w, "max_y": amax // w}
    r["mean"] = float(img.mean())
    r["sigma"] = float(img.std())
    total = int(img.sum(dtype=np.uint64))
    r["total"] = total
    inner = int(img[BORDER:h - BORDER, BORDER:w - BORDER].sum(dtype=np.uint64))
    border_pixels = w * h - (w - 2 * BORDER) * (h - 2 * BORDER)
    r["net"] = total - (total - inner) / border_pixels * (w * h)
    px = img.sum(axis=0, dtype=np.uint64).astype(np.float64)
    py = img.sum(axis=1, dtype=np.uint64).astype(np.float64)
    t = px.sum()
    cx = (px * xs).sum() / t
    cy = (py * ys).sum() / t
    r["centroid"] = {"x": cx, "y": cy, "sigma_x": float(np.sqrt((px * (xs - cx) ** 2).sum() / t)),
                     "sigma_y": float(np.sqrt((py * (ys - cy) ** 2).sum() / t))}
    counts, _ = np.histogram(img, bins=BINS, range=(LO, HI))
    below = int((img < LO).sum()); above = int((img > HI).sum())
    p = counts[counts > 0] / counts.sum()
    r["histogram"] = {"counts": counts.tolist(), "below": below, "above": above,
                      "entropy": float(-(p * np.log(p)).sum())}
    r["profile_x"] = px; r["profile_y"] = py
    r["saturated_pixels"] = int((img >= SAT).sum())
    ox, sx, oy, sy = sig
    s = img[oy:oy + sy, ox:ox + sx].sum(axis=0, dtype=np.uint64)
    ox, bx, oy, by = bkg
    b = img[oy:oy + by, ox:ox + bx].sum(axis=0, dtype=np.uint64)
    r["roi_signal_x_profile"] = s; r["roi_background_x_profile"] = b
    r["background_subtracted_signal"] = s.astype(np.float64) - b.astype(np.float64) * (sy / by)
    return r

VALUES = np.arange(65536, dtype=np.float64)

def analyse_bincount(img):
    # What an expert might write: one exact 16-bit histogram (np.bincount), and mean, sigma,
    # the binned histogram and the saturated count derived from it, as FrameAnalysis does.
    r = {}
    full = np.bincount(img.ravel(), minlength=65536).astype(np.float64)
    n = img.size
    nonzero = np.flatnonzero(full)
    amin = int(img.argmin()); amax = int(img.argmax())
    r["min_max"] = {"min": int(nonzero[0]), "min_x": amin % w, "min_y": amin // w,
                    "max": int(nonzero[-1]), "max_x": amax % w, "max_y": amax // w}
    total = int(full @ VALUES)
    r["mean"] = total / n
    r["sigma"] = float(np.sqrt((full * (VALUES - total / n) ** 2).sum() / n))
    r["total"] = total
    inner = int(img[BORDER:h - BORDER, BORDER:w - BORDER].sum(dtype=np.uint64))
    border_pixels = w * h - (w - 2 * BORDER) * (h - 2 * BORDER)
    r["net"] = total - (total - inner) / border_pixels * (w * h)
    px = img.sum(axis=0, dtype=np.uint64).astype(np.float64)
    py = img.sum(axis=1, dtype=np.uint64).astype(np.float64)
    t = px.sum()
    cx = (px * xs).sum() / t
    cy = (py * ys).sum() / t
    r["centroid"] = {"x": cx, "y": cy, "sigma_x": float(np.sqrt((px * (xs - cx) ** 2).sum() / t)),
                     "sigma_y": float(np.sqrt((py * (ys - cy) ** 2).sum() / t))}
    counts, _ = np.histogram(VALUES, bins=BINS, range=(LO, HI), weights=full)
    p = counts[counts > 0] / counts.sum()
    r["histogram"] = {"counts": counts.astype(np.int64).tolist(), "below": int(full[VALUES < LO].sum()),
                      "above": int(full[VALUES > HI].sum()), "entropy": float(-(p * np.log(p)).sum())}
    r["profile_x"] = px; r["profile_y"] = py
    r["saturated_pixels"] = int(full[SAT:].sum())
    ox, sx, oy, sy = sig
    s = img[oy:oy + sy, ox:ox + sx].sum(axis=0, dtype=np.uint64)
    ox, bx, oy, by = bkg
    b = img[oy:oy + by, ox:ox + bx].sum(axis=0, dtype=np.uint64)
    r["roi_signal_x_profile"] = s; r["roi_background_x_profile"] = b
    r["background_subtracted_signal"] = s.astype(np.float64) - b.astype(np.float64) * (sy / by)
    return r

first = analyse(frames[0])
expert = analyse_bincount(frames[0])
assert expert["histogram"]["counts"] == first["histogram"]["counts"] and expert["total"] == first["total"]
assert abs(expert["sigma"] - first["sigma"]) < 1e-9 * first["sigma"] and expert["min_max"] == first["min_max"]
for key in ("profile_x", "profile_y", "roi_signal_x_profile", "roi_background_x_profile", "background_subtracted_signal"):
    first[key] = [float(v) for v in first[key]]
print(json.dumps({"numpy": np.__version__, "first": first}), flush=True)
count = 0
for line in sys.stdin:  # one timed round per line: "plain|bincount SECONDS"
    kind, seconds = line.split()
    seconds = float(seconds)
    function = analyse if kind == "plain" else analyse_bincount
    done = 0
    start = time.perf_counter(); cpu = time.thread_time()
    while True:
        function(frames[count % n])
        count += 1; done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            break
    print(json.dumps({"frames": done, "seconds": elapsed, "cpu": time.thread_time() - cpu}), flush=True)
"""#

/// The numpy side: one python3 process, fed one line per timed round.
@MainActor final class NumpyPeer {
    let process: LineProcess
    var version = "?"
    var first: [String: Any] = [:]

    init() {
        let scriptPath = folder + "/numpy_analysis.py"
        _ = FileManager.default.createFile(atPath: scriptPath, contents: Data(numpyScript.utf8))
        var environment = ProcessInfo.processInfo.environment
        for key in ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"] {
            environment[key] = "1"
        }
        do {
            process = try LineProcess(executable: "/usr/bin/env", arguments: [
                "python3", scriptPath, rawPath, "\(width)", "\(height)", "\(options.frames)",
                "\(signalROI.array)", "\(backgroundROI.array)",
            ], environment: environment)
        } catch {
            fail("python3: \(error)")
        }
        let hello = readObject()
        version = hello["numpy"] as? String ?? "?"
        first = hello["first"] as? [String: Any] ?? [:]
    }

    /// Runs one timed round in the python process.
    func round(seconds: Double, bincount: Bool = false) -> Measurement {
        process.send("\(bincount ? "bincount" : "plain") \(seconds)")
        let reply = readObject()
        guard let count = reply["frames"] as? Double, let elapsed = reply["seconds"] as? Double,
              let cpu = reply["cpu"] as? Double else { fail("numpy: unexpected reply \(reply)") }
        return Measurement(framesPerSecond: count / elapsed, cpuPerFrame: cpu / count)
    }

    func stop() {
        process.closeInput()
        process.wait()
    }

    private func readObject() -> [String: Any] {
        let line: Data
        do { line = try process.readLine() } catch { fail("the numpy script: \(error)") }
        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            fail("numpy: unreadable reply \(String(decoding: line, as: UTF8.self).prefix(200))")
        }
        return object
    }
}

// MARK: - Agreement on frame 0

let analyzer = FrameAnalyzer()
var result = FrameAnalysis()
@MainActor func analyse(_ index: Int, _ configuration: AnalysisConfiguration) {
    frames.withUnsafeBufferPointer { all in
        let frame = UnsafeBufferPointer(rebasing: all[(index * pixelCount)..<((index + 1) * pixelCount)])
        do {
            try analyzer.analyze(pixels: frame, width: width, height: height, configuration: configuration, into: &result)
        } catch {
            fail("analyze: \(error)")
        }
    }
}

func compare(_ swift: FrameAnalysis, _ numpy: [String: Any]) -> [String] {
    var problems: [String] = []
    func close(_ name: String, _ a: Double?, _ b: Any?, tolerance: Double = 1e-9) {
        guard let a, let b = (b as? Double) ?? (b as? Int).map(Double.init) else {
            problems.append("\(name): missing")
            return
        }
        if abs(a - b) > tolerance * max(1, abs(b)) { problems.append("\(name): swift \(a), numpy \(b)") }
    }
    func list(_ name: String, _ a: [Double]?, _ b: Any?) {
        guard let a, let b = b as? [Double], a.count == b.count else {
            problems.append("\(name): missing or of another length")
            return
        }
        for (index, (x, y)) in zip(a, b).enumerated() where abs(x - y) > 1e-9 * max(1, abs(y)) {
            problems.append("\(name)[\(index)]: swift \(x), numpy \(y)")
            return
        }
    }
    let extrema = numpy["min_max"] as? [String: Any] ?? [:]
    close("min", swift.minMax.map { Double($0.minimum) }, extrema["min"])
    close("min_x", swift.minMax.map { Double($0.minimumX) }, extrema["min_x"])
    close("min_y", swift.minMax.map { Double($0.minimumY) }, extrema["min_y"])
    close("max", swift.minMax.map { Double($0.maximum) }, extrema["max"])
    close("max_x", swift.minMax.map { Double($0.maximumX) }, extrema["max_x"])
    close("max_y", swift.minMax.map { Double($0.maximumY) }, extrema["max_y"])
    close("mean", swift.mean, numpy["mean"])
    close("sigma", swift.sigma, numpy["sigma"])
    close("total", swift.total.map(Double.init), numpy["total"], tolerance: 0)
    close("net", swift.net, numpy["net"])
    let centroid = numpy["centroid"] as? [String: Any] ?? [:]
    close("centroid.x", swift.centroid?.x, centroid["x"])
    close("centroid.y", swift.centroid?.y, centroid["y"])
    close("centroid.sigma_x", swift.centroid?.sigmaX, centroid["sigma_x"])
    close("centroid.sigma_y", swift.centroid?.sigmaY, centroid["sigma_y"])
    let histogram = numpy["histogram"] as? [String: Any] ?? [:]
    list("histogram.counts", swift.histogram?.counts.map(Double.init), (histogram["counts"] as? [Int])?.map(Double.init))
    close("histogram.below", swift.histogram.map { Double($0.below) }, histogram["below"], tolerance: 0)
    close("histogram.above", swift.histogram.map { Double($0.above) }, histogram["above"], tolerance: 0)
    close("histogram.entropy", swift.histogram?.entropy, histogram["entropy"])
    close("saturated_pixels", swift.saturatedPixels.map(Double.init), numpy["saturated_pixels"], tolerance: 0)
    list("profile_x", swift.profileX, numpy["profile_x"])
    list("profile_y", swift.profileY, numpy["profile_y"])
    list("roi_signal_x_profile", swift.roiSignalXProfile, numpy["roi_signal_x_profile"])
    list("roi_background_x_profile", swift.roiBackgroundXProfile, numpy["roi_background_x_profile"])
    list("background_subtracted_signal", swift.backgroundSubtractedSignal, numpy["background_subtracted_signal"])
    return problems
}

// MARK: - Timing

struct Measurement {
    var framesPerSecond: Double
    var cpuPerFrame: Double
}

/// One timed round of the Swift analysis, cycling over the frames.
@MainActor func swiftRound(_ configuration: AnalysisConfiguration, seconds: Double) -> Measurement {
    var count = 0
    let start = Timing.seconds(), cpu = Timing.threadCPUSeconds()
    var elapsed = 0.0
    repeat {
        analyse(count % options.frames, configuration)
        count += 1
        elapsed = Timing.seconds() - start
    } while elapsed < seconds
    return Measurement(framesPerSecond: Double(count) / elapsed, cpuPerFrame: (Timing.threadCPUSeconds() - cpu) / Double(count))
}

func summary(_ rounds: [Measurement]) -> Measurement {
    Measurement(framesPerSecond: Distribution(rounds.map(\.framesPerSecond)).median,
                cpuPerFrame: Distribution(rounds.map(\.cpuPerFrame)).median)
}

analyse(0, configuration)
let swiftFirst = result
let allocationsAfterWarmUp = analyzer.bufferAllocations
let numpy = NumpyPeer()
let problems = compare(swiftFirst, numpy.first)
guard problems.isEmpty else {
    fail("Swift and numpy disagree on frame 0:\n  " + problems.prefix(20).joined(separator: "\n  "))
}
print("  frame 0: Swift and numpy \(numpy.version) agree on every value (profiles, histogram, ROIs included)")

for index in 0..<options.frames {  // warm-up: buffers, caches
    analyse(index, configuration)
    analyse(index, focusConfiguration)
}
_ = numpy.round(seconds: 0.2)
var numpyRounds: [Measurement] = [], expertRounds: [Measurement] = []
var statisticsRounds: [Measurement] = [], focusRounds: [Measurement] = []
for _ in 0..<options.rounds {
    numpyRounds.append(numpy.round(seconds: options.seconds))
    expertRounds.append(numpy.round(seconds: options.seconds, bincount: true))
    statisticsRounds.append(swiftRound(configuration, seconds: options.seconds))
    focusRounds.append(swiftRound(focusConfiguration, seconds: options.seconds))
}
numpy.stop()
let numpyFigure = summary(numpyRounds), expertFigure = summary(expertRounds), statistics = summary(statisticsRounds), withFocus = summary(focusRounds)
analyse(0, focusConfiguration)
let stars = result.focus
let allocationsAtEnd = analyzer.bufferAllocations

// What publishing a result costs: JSONEncoder on the full result (profiles and histogram included).
let encoder = JSONEncoder()
var encodedSize = 0
let encodeStart = Timing.seconds()
var encodings = 0
while Timing.seconds() - encodeStart < 0.5 || encodings < 3 {
    encodedSize = ((try? encoder.encode(result)) ?? Data()).count
    encodings += 1
}
let encodeMilliseconds = (Timing.seconds() - encodeStart) / Double(encodings) * 1000

print("")
print("medians of \(options.rounds) alternating rounds of \(String(format: "%g", options.seconds)) s per case")
var table = Table(names: "case", figures: ["frames/s", "ms/frame", "cpu ms/fr", "rate/numpy", "cpu/numpy"],
                  nameWidth: 44, indent: "")
for (name, figure) in [("numpy \(numpy.version): statistics + 2 ROIs + histogram", numpyFigure),
                       ("numpy, histogram etc. from one np.bincount", expertFigure),
                       ("FrameAnalysis: the same", statistics), ("FrameAnalysis: the same + focus metrics", withFocus)] {
    table.append([name, fixed(figure.framesPerSecond), fixed(1000 / figure.framesPerSecond, 2),
                  fixed(figure.cpuPerFrame * 1000, 2), fixed(figure.framesPerSecond / numpyFigure.framesPerSecond) + "x",
                  fixed(numpyFigure.cpuPerFrame / figure.cpuPerFrame) + "x"])
}
table.print()
print("  rounds, frames/s: numpy " + numpyRounds.map { fixed($0.framesPerSecond, 1) }.joined(separator: " ")
    + "; numpy bincount " + expertRounds.map { fixed($0.framesPerSecond, 1) }.joined(separator: " ")
    + "; FrameAnalysis " + statisticsRounds.map { fixed($0.framesPerSecond, 0) }.joined(separator: " ")
    + "; + focus " + focusRounds.map { fixed($0.framesPerSecond, 0) }.joined(separator: " "))
if let stars {
    print(String(format: "  focus on frame 0: %d stars, median FWHM %.2f px, median HFD %.2f px (truth: FWHM %.2f px)",
                 stars.starCount, stars.medianFWHM ?? .nan, stars.medianHFD ?? .nan,
                 2.3548 * (pow(camera.psfSigma(atFocus: camera.focusPosition), 2) + 1.0 / 12).squareRoot()))
}
print(String(format: "  JSONEncoder on one full result (profiles x and y, 1024 histogram counts, ROI profiles): %.2f ms, %d KB",
             encodeMilliseconds, encodedSize / 1024))
print("  analyzer buffer allocations: \(allocationsAfterWarmUp) after the first frame, \(allocationsAtEnd) at the end")
print("  load average at the end: \(loadAverage())")
let ratio = statistics.framesPerSecond / numpyFigure.framesPerSecond
print("  goal (issue 5): at least 10x numpy on one core: " + (ratio >= 10 ? "MET" : "NOT MET")
    + String(format: " (%.1fx by rate, %.1fx by CPU time; %.1fx the np.bincount variant's rate)", ratio,
             numpyFigure.cpuPerFrame / statistics.cpuPerFrame, statistics.framesPerSecond / expertFigure.framesPerSecond))
