import Dispatch
import Foundation

/// The entry point of a fuzz target in the ordinary build (without `-DFUZZING`, where libFuzzer
/// supplies `main`): replays the files and folders given as arguments and, with `--random N`,
/// runs N more inputs mutated from them by a seeded generator (the fallback where libFuzzer is
/// not available). A crash stops the process, as under libFuzzer.
///
///     aperture-fuzz-envelope Benchmarks/Fuzz/corpus/envelope --random 100000 --seed 7 \
///         --dict Benchmarks/Fuzz/dict/envelope.dict --save /tmp/last
package enum FuzzDriver {
    /// Runs the replay and the random inputs, then prints what ran.
    /// - Parameters:
    ///   - name: the target's name, for the usage and the summary line.
    ///   - body: the target, the same function libFuzzer calls.
    package static func main(name: String, _ body: (Data) -> Void) {
        var paths: [String] = []
        var randomRuns = 0
        var seed: UInt64 = 1
        var savePath: String?
        var tokens: [[UInt8]] = []
        var arguments = CommandLine.arguments.dropFirst()
        while let argument = arguments.popFirst() {
            switch argument {
            case "--random": randomRuns = Int(arguments.popFirst() ?? "") ?? 0
            case "--seed": seed = UInt64(arguments.popFirst() ?? "") ?? 1
            case "--save": savePath = arguments.popFirst()
            case "--dict": tokens = dictionary(at: arguments.popFirst() ?? "")
            case "-h", "--help":
                print("usage: \(name) [FILE|DIR]... [--random N] [--seed S] [--dict FILE] [--save PATH]")
                print("  replays each FILE (and every file under DIR); --random runs N inputs mutated from them")
                print("  with a generator seeded by S, inserting the tokens of a libFuzzer dictionary;")
                print("  --save writes each random input to PATH before running it (the reproducer after a crash)")
                return
            default: paths.append(argument)
            }
        }
        let inputs = paths.flatMap(files(under:)).compactMap { FileManager.default.contents(atPath: $0) }
        for input in inputs { body(input) }
        var generator = SplitMix64(seed: seed)
        for _ in 0..<randomRuns {
            let base = inputs.isEmpty ? [] : [UInt8](inputs[Int(generator.next() % UInt64(inputs.count))])
            let input = Data(mutate(base, tokens: tokens, inputs: inputs, generator: &generator))
            if let savePath { _ = FileManager.default.createFile(atPath: savePath, contents: input) }
            body(input)
        }
        print("\(name): replayed \(inputs.count) file(s), ran \(randomRuns) random input(s) (seed \(seed)), no crash")
    }

    /// The regular files at `path`, or under it when it is a folder, sorted.
    static func files(under path: String) -> [String] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else { return [] }
        guard isFolder.boolValue else { return [path] }
        let names = (FileManager.default.enumerator(atPath: path)?.allObjects as? [String]) ?? []
        return names.sorted().map { path + "/" + $0 }.filter { name in
            var folder: ObjCBool = false
            return FileManager.default.fileExists(atPath: name, isDirectory: &folder) && !folder.boolValue
        }
    }

    /// The tokens of a libFuzzer dictionary: each line's quoted text (`"abc"` or `name="abc"`),
    /// with `\\`, `\"` and `\xNN` escapes.
    static func dictionary(at path: String) -> [[UInt8]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line -> [UInt8]? in
            guard !line.hasPrefix("#"), let open = line.firstIndex(of: "\""), let close = line.lastIndex(of: "\""),
                  open < close else { return nil }
            var bytes: [UInt8] = []
            var characters = Array(line[line.index(after: open)..<close].utf8)[...]
            while let byte = characters.popFirst() {
                guard byte == UInt8(ascii: "\\"), let escaped = characters.popFirst() else { bytes.append(byte); continue }
                if escaped == UInt8(ascii: "x"), characters.count >= 2,
                   let value = UInt8(String(decoding: characters.prefix(2), as: UTF8.self), radix: 16) {
                    bytes.append(value)
                    characters = characters.dropFirst(2)
                } else {
                    bytes.append(escaped)
                }
            }
            return bytes
        }
    }

    /// One to four of: flip a bit, set a byte, insert a byte, erase a run, insert a token,
    /// repeat a run, splice in part of another input.
    static func mutate(_ base: [UInt8], tokens: [[UInt8]], inputs: [Data], generator: inout SplitMix64) -> [UInt8] {
        var bytes = base
        func below(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(generator.next() % UInt64(bound)) }
        for _ in 0...below(4) {
            switch below(7) {
            case 0 where !bytes.isEmpty:
                bytes[below(bytes.count)] ^= UInt8(1) << UInt8(below(8))
            case 1 where !bytes.isEmpty:
                bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: generator.next())
            case 2:
                bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: below(bytes.count + 1))
            case 3 where !bytes.isEmpty:
                let start = below(bytes.count)
                bytes.removeSubrange(start..<min(bytes.count, start + 1 + below(16)))
            case 4 where !tokens.isEmpty:
                bytes.insert(contentsOf: tokens[below(tokens.count)], at: below(bytes.count + 1))
            case 5 where !bytes.isEmpty:
                let start = below(bytes.count)
                let run = bytes[start..<min(bytes.count, start + 1 + below(32))]
                bytes.insert(contentsOf: run, at: below(bytes.count + 1))
            case 6 where !inputs.isEmpty:
                let other = [UInt8](inputs[below(inputs.count)])
                let start = below(other.count)
                bytes.insert(contentsOf: other[start..<min(other.count, start + below(64))], at: below(bytes.count + 1))
            default:
                break
            }
        }
        return bytes
    }
}

