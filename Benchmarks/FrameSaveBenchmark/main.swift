// aperture-bench-fits: how fast frames are saved as FITS, against the raw disk.
//
//   swift run -c release --scratch-path .build-fits aperture-bench-fits [--frames N] [--batch B]
//       [--dir DIR] [--width W] [--height H]
//
// In a fresh folder under DIR (default /tmp; the figures are about that file system):
//
// Disk cases, N frames each (default 100), run in interleaved batches of B frames (default 10),
// the order rotating every batch, so that all of them see the same moods of the disk (this VM's
// disk swings between about 300 MB/s and 2 GB/s within seconds):
//   dd          the real `dd if=/dev/zero of=FILE bs=8M count=B conv=fsync` (its own timing):
//               the disk's streaming bandwidth, one fsync per batch. Goal: save >= 80% of it.
//   raw files   per frame: create, write the 8 MiB of pixels, fsync, link to a final name, fsync
//               the folder. The durability of a save, without FITS.
//   save        FrameStore.save (header of 30 cards, noise-like pixels): FITS encoding,
//               CHECKSUM/DATASUM, temporary name, fsync, rename without replacing, folder fsync.
//   save, no early writeback   the same without sync_file_range while writing.
// CPU and page-cache cases, N frames each, one after the other:
//   FITSFile.write               the same file, no fsync, no renaming.
//   cfitsio ffppr (+ ffpcks)     the file written entirely by cfitsio, with and without CHECKSUM:
//                                what the one-pass encoder saves, and what ffpcks costs.
//   encode                       FITSFile's header + conversion + checksum into memory.
// MB/s counts pixel bytes (W*H*2 per frame) in every case, as dd's blocks of W*H*2 bytes, so the
// columns compare like with like. Files are deleted after each batch; the folder at the end.

import ArgumentParser
import BenchmarkSupport
import FITSStorage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

/// The options; the benchmark itself is this file's top-level code, which reads them first.
struct FrameSaveBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aperture-bench-fits",
        abstract: "How fast frames are saved as FITS, against the raw disk (docs/performance.md).")

    @Option(help: "Frames per case.")
    var frames = 100
    @Option(help: "Frames per interleaved batch of the disk cases, and dd's count.")
    var batch = 10
    @Option(name: .customLong("dir"), help: "Where to make the scratch folder: the file system measured.")
    var directory = "/tmp"
    @OptionGroup var size: FrameSize
    @Option(help: "Files already in the night's folder for the numbering case.")
    var night = 5000

    func validate() throws {
        guard frames > 0, batch > 0, night > 0 else {
            throw ValidationError("--frames, --batch and --night must be positive integers")
        }
    }
}

// MARK: - Helpers

func removeContents(of folder: String) {
    for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
        try? FileManager.default.removeItem(atPath: folder + "/" + name)
    }
}

func check(_ result: Int32, _ what: String) {
    if result < 0 { fail("\(what): \(String(cString: strerror(errno)))") }
}

/// The file system type under `path`, from `stat -f` (for the report).
func fileSystemType(_ path: String) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/stat")
    process.arguments = ["-f", "-c", "%T", path]
    let output = Pipe()
    process.standardOutput = output
    guard (try? process.run()) != nil else { return "unknown" }
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let type = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return type == "ext2/ext3" ? "ext2/3/4" : type  // ext4 shares the magic number
}

/// Runs the real dd and returns the seconds it reports ("..., 0.23 s, 1.8 GB/s").
func ddSeconds(file: String, frames: Int, blockBytes: Int) -> Double {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/dd")
    process.arguments = ["if=/dev/zero", "of=\(file)", "bs=\(blockBytes)", "count=\(frames)", "conv=fsync"]
    let errors = Pipe()
    process.standardError = errors
    do { try process.run() } catch { fail("cannot run /usr/bin/dd: \(error)") }
    let data = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let text = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0,
        let line = text.split(separator: "\n").last(where: { $0.contains("copied") }),
        let field = line.split(separator: ",").dropFirst().first(where: { $0.hasSuffix(" s") }),
        let value = Double(field.dropLast(2).trimmingCharacters(in: .whitespaces))
    else { fail("unexpected dd output:\n\(text)") }
    return value
}

// MARK: - The frame

let options = FrameSaveBenchmark.parseOrExit()
let frameBytes = options.size.width * options.size.height * 2

