// aperture-bench-fits: how fast frames are saved as FITS, against the raw disk.
//
//   swift run -c release --scratch-path .build-fits aperture-bench-fits [--frames N] [--dir DIR]
//       [--width W] [--height H] [--repeats R]
//
// In a fresh folder under DIR (default /tmp; the figures are about that file system), each
// repeat measures, in this order:
//   1. dd         the real `dd if=/dev/zero of=FILE bs=8M count=N conv=fsync` (its own timing):
//                 the disk's streaming bandwidth with one fsync at the end. The goal is
//                 FrameStore.save at >= 80% of it.
//   2. raw files  N files, each: create, write the 8 MiB of pixels, fsync, link to a final name,
//                 fsync the folder. The same durability as a save, without FITS.
//   3. save       FrameStore.save of N frames (header of ~30 cards, noise-like pixels): FITS
//                 encoding, CHECKSUM/DATASUM, temporary name, fsync, rename, folder fsync.
//   4. write      FITSFile.write of N frames: the same file without fsync or renaming
//                 (page cache only).
//   5. cfitsio    the same file written entirely by cfitsio (ffppr TUSHORT + ffpcks), and without
//                 ffpcks: what the one-pass encoder saves, and what the checksum costs there.
//   6. encode     FITSFile's encoding (header, conversion, checksum) into memory: CPU only.
// MB/s counts pixel bytes (W*H*2 per frame) for every case, dd's 8 MiB blocks likewise, so the
// columns compare like with like. Each case's time is the median over the repeats; the order of
// the three durable cases rotates between repeats. Files are deleted after each case; the folder
// is removed at the end.

import FITSStorage
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options

struct Options {
    var frames = 50
    var directory = "/tmp"
    var width = 2048
    var height = 2048
    var repeats = 5

    static let usage = """
        usage: aperture-bench-fits [--frames N] [--dir DIR] [--width W] [--height H] [--repeats R]
          --frames N   frames per case (default 50)
          --dir DIR    where to make the scratch folder (default /tmp): the file system measured
          --width W    frame width (default 2048)
          --height H   frame height (default 2048)
          --repeats R  how many times every case runs; medians are reported (default 3)
        """

    static func parse(_ arguments: [String]) -> Options {
        var options = Options()
        var index = 0
        func value(_ name: String) -> String {
            index += 1
            guard index < arguments.count else { fail("\(name) needs a value\n\(usage)") }
            return arguments[index]
        }
        func positive(_ name: String) -> Int {
            let text = value(name)
            guard let number = Int(text), number > 0 else { fail("\(name) must be a positive integer, not '\(text)'") }
            return number
        }
        while index < arguments.count {
            switch arguments[index] {
            case "--frames": options.frames = positive("--frames")
            case "--dir": options.directory = value("--dir")
            case "--width": options.width = positive("--width")
            case "--height": options.height = positive("--height")
            case "--repeats": options.repeats = positive("--repeats")
            case "-h", "--help":
                print(usage)
                exit(0)
            default: fail("unknown argument '\(arguments[index])'\n\(usage)")
            }
            index += 1
        }
        return options
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("aperture-bench-fits: \(message)\n".utf8))
    exit(2)
}

// MARK: - Helpers

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    try body()
    let elapsed = clock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1)]
}

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
    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
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

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let frameBytes = options.width * options.height * 2

/// Noise-like pixels: a bias of 1000, read noise and sky, a few saturated stars.
var pixels = [UInt16](repeating: 0, count: options.width * options.height)
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

var template = Array((options.directory + "/aperture-bench-fits-XXXXXX").utf8CString)
guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
    fail("cannot make a folder in \(options.directory): \(String(cString: strerror(errno)))")
}
let work = String(cString: made)
defer { try? FileManager.default.removeItem(atPath: work) }

print("aperture-bench-fits: \(options.frames) frames of \(options.width)x\(options.height) 16-bit "
    + "(\(String(format: "%.2f", Double(frameBytes) / 1e6)) MB of pixels each), \(options.repeats) repeats, "
    + "in \(work) (\(fileSystemType(work)))")

// MARK: - Cases

let ddBlock = frameBytes
@MainActor func runDD() -> Double {
    let seconds = ddSeconds(file: work + "/dd.bin", frames: options.frames, blockBytes: ddBlock)
    unlink(work + "/dd.bin")
    return seconds
}

@MainActor func runRawFiles() -> Double {
    let folder = work + "/raw"
    mkdir(folder, 0o755)
    defer { removeContents(of: folder) }
    return seconds {
        pixels.withUnsafeBytes { bytes in
            for index in 0..<options.frames {
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
@MainActor func runSave() -> Double {
    let store = FrameStore(root: work + "/store", prefix: "image")
    defer { try? FileManager.default.removeItem(atPath: work + "/store") }
    return seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for _ in 0..<options.frames {
                let one = seconds {
                    do {
                        _ = try store.save(pixels: buffer, width: options.width, height: options.height,
                                           cards: cards, comments: comments, date: exposureStart)
                    } catch {
                        fail("save: \(error)")
                    }
                }
                saveLatencies.append(one)
            }
        }
    }
}

@MainActor func runWrite() -> Double {
    let folder = work + "/write"
    mkdir(folder, 0o755)
    defer { removeContents(of: folder) }
    return seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for index in 0..<options.frames {
                do {
                    try FITSFile.write(pixels: buffer, width: options.width, height: options.height,
                                       cards: cards, comments: comments, to: folder + "/frame-\(index).fits")
                } catch {
                    fail("write: \(error)")
                }
            }
        }
    }
}