/// A fuzz target: `run` is what libFuzzer calls with each input. Its executable declares
/// `@main extension MyTarget {}`: built with `-DFUZZING` (and `-sanitize=fuzzer`), `main` hands
/// over to libFuzzer's driver; otherwise it runs ``FuzzDriver``.
package protocol FuzzTarget {
    /// The executable's name, for messages.
    static var name: String { get }
    /// Runs one input; a crash is a finding, anything else is a pass.
    static func run(_ data: Data)
}

extension FuzzTarget {
    /// libFuzzer's driver (with the command line's options) or ``FuzzDriver``.
    package static func main() {
        #if FUZZING
        LibFuzzer.target = run
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LibFuzzer.runDriver(&argc, &argv) { bytes, count in LLVMFuzzerTestOneInput(bytes, count) })
        #else
        FuzzDriver.main(name: name, run)
        #endif
    }
}

#if FUZZING
/// The libFuzzer side. SwiftPM links an executable with `main` aliased to the module's own entry
/// point, so libFuzzer's `main` is never linked in: the target's `main` calls
/// `LLVMFuzzerRunDriver` instead, which parses the same options and calls
/// `LLVMFuzzerTestOneInput` for each input.
enum LibFuzzer {
    /// The target being fuzzed, set once before the driver starts (libFuzzer runs one thread).
    nonisolated(unsafe) static var target: (Data) -> Void = { _ in }

    /// `int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t))`.
    @_silgen_name("LLVMFuzzerRunDriver")
    static func runDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt
}

/// libFuzzer's entry point: one input to the target.
@_cdecl("LLVMFuzzerTestOneInput")
func LLVMFuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    LibFuzzer.target(bytes.map { Data(bytes: $0, count: count) } ?? Data())
    return 0
}
#endif

/// Sebastiano Vigna's SplitMix64: small, fast, and the same sequence on every machine.
package struct SplitMix64 {
    private var state: UInt64

    package init(seed: UInt64) { state = seed }

    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs async code to completion from the synchronous fuzz entry point (libFuzzer calls it on
/// its own thread, outside any task).
/// - Parameter body: the work; it must not need the calling thread.
/// - Returns: what `body` returned.
package func runBlocking<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = BlockingResult<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

/// The result of ``runBlocking(_:)``, written by the task before it signals, read after the wait.
private final class BlockingResult<T>: @unchecked Sendable {
    var value: T?
}