/// Noise-like pixels: a bias of 1000, read noise and sky, a few saturated stars.
var pixels = [UInt16](repeating: 0, count: options.size.width * options.size.height)
var state: UInt64 = 0x9E37_79B9_7F4A_7C15
for index in pixels.indices {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    let noise = Int(state & 0xFF) + Int((state >> 8) & 0xFF) + Int((state >> 16) & 0x3F)
    pixels[index] = state >> 40 & 0xFFFF == 0 ? 65535 : UInt16(1000 + noise)
}

let exposureStart = Date(timeIntervalSince1970: 1_795_295_045.123)
let cards: [FITSCard] = [
    FITSCard("DATE-OBS", .date(exposureStart), comment: "UTC start of exposure"),
    FITSCard("EXPTIME", .double(30), comment: "[s] exposure time"),
    FITSCard("DARKTIME", .double(30), comment: "[s] dark current integration time"),
    FITSCard("IMAGETYP", .string("Light Frame"), comment: "frame type"),
    FITSCard("CCD-TEMP", .double(-59.87), comment: "[C] CCD temperature at start"),
    FITSCard("SET-TEMP", .double(-60), comment: "[C] cooler set-point"),
    FITSCard("XBINNING", .integer(1), comment: "binning factor in x"),
    FITSCard("YBINNING", .integer(1), comment: "binning factor in y"),
    FITSCard("XORGSUBF", .integer(0), comment: "subframe origin x"),
    FITSCard("YORGSUBF", .integer(0), comment: "subframe origin y"),
    FITSCard("XPIXSZ", .double(13.5), comment: "[um] pixel width"),
    FITSCard("YPIXSZ", .double(13.5), comment: "[um] pixel height"),
    FITSCard("PIXSIZE1", .double(13.5), comment: "[um] pixel width"),
    FITSCard("PIXSIZE2", .double(13.5), comment: "[um] pixel height"),
    FITSCard("INSTRUME", .string("Andor iKon-M 934"), comment: "camera"),
    FITSCard("TELESCOP", .string("MRO 0.8 m"), comment: "telescope"),
    FITSCard("OBSERVER", .string("A. Observer")),
    FITSCard("OBJECT", .string("M31")),
    FITSCard("FILTER", .string("V"), comment: "filter in the beam"),
    FITSCard("GAIN", .double(1.2), comment: "[e-/ADU]"),
    FITSCard("READOUTM", .string("1 MHz, 16-bit"), comment: "readout mode"),
    FITSCard("FOCUS", .integer(1234), comment: "focuser position"),
    FITSCard("ROWORDER", .string("TOP-DOWN"), comment: "order of the rows"),
    FITSCard("SWCREATE", .string("Aperture 0.1"), comment: "software that wrote this file"),
    FITSCard("FOCALLEN", .double(6400), comment: "[mm] focal length"),
    FITSCard("APTDIA", .double(800), comment: "[mm] aperture diameter"),
    FITSCard("SITELAT", .double(46.9528), comment: "[deg] site latitude"),
    FITSCard("SITELONG", .double(-120.7253), comment: "[deg] site longitude"),
    FITSCard("OBJCTRA", .string("00 42 44.3"), comment: "object right ascension"),
    FITSCard("OBJCTDEC", .string("+41 16 09"), comment: "object declination"),
]
let comments = ["focus: 1234", "Benchmark frame written by aperture-bench-fits."]

// MARK: - Scratch folder

let scratch: ScratchDirectory
do {
    scratch = try ScratchDirectory(in: options.directory, prefix: "aperture-bench-fits")
} catch {
    fail("\(error)")
}
let work = scratch.path
defer { scratch.remove() }

let batches = (options.frames + options.batch - 1) / options.batch
print("aperture-bench-fits: \(options.frames) frames of \(options.size.width)x\(options.size.height) 16-bit "
    + "(\(fixed(Double(frameBytes) / 1e6, 2)) MB of pixels each) per case, disk cases in \(batches) "
    + "interleaved batches of \(options.batch), in \(work) (\(fileSystemType(work)))")
print("  \(cores) cores, load average \(loadAverage())")

// MARK: - Cases

/// Runs `count` frames of one case and returns the seconds they took (cleanup excluded).
typealias Run = @MainActor (_ count: Int) -> Double

@MainActor func runDD(_ count: Int) -> Double {
    let seconds = ddSeconds(file: work + "/dd.bin", frames: count, blockBytes: frameBytes)
    unlink(work + "/dd.bin")
    return seconds
}