@MainActor func runCFITSIO(checksum: Bool) -> Double {
    let folder = work + "/cfitsio"
    mkdir(folder, 0o755)
    defer { removeContents(of: folder) }
    return seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for index in 0..<options.frames {
                do {
                    try FITSFile.writeWithCFITSIO(pixels: buffer, width: options.width, height: options.height,
                                                  cards: cards, comments: comments, checksum: checksum,
                                                  to: folder + "/frame-\(index).fits")
                } catch {
                    fail("cfitsio: \(error)")
                }
            }
        }
    }
}

@MainActor func runEncode() -> Double {
    seconds {
        pixels.withUnsafeBufferPointer { buffer in
            for _ in 0..<options.frames {
                do {
                    let bytes = try FITSFile.encode(pixels: buffer, width: options.width, height: options.height,
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
    var run: @MainActor () -> Double
    var times: [Double] = []
}

var cases = [
    Case(label: "dd bs=\(ddBlock / 1_048_576)M conv=fsync (one fsync)", run: runDD),
    Case(label: "raw files: write + fsync + link, each", run: runRawFiles),
    Case(label: "FrameStore.save (durable FITS)", run: runSave),
    Case(label: "FITSFile.write (no fsync)", run: runWrite),
    Case(label: "cfitsio ffppr + ffpcks (no fsync)", run: { runCFITSIO(checksum: true) }),
    Case(label: "cfitsio ffppr, no checksum (no fsync)", run: { runCFITSIO(checksum: false) }),
    Case(label: "encode in memory (CPU only)", run: runEncode),
]

// Warm-up: the first writes to fresh disk blocks of a virtual disk can be several times slower.
_ = runDD()
_ = runSave()
saveLatencies.removeAll()

// The three durable cases share the disk's moods (this VM's disk swings between about 300 MB/s
// and 2 GB/s): their order rotates every repeat so that none is always first after a deletion.
let durable = [0, 1, 2]
for round in 1...options.repeats {
    let shift = (round - 1) % durable.count
    let order = Array(durable[shift...] + durable[..<shift]) + Array(cases.indices.dropFirst(durable.count))
    for index in order {
        cases[index].times.append(cases[index].run())
    }
    let ratio = cases[0].times.last! / cases[2].times.last!
    print("  repeat \(round): dd \(String(format: "%.1f", cases[0].times.last! / Double(options.frames) * 1000)) ms/frame, "
        + "save \(String(format: "%.1f", cases[2].times.last! / Double(options.frames) * 1000)) ms/frame: "
        + "save at \(String(format: "%.0f", ratio * 100))% of dd")
}

// MARK: - Report

func row(_ label: String, _ columns: [String]) -> String {
    label.padding(toLength: 42, withPad: " ", startingAt: 0)
        + columns.map { String(repeating: " ", count: max(0, 10 - $0.count)) + $0 }.joined(separator: " ")
}

let ddTime = median(cases[0].times)
print("")
print(row("case (median of \(options.repeats))", ["ms/frame", "frames/s", "MB/s", "vs dd"]))
for item in cases {
    let time = median(item.times)
    let perFrame = time / Double(options.frames)
    print(row(item.label, [
        String(format: "%.2f", perFrame * 1000),
        String(format: "%.1f", 1 / perFrame),
        String(format: "%.0f", Double(frameBytes) / perFrame / 1e6),
        String(format: "%.0f%%", ddTime / time * 100),
    ]))
}
let saveTime = median(cases[2].times)
let checksumCost = (median(cases[4].times) - median(cases[5].times)) / Double(options.frames)
print("")
print("FrameStore.save per frame: p50 \(String(format: "%.2f", percentile(saveLatencies, 0.5) * 1000)) ms, "
    + "p99 \(String(format: "%.2f", percentile(saveLatencies, 0.99) * 1000)) ms over \(saveLatencies.count) saves")
print("cfitsio's CHECKSUM (ffpcks, re-reads the data unit): \(String(format: "%.2f", checksumCost * 1000)) ms per frame; "
    + "FITSFile takes the sum while converting")
let ratios = zip(cases[0].times, cases[2].times).map { $0 / $1 * 100 }.sorted()
let totalRatio = cases[0].times.reduce(0, +) / cases[2].times.reduce(0, +) * 100
print("save vs dd: \(String(format: "%.0f", ddTime / saveTime * 100))% from the medians (goal >= 80%); "
    + "over all repeats \(String(format: "%.0f", totalRatio))%; per repeat \(ratios.map { String(format: "%.0f%%", $0) }.joined(separator: " ")); "
    + "save vs raw files with the same fsyncs: \(String(format: "%.0f", median(cases[1].times) / saveTime * 100))%")
