// aperture-bench-compress: Aperture's Rice-compressed saves (data.compression = rice) against
// Debian's fpack on the same frames, in one run.
//
//   swift build -c release --product aperture-bench-compress
//   .build/release/aperture-bench-compress [--frames N] [--rounds R] [--dir DIR] [--width W] [--height H]
//
// Frames: N (default 8) each of simulator bias (0 s), dark (300 s) and object (30 s, the default
// star field) frames of W x H (default 2048 x 2048), made by CameraCore's SimulatedCamera as the
// camera process makes them, and written as plain FITS files (FITSFile.write, the header of a
// saved frame) in a scratch folder under DIR (default /tmp).
//
// For each kind, R rounds (default 5), the order of the cases alternating every round:
//   fpack -r          one `fpack -r F1.fits ... FN.fits` (Rice, its default tiling: one row per
//                     tile) on the plain files (in the page cache), timed as a whole process; it
//                     reads each file, compresses it and writes F.fits.fz (no fsync).
//   writeCompressed   FITSFile.writeCompressed of the same N frames from memory to F.fits.fz
//                     files (no fsync): the same work less fpack's reading of the input.
//   encode            the compressed file built in memory only (cfitsio's Rice, the checksums).
//   save rice / save plain   FrameStore.save (durable: fsync, rename, folder fsync), as the camera
//                     saves, with compression on and off.
// MB/s counts pixel bytes (W*H*2 a frame) per second of wall time, best of the rounds;
// "ratio" is the plain file's size over the compressed file's, summed over the N frames.
// Goal: Aperture's ratio within 2% of fpack's, and writeCompressed at least as fast as fpack.

import ApertureProtocol
import ArgumentParser
import BenchmarkSupport
import CameraCore
import FITSStorage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct CompressionBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-compress",
        abstract: "Rice-compressed saves against Debian's fpack on simulator frames (docs/performance.md).")

    @Option(help: "Frames of each kind (bias, dark, object).")
    var frames = 8
    @Option(help: "Rounds of every case; the best is reported.")
    var rounds = 5
    @Option(name: .customLong("dir"), help: "Where to make the scratch folder.")
    var directory = "/tmp"
    @OptionGroup var size: FrameSize

    func validate() throws {
        guard frames > 0, rounds > 0 else { throw ValidationError("--frames and --rounds must be positive integers") }
    }
}

let options = CompressionBenchmark.parseOrExit()
let width = options.size.width, height = options.size.height
let fpackPath = "/usr/bin/fpack"
guard FileManager.default.isExecutableFile(atPath: fpackPath) else { fail("install Debian's libcfitsio-bin (fpack)") }
let scratch: ScratchDirectory
do {
    scratch = try ScratchDirectory(in: options.directory, prefix: "aperture-bench-compress")
} catch {
    fail("\(error)")
}
defer { scratch.remove() }

/// The header cards of a saved frame (the ones FITSHeader writes that matter for the size).
func cards(_ kind: ImageType, exposure: Double) -> [FITSCard] {
    [
        FITSCard("DATE-OBS", .date(Date()), comment: "UTC start of exposure"),
        FITSCard("EXPTIME", .double(exposure), comment: "[s] exposure time"),
        FITSCard("IMAGETYP", .string(kind.rawValue.capitalized + " Frame"), comment: "frame type"),
        FITSCard("CCD-TEMP", .double(-60), comment: "[C] CCD temperature"),
        FITSCard("XBINNING", .integer(1), comment: "binning factor in x"),
        FITSCard("YBINNING", .integer(1), comment: "binning factor in y"),
        FITSCard("INSTRUME", .string("Aperture simulator")),
        FITSCard("ROWORDER", .string("BOTTOM-UP"), comment: "order of the rows"),
    ]
}

/// N frames of one kind from the simulator.
func simulate(_ kind: ImageType, exposure: Double, count: Int) -> [[UInt16]] {
    var configuration = SimulatedCamera.Configuration()
    configuration.width = width
    configuration.height = height
    configuration.starCount = width * height / 5243  // 200 stars per 1024x1024, the default density
    configuration.timeScale = 0.000001
    let camera = SimulatedCamera(configuration: configuration)
    let settings = AcquisitionSettings(exposureTime: exposure, shutter: kind == .object ? .auto : .closed,
                                       subframe: Subframe(x: 0, y: 0, width: width, height: height), imageType: kind)
    do {
        _ = try camera.connect()
        return try (0..<count).map { _ throws(CameraError) -> [UInt16] in
            var pixels = [UInt16](repeating: 0, count: width * height)
            try camera.startAcquisition(settings)
            while try !camera.waitForAcquisition(timeout: 0.01) {}
            try pixels.withUnsafeMutableBufferPointer { buffer throws(CameraError) in try camera.readImage(into: buffer) }
            return pixels
        }
    } catch {
        fail("simulator: \(error)")
    }
}

func size(_ path: String) -> Int {
    var info = stat()
    return stat(path, &info) == 0 ? Int(info.st_size) : 0
}