@MainActor func runRawFiles(_ count: Int) -> Double {
    let folder = work + "/raw"
    mkdir(folder, 0o755)
    defer { removeContents(of: folder) }
    return Timing.seconds {
        pixels.withUnsafeBytes { bytes in
            for index in 0..<count {
                let temporary = folder + "/.frame-\(index).tmp"
                let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
                check(descriptor, "create \(temporary)")
                var done = 0
                while done < bytes.count {
                    let written = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
                    check(Int32(written < 0 ? -1 : 0), "write \(temporary)")
                    done += written
                }
                check(fsync(descriptor), "fsync")
                check(close(descriptor), "close")
                check(link(temporary, folder + "/frame-\(index).fits"), "link")
                check(unlink(temporary), "unlink")
                let directory = open(folder, O_RDONLY | O_DIRECTORY)
                check(fsync(directory), "fsync folder")
                close(directory)
            }
        }
    }
}

var saveLatencies: [Double] = []
@MainActor func runSave(_ count: Int, writeback: Bool) -> Double {
    var store = FrameStore(root: work + "/store", prefix: "image")
    store.startsWriteback = writeback
    defer { try? FileManager.default.removeItem(atPath: work + "/store") }
    return Timing.seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for _ in 0..<count {
                let one = Timing.seconds {
                    do {
                        _ = try store.save(pixels: buffer, width: options.size.width, height: options.size.height,
                                           cards: cards, comments: comments, date: exposureStart)
                    } catch {
                        fail("save: \(error)")
                    }
                }
                if writeback { saveLatencies.append(one) }
            }
        }
    }
}

@MainActor func runWrite(_ count: Int) -> Double {
    let folder = work + "/write"
    mkdir(folder, 0o755)
    defer { removeContents(of: folder) }
    return Timing.seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for index in 0..<count {
                do {
                    try FITSFile.write(pixels: buffer, width: options.size.width, height: options.size.height,
                                       cards: cards, comments: comments, to: folder + "/frame-\(index).fits")
                } catch {
                    fail("write: \(error)")
                }
            }
        }
    }
}

@MainActor func runCFITSIO(_ count: Int, checksum: Bool) -> Double {
    let folder = work + "/cfitsio"
    mkdir(folder, 0o755)
    defer { removeContents(of: folder) }
    return Timing.seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for index in 0..<count {
                do {
                    try FITSFile.writeWithCFITSIO(pixels: buffer, width: options.size.width, height: options.size.height,
                                                  cards: cards, comments: comments, checksum: checksum,
                                                  to: folder + "/frame-\(index).fits")
                } catch {
                    fail("cfitsio: \(error)")
                }
            }
        }
    }
}

@MainActor func runEncode(_ count: Int) -> Double {
    Timing.seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for _ in 0..<count {
                do {
                    let bytes = try FITSFile.encode(pixels: buffer, width: options.size.width, height: options.size.height,
                                                    cards: cards, comments: comments)
                    precondition(bytes.count > frameBytes)
                } catch {
                    fail("encode: \(error)")
                }
            }
        }
    }
}

struct Case {
    var label: String
    var run: Run
    /// Seconds per batch (disk cases) or one entry for the whole run.
    var times: [Double] = []
    var frames = 0
}

var disk = [
    Case(label: "dd bs=\(frameBytes % 1_048_576 == 0 ? "\(frameBytes / 1_048_576)M" : "\(frameBytes)") count=\(options.batch) conv=fsync",
         run: runDD),
    Case(label: "raw files: write, fsync, link, fsync dir", run: runRawFiles),
    Case(label: "FrameStore.save", run: { runSave($0, writeback: true) }),
    Case(label: "FrameStore.save, no early writeback", run: { runSave($0, writeback: false) }),
]
var memory = [
    Case(label: "FITSFile.write (no fsync)", run: runWrite),
    Case(label: "cfitsio ffppr + ffpcks (no fsync)", run: { runCFITSIO($0, checksum: true) }),
    Case(label: "cfitsio ffppr, no checksum (no fsync)", run: { runCFITSIO($0, checksum: false) }),
    Case(label: "encode in memory (CPU only)", run: runEncode),
]

// Warm-up: the first writes to fresh blocks of a virtual disk can be several times slower.
_ = runDD(options.batch)
_ = runSave(options.batch, writeback: true)
saveLatencies.removeAll()

