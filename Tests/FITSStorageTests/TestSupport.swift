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

/// Runs a program to completion: its status, stdout and stderr (``runToExit(_:_:environment:mergingErrors:)``).
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try runToExit(executable, arguments)
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
