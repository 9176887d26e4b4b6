#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a FITS file could not be written or read.
///
/// The message names the file or folder and the reason, e.g.
/// `cannot write /data/20261121/.image-0008.fits.tmp-123-9f2c: No space left on device (errno 28)`.
/// On the bus this error travels with the code ``code`` (`storage_error`).
public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// The error code used on the bus and in HTTP replies.
    public static let code = "storage_error"

    /// What failed, naming the path and the reason.
    public var message: String
    /// The `errno` of the failed system call, when one failed.
    public var errnoValue: Int32?
    /// The cfitsio status code, when cfitsio failed.
    public var fitsStatus: Int32?

    /// Makes an error.
    ///
    /// - Parameters:
    ///   - message: What failed, naming the path and the reason.
    ///   - errnoValue: The `errno` of the failed system call, if any.
    ///   - fitsStatus: The cfitsio status, if any.
    public init(message: String, errnoValue: Int32? = nil, fitsStatus: Int32? = nil) {
        self.message = message
        self.errnoValue = errnoValue
        self.fitsStatus = fitsStatus
    }

    /// The message.
    public var description: String { message }

    /// An error for a failed system call: `"<action> <path>: <strerror> (errno N)"`.
    static func posix(_ action: String, _ path: String, errno code: Int32) -> StorageError {
        StorageError(
            message: "\(action) \(path): \(String(cString: strerror(code))) (errno \(code))",
            errnoValue: code
        )
    }
}