/// Runs fpack on the files and returns its wall time in seconds.
func runFpack(_ files: [String]) -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: fpackPath)
    process.arguments = ["-r"] + files
    let started = Timing.seconds()
    do {
        try process.run()
    } catch {
        fail("fpack: \(error)")
    }
    process.waitUntilExit()
    let elapsed = Timing.seconds() - started
    if process.terminationStatus != 0 { fail("fpack exited with \(process.terminationStatus)") }
    return elapsed
}

print("aperture-bench-compress: \(options.frames) simulator frames of each kind, \(width)x\(height), "
      + "\(options.rounds) rounds, best round; \(cores) cores, load \(loadAverage()), kernel \(kernelRelease()), in \(options.directory)")
let pixelBytes = Double(width * height * 2 * options.frames)
var table = Table(names: "frames", figures: ["fpack ratio", "Aperture ratio", "difference", "fpack MB/s",
                                             "writeCompressed MB/s", "encode MB/s", "save rice MB/s", "save plain MB/s"])
var verdicts: [String] = []
for (kind, exposure) in [(ImageType.bias, 0.0), (.dark, 300.0), (.object, 30.0)] {
    let images = simulate(kind, exposure: exposure, count: options.frames)
    let header = cards(kind, exposure: exposure)
    let folder = scratch.path + "/" + kind.rawValue
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let plain = images.indices.map { folder + "/frame-\($0).fits" }
    for (index, image) in images.enumerated() {
        do {
            try image.withUnsafeBufferPointer { buffer throws(StorageError) in
                try FITSFile.write(pixels: buffer, width: width, height: height, cards: header, comments: [], to: plain[index])
            }
        } catch {
            fail("\(error)")
        }
    }
    let plainBytes = plain.reduce(0) { $0 + size($1) }
    var fpackTimes: [Double] = [], writeTimes: [Double] = [], encodeTimes: [Double] = []
    var riceSaveTimes: [Double] = [], plainSaveTimes: [Double] = []
    var fpackBytes = 0, apertureBytes = 0
    for round in 0..<options.rounds {
        let fpackFirst = round % 2 == 0
        func fpackCase() {
            fpackTimes.append(runFpack(plain))
            fpackBytes = plain.reduce(0) { $0 + size($1 + ".fz") }
            plain.forEach { unlink($0 + ".fz") }
        }
        func apertureCase() {
            let outputs = plain.map { $0.replacingOccurrences(of: ".fits", with: "-aperture.fits.fz") }
            do {
                writeTimes.append(try Timing.seconds {
                    for (index, image) in images.enumerated() {
                        try image.withUnsafeBufferPointer { buffer throws(StorageError) in
                            try FITSFile.writeCompressed(pixels: buffer, width: width, height: height, cards: header,
                                                         comments: [], to: outputs[index])
                        }
                    }
                })
            } catch {
                fail("\(error)")
            }
            apertureBytes = outputs.reduce(0) { $0 + size($1) }
            outputs.forEach { unlink($0) }
        }
        if fpackFirst { fpackCase(); apertureCase() } else { apertureCase(); fpackCase() }
        do {
            encodeTimes.append(try Timing.seconds {
                for image in images {
                    _ = try image.withUnsafeBufferPointer { buffer throws(StorageError) in
                        try FITSFile.encodeCompressed(pixels: buffer, width: width, height: height, cards: header, comments: [])
                    }
                }
            })
            for compression in round % 2 == 0 ? [FITSCompression.rice, .none] : [.none, .rice] {
                let root = folder + "/store-\(compression.rawValue)"
                let store = FrameStore(root: root, prefix: "image", compression: compression)
                let elapsed = try Timing.seconds {
                    for image in images {
                        _ = try image.withUnsafeBufferPointer { buffer throws(StorageError) in
                            try store.save(pixels: buffer, width: width, height: height, cards: header, comments: [], date: Date())
                        }
                    }
                }
                if compression == .rice { riceSaveTimes.append(elapsed) } else { plainSaveTimes.append(elapsed) }
                try? FileManager.default.removeItem(atPath: root)
            }
        } catch {
            fail("\(error)")
        }
    }
    let fpackRatio = Double(plainBytes) / Double(fpackBytes)
    let apertureRatio = Double(plainBytes) / Double(apertureBytes)
    let rate = { (times: [Double]) in pixelBytes / 1e6 / (times.min() ?? .nan) }
    let difference = (apertureRatio / fpackRatio - 1) * 100
    table.append([kind.rawValue, fixed(fpackRatio, 3), fixed(apertureRatio, 3), fixed(difference, 2) + " %",
                  fixed(rate(fpackTimes), 0), fixed(rate(writeTimes), 0), fixed(rate(encodeTimes), 0),
                  fixed(rate(riceSaveTimes), 0), fixed(rate(plainSaveTimes), 0)])
    let sameRatio = abs(difference) <= 2
    let asFast = rate(writeTimes) >= rate(fpackTimes)
    verdicts.append("\(kind.rawValue): ratio within 2% -> \(sameRatio ? "met" : "NOT met"); "
                    + "at least fpack's speed -> \(asFast ? "met" : "NOT met") "
                    + "(\(fixed(rate(writeTimes) / rate(fpackTimes), 2))x)")
    plain.forEach { unlink($0) }
}
table.print()
verdicts.forEach { print("goal: " + $0) }
