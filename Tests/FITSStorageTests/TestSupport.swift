import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import ProcessTestSupport
#endif

/// A fresh folder under /tmp for one test, removed afterwards (also after a failure).
func withTemporaryFolder<T>(_ body: (String) throws -> T) throws -> T {
    var template = Array("/tmp/aperture-fits-test-XXXXXX".utf8CString)
    let created = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
    let path = try #require(created.map { String(cString: $0) }, "mkdtemp failed: errno \(errno)")
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try body(path)
}

/// The output of a finished program.
struct ProgramOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion and returns its output.
///
/// The output goes to temporary files, not pipes: Foundation's `FileHandle` reading traps on
/// EINTR, which the signals of concurrently running tests can cause.
func run(_ executable: String, _ arguments: [String]) throws -> ProgramOutput {
    try withTemporaryFolder { folder in
        let outPath = folder + "/stdout"
        let errPath = folder + "/stderr"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? out.close()
            try? err.close()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        try process.run()
        process.waitForExit()
        return ProgramOutput(
            status: process.waitForExit(),
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }
}

/// Every name in a folder, hidden ones included ("." and ".." excluded).
func entries(_ folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
}

/// A 64x48 test image with a known pattern covering 0, 65535 and values on both sides of 32768.
func patternImage(width: Int = 64, height: Int = 48, seed: UInt32 = 0) -> [UInt16] {
    var pixels = (0..<(width * height)).map { index -> UInt16 in
        let x = UInt32(index % width)
        let y = UInt32(index / width)
        return UInt16(truncatingIfNeeded: x &* 1021 &+ y &* 337 &+ seed &* 7919)
    }
    for (index, value) in [UInt16(0), 65535, 32768, 32767].enumerated() where index < pixels.count {
        pixels[index] = value
    }
    pixels[pixels.count - 1] = 65535
    return pixels
}

/// Mounts a tmpfs (root only, and only where the container allows it).
func mountTmpfs(at folder: String, options: String) -> Bool {
    guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
    return (try? run("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", folder]))?.status == 0
}

func unmount(_ folder: String) {
    _ = try? run("/bin/umount", [folder])
}
