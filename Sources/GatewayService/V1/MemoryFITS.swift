import Bus
import FITSStorage
import Foundation
import HTTPTypes

/// A FITS file built in memory from a frame of the ring (`GET /v1/frames/latest.fits`), by the
/// same encoder the camera saves with (`FITSFile.encode`: cfitsio's header, Aperture's data
/// unit, DATASUM and CHECKSUM): the primary HDU with the frame's size, time and type, and the
/// pixels as 16-bit integers with BZERO 32768, in the camera's row order as the saved files are
/// (`ROWORDER` says which).
enum MemoryFITS {
    /// - Parameters:
    ///   - instrument: `camera.instrument` (INSTRUME).
    ///   - site: `site.name` (SITE), and `camera`, `camera.name` (CAMERA): the saved files' identity.
    static func make(_ metadata: FrameMetadata, pixels: [UInt16], instrument: String, site: String,
                     camera: String) throws(APIError) -> [UInt8] {
        let cards = [
            FITSCard("EXPTIME", .double(metadata.exposureTime), comment: "seconds"),
            FITSCard("DATE-OBS", .date(Date(timeIntervalSince1970: metadata.exposureStart)), comment: "UTC start of exposure"),
            FITSCard("IMAGETYP", .string(metadata.imageType)),
            FITSCard("XBINNING", .integer(metadata.binningX)),
            FITSCard("YBINNING", .integer(metadata.binningY)),
            FITSCard("INSTRUME", .string(String(instrument.filter { $0.isASCII && !$0.isNewline && $0 != "\t" }.prefix(60)))),
            FITSCard("EXPID", .string(metadata.exposureId), comment: "Aperture exposure id"),
            FITSCard("FRAMENUM", .integer(metadata.frameNumber), comment: "frame within the exposure"),
            FITSCard("ROWORDER", .string(metadata.rowOrder.rawValue), comment: "order of the rows"),
            FITSCard("SITE", .string(site), comment: "facility site (site.name)"),
            FITSCard("CAMERA", .string(camera), comment: "facility camera (camera.name)"),
        ]
        do throws(StorageError) {
            return try pixels.withUnsafeBufferPointer { buffer throws(StorageError) in
                try FITSFile.encode(pixels: buffer, width: metadata.width, height: metadata.height, cards: cards, comments: [])
            }
        } catch {
            throw APIError(.internalServerError, .internal, "cannot encode the frame as FITS: \(error)")
        }
    }
}
