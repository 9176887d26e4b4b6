import Foundation

// The facility export (issue 16, docs/scale-out.md): how a camera host's catalog sends each frame
// to the facility's NATS JetStream stream, and how aperture-archive reads it back. Both sides use
// these names, so the wire format is written down once.

/// A facility-wide name: a site (`site.name`) or a camera (`camera.name`). It becomes a NATS
/// subject token, a folder of the central data root and a FITS value, so it is kept to letters,
/// digits, `_` and `-`.
public enum FacilityName {
    /// The rule, for error messages: "... is not ...".
    public static let rule = "is not 1 to 32 letters, digits, '_' or '-', starting with a letter or digit"

    /// Whether `name` follows ``rule``.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...32).contains(bytes.count) else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return alphanumeric(bytes[0]) && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }
}

/// The export's wire format on JetStream.
///
/// A frame travels as `chunks` messages of the file's bytes (chunk `i` holds bytes
/// `i * chunkBytes ..< min((i + 1) * chunkBytes, bytes)`), then one row message whose body is an
/// ``ExportRow`` in JSON. All go to ``subject(site:camera:)``; every message carries the headers
/// named here, and a `Nats-Msg-Id` (``chunkID(site:camera:sha256:index:)``,
/// ``rowID(site:camera:sha256:revision:)``) so that a re-send within the stream's duplicate window
/// is dropped by the server; beyond it the archive is idempotent itself (same path and SHA-256:
/// nothing new). A row may come again later with a higher `revision` (the processor's figures
/// arrived after the frame was sent): the archive then updates the row only.
public enum FrameExport {
    /// The stream's default name (`export.stream`).
    public static let defaultStream = "APERTURE_FRAMES"
    /// The first token of every export subject; the stream takes `aperture-frames.>`.
    public static let subjectPrefix = "aperture-frames"
    /// The subjects a stream of frames takes.
    public static let streamSubjects = subjectPrefix + ".>"
    /// The most bytes a chunk holds: 1 MiB.
    public static let maximumChunkBytes = 1 << 20
    /// The default chunk size: 1 MiB less 4 KiB, so that a chunk and its headers fit the server's
    /// default `max_payload` of 1 MiB.
    public static let defaultChunkBytes = (1 << 20) - 4096

    /// Header: the site (``FacilityName``).
    public static let siteHeader = "Aperture-Site"
    /// Header: the camera (``FacilityName``).
    public static let cameraHeader = "Aperture-Camera"
    /// Header: the file's path relative to the camera host's data root (`YYYYMMDD/image-0042.fits`).
    public static let pathHeader = "Aperture-Path"
    /// Header: the whole file's SHA-256, lower-case hex.
    public static let sha256Header = "Aperture-Sha256"
    /// Header: `chunk` or `row`.
    public static let kindHeader = "Aperture-Kind"
    /// Header of a chunk: `i/n`, its index from 0 and the frame's number of chunks.
    public static let chunkHeader = "Aperture-Chunk"
    /// Header: the whole file's size in bytes.
    public static let bytesHeader = "Aperture-Bytes"

    /// The subject of one camera's frames: `aperture-frames.SITE.CAMERA`.
    public static func subject(site: String, camera: String) -> String { "\(subjectPrefix).\(site).\(camera)" }

    /// The message id of chunk `index` of a frame.
    public static func chunkID(site: String, camera: String, sha256: String, index: Int) -> String {
        "\(site)/\(camera)/\(sha256)/\(index)"
    }

    /// The message id of a frame's row at `revision`.
    public static func rowID(site: String, camera: String, sha256: String, revision: Int) -> String {
        "\(site)/\(camera)/\(sha256)/row/\(revision)"
    }

    /// How many chunks a file of `bytes` makes (an empty file is one empty chunk).
    public static func chunkCount(bytes: Int64, chunkBytes: Int) -> Int {
        max(1, Int((bytes + Int64(chunkBytes) - 1) / Int64(chunkBytes)))
    }

    /// The core NATS subject of an instance's live status: `aperture.SITE.CAMERA.KIND`
    /// (`state`, `telemetry`, `export`), not kept by any stream.
    public static func statusSubject(site: String, camera: String, kind: String) -> String {
        "aperture.\(site).\(camera).\(kind)"
    }

    /// Lower-case hexadecimal of `bytes`: how a SHA-256 is written in ``sha256Header``, in the
    /// message ids, and in the camera host's and the archive's catalogs.
    /// - Parameter bytes: a digest (or any bytes).
    /// - Returns: two digits a byte.
    public static func hexadecimal<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(hexDigits[Int(byte >> 4)])
            text.append(hexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)
}

/// The body of a row message: the catalog's row (with its headers) and how its file was cut.
public struct ExportRow: Codable, Sendable, Hashable {
    /// The site (``FacilityName``).
    public var site: String
    /// The camera (``FacilityName``).
    public var camera: String
    /// How many chunk messages carry the file.
    public var chunks: Int
    /// The size of every chunk but the last.
    public var chunkBytes: Int
    /// Counts the row's versions on the camera host: 1 when first sent, one more each time the
    /// row changed after (the processor's figures arriving late).
    public var revision: Int
    /// When the camera host catalogued the frame (ISO UTC): the start of the export's lag.
    public var catalogued: String
    /// The row, `headers` included; `id` is the camera host's.
    public var row: FrameRow

    enum CodingKeys: String, CodingKey {
        case site, camera, chunks, revision, catalogued, row
        case chunkBytes = "chunk_bytes"
    }

    /// Creates a row message.
    public init(site: String, camera: String, chunks: Int, chunkBytes: Int, revision: Int, catalogued: String, row: FrameRow) {
        self.site = site
        self.camera = camera
        self.chunks = chunks
        self.chunkBytes = chunkBytes
        self.revision = revision
        self.catalogued = catalogued
        self.row = row
    }
}