for batch in 0..<batches {
    let count = min(options.batch, options.frames - batch * options.batch)
    for step in disk.indices {
        let index = (step + batch) % disk.count
        disk[index].times.append(disk[index].run(count))
        disk[index].frames += count
    }
}
for index in memory.indices {
    memory[index].times = [memory[index].run(options.frames)]
    memory[index].frames = options.frames
}

// MARK: - Report

let ddTotal = disk[0].times.reduce(0, +)
let ddPerFrame = ddTotal / Double(disk[0].frames)
print("")
var table = Table([.left("case", width: 40)] + ["ms/frame", "frames/s", "MB/s", "vs dd"].map { .right($0, width: 9) },
                  indent: "", separator: " ", rule: false)
for item in disk + memory {
    let perFrame = item.times.reduce(0, +) / Double(item.frames)
    table.append([item.label, fixed(perFrame * 1000, 2), fixed(1 / perFrame), fixed(Double(frameBytes) / perFrame / 1e6, 0),
                  fixed(ddPerFrame / perFrame * 100, 0) + "%"])
}
table.print()

let saveTotal = disk[2].times.reduce(0, +)
let ratios = zip(disk[0].times, disk[2].times).map { $0 / $1 * 100 }
let checksumCost = (memory[1].times[0] - memory[2].times[0]) / Double(options.frames)
print("")
print("save vs dd: \(fixed(ddTotal / saveTotal * 100, 0))% over all batches (goal >= 80%); "
    + "per batch median \(fixed(Distribution(ratios).median, 0))%, "
    + "range \(fixed(ratios.min()!, 0))-\(fixed(ratios.max()!, 0))%")
print("save vs raw files with the same fsyncs: \(fixed(disk[1].times.reduce(0, +) / saveTotal * 100, 0))%; "
    + "early writeback: \(fixed(disk[3].times.reduce(0, +) / saveTotal * 100, 0))% of the time without it")
print("FrameStore.save per frame: p50 \(fixed(Distribution(saveLatencies).p50 * 1000, 2)) ms, "
    + "p99 \(fixed(Distribution(saveLatencies).p99 * 1000, 2)) ms over \(saveLatencies.count) saves")
print("CHECKSUM in cfitsio (ffpcks re-reads the data unit): \(fixed(checksumCost * 1000, 2)) ms per frame; "
    + "FITSFile sums while converting (included in encode)")

// MARK: - Numbering late in the night

// Issue 11: each save listed the night's folder to find the next number, so a save cost more
// with every file of the night. A small frame (64x64) into a folder that already holds
// `--night` files: a new FrameStore for each save (it lists the folder, as every save did
// before) against one FrameStore (it lists once, then remembers), in alternating rounds.
@MainActor func numberingLateInTheNight() {
    let root = work + "/night"
    let folder = FrameStore(root: root, prefix: "image").folder(for: exposureStart)
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }
    for number in 1...options.night {
        FileManager.default.createFile(atPath: folder + "/" + String(format: "image-%04d.fits", number), contents: nil)
    }
    let small = [UInt16](repeating: 1000, count: 64 * 64)
    let remembering = FrameStore(root: root, prefix: "image")
    var listing: [Double] = [], remembered: [Double] = []
    func save(_ store: FrameStore) -> Double {
        Timing.seconds {
            small.withUnsafeBufferPointer { buffer in
                do {
                    _ = try store.save(pixels: buffer, width: 64, height: 64, cards: cards, comments: comments, date: exposureStart)
                } catch {
                    fail("save: \(error)")
                }
            }
        }
    }
    _ = save(remembering)
    for _ in 0..<max(20, options.frames) {
        listing.append(save(FrameStore(root: root, prefix: "image")))
        remembered.append(save(remembering))
    }
    print("")
    print("numbering with \(options.night) files in the night's folder, 64x64 frames, \(listing.count) saves each:")
    print("  listing the folder on every save (before): p50 \(fixed(Distribution(listing).p50 * 1000, 3)) ms, "
        + "p99 \(fixed(Distribution(listing).p99 * 1000, 3)) ms")
    print("  next number remembered (now):             p50 \(fixed(Distribution(remembered).p50 * 1000, 3)) ms, "
        + "p99 \(fixed(Distribution(remembered).p99 * 1000, 3)) ms")
}
numberingLateInTheNight()
