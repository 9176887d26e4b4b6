import Bus
import FITSStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// `imagearray`: the pixels of the exposure started through Alpaca, straight from the camera's
/// frame ring into the reply buffer (the one copy, which also transposes: Alpaca sends x outer,
/// y inner, with y = 0 the top row).
enum AlpacaImage {
    /// The 44-byte ImageBytes header's size.
    static let headerSize = 44
    /// ImageBytes element types.
    static let int32: Int32 = 2
    static let uint16: Int32 = 8

    /// The reply: ImageBytes when the client accepts `application/imagebytes`, JSON otherwise;
    /// errors always as the JSON envelope (alpyca and ASCOM's clients read those either way).
    static func response(camera: AlpacaCamera, imageBytes: Bool, transaction: AlpacaTransaction) async -> Response {
        let exposure: AlpacaCamera.Exposure?
        do {
            exposure = try await camera.readyExposure()
        } catch {
            return AlpacaEnvelope.response(value: nil, error: error, transaction: transaction)
        }
        guard let exposure, exposure.location != nil || exposure.file != nil else {
            return AlpacaEnvelope.response(value: nil, error: .invalidOperation(
                "imagearray: no image is ready (start an exposure and wait until imageready is true)"), transaction: transaction)
        }
        @Sendable func encode(_ shape: Shape, _ pixels: UnsafeBufferPointer<UInt16>) -> ByteBuffer {
            imageBytes
                ? encodeImageBytes(shape, pixels: pixels, transaction: transaction)
                : encodeJSON(shape, pixels: pixels, transaction: transaction)
        }
        // The transposing copy (and the JSON digits) run on the thread pool (see Gateway.offload):
        // from the ring while it still holds the frame, else from the FITS file.
        let body: ByteBuffer?
        do {
            let reader = try? camera.gateway.frames.current()
            body = try await Gateway.offload {
                if let location = exposure.location, let reader,
                   let body = reader.withFrame(location, { metadata, pixels in
                       encode(Shape(width: metadata.width, height: metadata.height, topDown: metadata.topDown), pixels)
                   }) {
                    return body
                }
                guard let file = exposure.file else { return nil }
                let image = try FITSFile.read(path: file)
                let topDown = image.header["ROWORDER"]?.contains(RowOrder.topDown.rawValue) ?? false
                return image.pixels.withUnsafeBufferPointer {
                    encode(Shape(width: image.width, height: image.height, topDown: topDown), $0)
                }
            }
        } catch {
            return AlpacaEnvelope.response(value: nil, error: .driver("imagearray: \(error.message)"), transaction: transaction)
        }
        guard let body else {
            return AlpacaEnvelope.response(value: nil, error: .invalidOperation(
                "imagearray: the image of exposure \(exposure.id) is no longer in the camera's frame ring "
                + "(newer frames replaced it, or the camera restarted); its FITS file holds it"), transaction: transaction)
        }
        return Response(status: .ok,
                        headers: [.contentType: imageBytes ? "application/imagebytes" : "application/json; charset=utf-8",
                                  .cacheControl: "no-store"],
                        body: .init(byteBuffer: body))
    }

    /// An image's size and row order.
    struct Shape {
        var width: Int
        var height: Int
        /// Whether the first row in memory is the top of the image.
        var topDown: Bool
    }

    /// The ring row holding Alpaca row `y` (y = 0 is the top of the image).
    @inline(__always)
    static func ringRow(_ y: Int, height: Int, topDown: Bool) -> Int { topDown ? y : height - 1 - y }

    /// ImageBytes: the header (MetadataVersion 1, ErrorNumber, ClientTransactionID,
    /// ServerTransactionID, DataStart 44, ImageElementType Int32 as ImageArray is,
    /// TransmissionElementType UInt16, Rank 2, Dimension1 = width, Dimension2 = height, 0),
    /// then the pixels little-endian, x outer, y inner.
    static func encodeImageBytes(_ metadata: Shape, pixels: UnsafeBufferPointer<UInt16>,
                                 transaction: AlpacaTransaction) -> ByteBuffer {
        let width = metadata.width, height = metadata.height
        let count = width * height
        var buffer = ByteBufferAllocator().buffer(capacity: headerSize + count * 2)
        for value: Int32 in [1, 0, Int32(bitPattern: transaction.client), Int32(bitPattern: transaction.server),
                             Int32(headerSize), int32, uint16, 2, Int32(width), Int32(height), 0] {
            buffer.writeInteger(value, endianness: .little)
        }
        let topDown = metadata.topDown
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count * 2) { raw in
            let out = raw.baseAddress!.bindMemory(to: UInt16.self, capacity: count)
            let source = pixels.baseAddress!
            // Tiles keep both the rows read and the columns written in cache.
            let tile = 64
            var y0 = 0
            while y0 < height {
                let y1 = min(y0 + tile, height)
                var x0 = 0
                while x0 < width {
                    let x1 = min(x0 + tile, width)
                    for y in y0..<y1 {
                        let row = source + ringRow(y, height: height, topDown: topDown) * width
                        var target = out + x0 * height + y
                        for x in x0..<x1 {
                            target.pointee = row[x].littleEndian
                            target += height
                        }
                    }
                    x0 = x1
                }
                y0 = y1
            }
            return count * 2
        }
        return buffer
    }

    /// The JSON form: `{"Type":2,"Rank":2,"Value":[[column 0, top to bottom],...],...}`, written
    /// digit by digit from the ring.
    static func encodeJSON(_ metadata: Shape, pixels: UnsafeBufferPointer<UInt16>,
                           transaction: AlpacaTransaction) -> ByteBuffer {
        let width = metadata.width, height = metadata.height
        let head = "{\"Type\":2,\"Rank\":2,\"Value\":["
        let tail = "],\"ClientTransactionID\":\(transaction.client),\"ServerTransactionID\":\(transaction.server),"
            + "\"ErrorNumber\":0,\"ErrorMessage\":\"\"}"
        // At most 5 digits and a comma per pixel, brackets and a comma per column.
        let capacity = head.utf8.count + tail.utf8.count + width * (height * 6 + 3)
        var buffer = ByteBufferAllocator().buffer(capacity: capacity)
        buffer.writeString(head)
        let topDown = metadata.topDown
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: capacity - head.utf8.count) { raw in
            var out = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            let start = out
            let source = pixels.baseAddress!
            for x in 0..<width {
                if x > 0 { out.pointee = UInt8(ascii: ","); out += 1 }
                out.pointee = UInt8(ascii: "["); out += 1
                for y in 0..<height {
                    if y > 0 { out.pointee = UInt8(ascii: ","); out += 1 }
                    var value = Int(source[ringRow(y, height: height, topDown: topDown) * width + x])
                    if value == 0 {
                        out.pointee = UInt8(ascii: "0"); out += 1
                        continue
                    }
                    var digits = 0
                    var scratch: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
                    withUnsafeMutableBytes(of: &scratch) { scratch in
                        while value > 0 {
                            scratch[digits] = UInt8(48 + value % 10)
                            value /= 10
                            digits += 1
                        }
                        for index in stride(from: digits - 1, through: 0, by: -1) {
                            out.pointee = scratch[index]; out += 1
                        }
                    }
                }
                out.pointee = UInt8(ascii: "]"); out += 1
            }
            return out - start
        }
        buffer.writeString(tail)
        return buffer
    }
}
