import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A benchmark that cannot go on: a socket that will not open, a reply that does not match,
/// a helper that is missing. Its text is what the user reads.
public struct BenchmarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The running executable's name, for messages.
public var programName: String {
    URL(fileURLWithPath: CommandLine.arguments.first ?? "benchmark").lastPathComponent
}

/// Stops the benchmark: prints "program: message" on standard error, removes the scratch
/// directories still open, and exits with status 2.
public func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("\(programName): \(message)\n".utf8))
    ScratchDirectory.removeAll()
    exit(2)
}

/// Throws when a C call returned a negative status, naming the call and `errno`'s text.
public func checkErrno(_ status: Int32, _ what: String) throws {
    if status < 0 { throw BenchmarkError("\(what): \(String(cString: strerror(errno)))") }
}
