import Bus
import Foundation

/// A FITS file built in memory from a frame of the ring (`GET /v1/frames/latest.fits`): the
/// primary HDU with the frame's size, time and type, and the pixels as 16-bit integers with
/// BZERO 32768, in the camera's row order as the saved files are (`ROWORDER` says which).
enum MemoryFITS {
    static func make(_ metadata: FrameMetadata, pixels: [UInt16], instrument: String) -> [UInt8] {
        let start = Date(timeIntervalSince1970: metadata.exposureStart)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withColonSeparatorInTime, .withDashSeparatorInDate,
                                   .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var dateObs = formatter.string(from: start)
        if dateObs.hasSuffix("Z") { dateObs.removeLast() }
        var cards: [String] = [
            card("SIMPLE", "T", "conforms to FITS standard"),
            card("BITPIX", "16", "16-bit integers"),
            card("NAXIS", "2"),
            card("NAXIS1", String(metadata.width)),
            card("NAXIS2", String(metadata.height)),
            card("BZERO", "32768", "unsigned 16-bit pixels"),
            card("BSCALE", "1"),
            card("EXPTIME", String(metadata.exposureTime), "seconds"),
            card("DATE-OBS", quoted(dateObs), "UTC start of exposure"),
            card("IMAGETYP", quoted(metadata.imageType)),
            card("XBINNING", String(metadata.binningX)),
            card("YBINNING", String(metadata.binningY)),
            card("INSTRUME", quoted(String(instrument.filter { $0.isASCII && !$0.isNewline }.prefix(60)))),
            card("EXPID", quoted(metadata.exposureId), "Aperture exposure id"),
            card("FRAMENUM", String(metadata.frameNumber), "frame within the exposure"),
            card("ROWORDER", quoted(metadata.topDown ? "TOP-DOWN" : "BOTTOM-UP"), "order of the rows"),
        ]
        cards.append("END".padding(toLength: 80, withPad: " ", startingAt: 0))
        var bytes = Array(cards.joined().utf8)
        bytes += [UInt8](repeating: 0x20, count: (2880 - bytes.count % 2880) % 2880)
        let width = metadata.width
        let height = metadata.height
        let dataStart = bytes.count
        bytes += [UInt8](repeating: 0, count: width * height * 2)
        bytes.withUnsafeMutableBufferPointer { output in
            for row in 0..<height {
                let sourceRow = row
                var offset = dataStart + row * width * 2
                for column in 0..<width {
                    let value = pixels[sourceRow * width + column] ^ 0x8000  // minus BZERO, as two's complement
                    output[offset] = UInt8(value >> 8)
                    output[offset + 1] = UInt8(value & 0xFF)
                    offset += 2
                }
            }
        }
        bytes += [UInt8](repeating: 0, count: (2880 - bytes.count % 2880) % 2880)
        return bytes
    }

    private static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''").padding(toLength: max(8, text.count), withPad: " ", startingAt: 0) + "'"
    }

    private static func card(_ keyword: String, _ value: String, _ comment: String? = nil) -> String {
        var text = keyword.padding(toLength: 8, withPad: " ", startingAt: 0) + "= "
        text += value.hasPrefix("'") ? value : String(repeating: " ", count: max(0, 20 - value.count)) + value
        if let comment { text += " / " + comment }
        return String(text.prefix(80)).padding(toLength: 80, withPad: " ", startingAt: 0)
    }
}
