import Foundation
import Testing
@testable import FITSStorage
#if canImport(Glibc)
import Glibc
#endif

/// A noisy frame like a sky background (what Rice is for): a level with Poisson-like noise, a few
/// bright stars and saturated pixels, deterministic.
func noisyImage(width: Int = 256, height: Int = 200, seed: UInt64 = 1) -> [UInt16] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
    var pixels = (0..<(width * height)).map { _ in UInt16(1000 + Int(next() % 64) - 32) }
    for star in 0..<12 {
        let center = Int(next() % UInt64(pixels.count))
        pixels[center] = UInt16(20_000 + star * 3000)
    }
    pixels[0] = 0
    pixels[1] = 65535
    pixels[2] = 32768
    pixels[3] = 32767
    return pixels
}

@Suite("Rice-compressed frames (.fits.fz)")
struct CompressedFrameTests {
    /// Saves `pixels` with a rice store and returns the file.
    func saveRice(_ store: FrameStore, _ pixels: [UInt16], width: Int, height: Int, firstNumber: Int? = nil) throws -> SavedFile {
        try pixels.withUnsafeBufferPointer { buffer in
            try store.save(pixels: buffer, width: width, height: height, cards: sampleCards,
                           comments: sampleComments, date: justBeforeMidnight, firstNumber: firstNumber)
        }
    }

    @Test("a rice save is PREFIX-0001.fits.fz, smaller than the plain file, read back bit-exact with the same header cards")
    func roundTrip() throws {
        try withTemporaryFolder { folder in
            let pixels = noisyImage()
            let original = pixels
            let store = FrameStore(root: folder, prefix: "image", compression: .rice)
            let saved = try saveRice(store, pixels, width: 256, height: 200)
            #expect(saved.path == folder + "/20261121/image-0001.fits.fz")
            #expect(pixels == original, "the caller's pixels are not modified by the compression")
            #expect(try FileManager.default.attributesOfItem(atPath: saved.path)[.size] as? Int == saved.bytes)
            #expect(saved.bytes % 2880 == 0)
            #expect(entries(folder + "/20261121") == ["image-0001.fits.fz"], "no temporary file left")

            let plain = FrameStore(root: folder + "/plain", prefix: "image")
            let reference = try pixels.withUnsafeBufferPointer { buffer in
                try plain.save(pixels: buffer, width: 256, height: 200, cards: sampleCards,
                               comments: sampleComments, date: justBeforeMidnight)
            }
            #expect(saved.bytes * 3 < reference.bytes * 2, "noise of 6 bits in 16-bit pixels compresses at least 1.5:1 (\(saved.bytes) of \(reference.bytes))")

            let read = try FITSFile.read(path: saved.path)
            #expect(read.width == 256 && read.height == 200)
            #expect(read.pixels == original)
            let plainHeader = try FITSFile.read(path: reference.path).header
            for card in sampleCards {
                #expect(read.header[card.keyword] == plainHeader[card.keyword], "\(card.keyword)")
            }
            #expect(read.header["NAXIS1"]?.trimmingCharacters(in: .whitespaces) == "256")
            #expect(read.header["COMMENT"]?.contains(longComment.prefix(60)) == true)
            // The catalog reads headers through readHeader: the same cards for both forms, in order.
            let skipped: Set<String> = ["SIMPLE", "EXTEND", "CHECKSUM", "DATASUM", "XTENSION", "PCOUNT", "GCOUNT"]
            let compressedCards = try FITSFile.readHeader(path: saved.path).filter { !skipped.contains($0.keyword) }
            let plainCards = try FITSFile.readHeader(path: reference.path).filter { !skipped.contains($0.keyword) }
            #expect(compressedCards.map(\.keyword).sorted() == plainCards.map(\.keyword).sorted())
            for card in plainCards {
                #expect(compressedCards.first { $0.keyword == card.keyword }?.value == card.value, "\(card.keyword)")
            }
            // Asked for the primary HDU, readHeader gives the empty primary.
            #expect(try FITSFile.readHeader(path: saved.path, hdu: 1).contains { $0.keyword == "NAXIS" && $0.value == "0" })
        }
    }

    @Test("the primary header parsed from a plain file's first bytes is readHeader's, card for card; a compressed file's, or bytes without END, are left to readHeader")
    func primaryHeaderFromBytes() throws {
        try withTemporaryFolder { folder in
            let pixels = noisyImage()
            let plain = try pixels.withUnsafeBufferPointer { buffer in
                try FrameStore(root: folder + "/plain", prefix: "image").save(
                    pixels: buffer, width: 256, height: 200, cards: sampleCards, comments: sampleComments, date: justBeforeMidnight)
            }
            let rice = try saveRice(FrameStore(root: folder, prefix: "image", compression: .rice), pixels, width: 256, height: 200)
            let plainBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: plain.path)))
            let parsed = try plainBytes.withUnsafeBytes { try FITSFile.primaryImageHeader($0, path: plain.path) }
            let read = try FITSFile.readHeader(path: plain.path)
            #expect(parsed?.map(\.keyword) == read.map(\.keyword))
            #expect(parsed?.map(\.value) == read.map(\.value))
            #expect(parsed?.contains { $0.keyword == "OBJECT" } == true, "the sample cards are there: \(parsed?.map(\.keyword) ?? [])")
            // Only the first 2880 bytes: the header goes on past them (sampleComments are long), no END.
            let headerBlocks = try #require(plainBytes.indices.first { index in
                index % 80 == 0 && plainBytes[index..<index + 8].elementsEqual(Array("END     ".utf8))
            })
            if headerBlocks >= 2880 {
                #expect(try plainBytes.prefix(2880).withUnsafeBytes { try FITSFile.primaryImageHeader($0, path: plain.path) } == nil)
            }
            let riceBytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: rice.path)))
            #expect(try riceBytes.withUnsafeBytes { try FITSFile.primaryImageHeader($0, path: rice.path) } == nil,
                    "the compressed image is the second HDU")
            #expect(try Array("not FITS at all".utf8).withUnsafeBytes { try FITSFile.primaryImageHeader($0, path: "x") } == nil)
        }
    }

    @Test("full 2048x2048 frames, one after the other (cfitsio's memory file grows several times), read back bit-exact")
    func largeFrames() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder, prefix: "image", compression: .rice)
            for seed in 1...3 as ClosedRange<UInt64> {
                let pixels = noisyImage(width: 2048, height: 2048, seed: seed)
                let saved = try saveRice(store, pixels, width: 2048, height: 2048)
                #expect(try FITSFile.read(path: saved.path).pixels == pixels)
                #expect(try FITSFile.verifyChecksums(path: saved.path, hdu: 2) == (1, 1))
                #expect(saved.bytes < 2048 * 2048 * 2 * 2 / 3, "\(saved.bytes) bytes")
            }
        }
    }

    @Test("CHECKSUM and DATASUM are present and valid on the primary and on the compressed HDU (cfitsio's ffvcks)")
    func checksums() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder, prefix: "image", compression: .rice)
            let saved = try saveRice(store, noisyImage(), width: 256, height: 200)
            #expect(try FITSFile.verifyChecksums(path: saved.path, hdu: 1) == (1, 1))
            #expect(try FITSFile.verifyChecksums(path: saved.path, hdu: 2) == (1, 1))
            // The compressed HDU's own header, as stored (readHeader gives the image's).
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: saved.path)))
            let cards = stride(from: 2880, to: bytes.count, by: 80).map { String(decoding: bytes[$0..<($0 + 80)], as: UTF8.self) }
            let table = cards.prefix { !$0.hasPrefix("END     ") }
            #expect(table.first?.hasPrefix("XTENSION= 'BINTABLE'") == true)
            for expected in ["ZIMAGE  =                    T", "ZCMPTYPE= 'RICE_1  '", "ZBITPIX =                   16", "CHECKSUM= '", "DATASUM = '"] {
                #expect(table.contains { $0.hasPrefix(expected) }, "\(expected)")
            }
            // One flipped byte in the compressed data is seen.
            let handle = try #require(FileHandle(forUpdatingAtPath: saved.path))
            try handle.seek(toOffset: UInt64(saved.bytes - 2880 - 7))
            let byte = try #require(try handle.read(upToCount: 1)?.first)
            try handle.seek(toOffset: UInt64(saved.bytes - 2880 - 7))
            try handle.write(contentsOf: Data([byte ^ 0x5A]))
            try handle.close()
            #expect(try FITSFile.verifyChecksums(path: saved.path, hdu: 2).data == -1)
        }
    }

    @Test(".fits and .fits.fz names are one sequence: no number is used twice, whichever form a store saves")
    func numberingAcrossSuffixes() throws {
        try withTemporaryFolder { folder in
            let plain = FrameStore(root: folder, prefix: "image")
            let rice = FrameStore(root: folder, prefix: "image", compression: .rice)
            #expect(try plain.saveSample(seed: 1).path.hasSuffix("/image-0001.fits"))
            #expect(try saveRice(rice, noisyImage(width: 64, height: 48), width: 64, height: 48).path.hasSuffix("/image-0002.fits.fz"))
            // A fresh plain store (a camera restarted with compression off) continues after the .fz.
            #expect(try FrameStore(root: folder, prefix: "image").saveSample(seed: 3).path.hasSuffix("/image-0003.fits"))
            // A name by hand in the other form counts, and one in the way is skipped.
            try touch(folder + "/20261121/image-0009.fits")
            #expect(try saveRice(FrameStore(root: folder, prefix: "image", compression: .rice), noisyImage(width: 64, height: 48),
                                 width: 64, height: 48).path.hasSuffix("/image-0010.fits.fz"))
            try touch(folder + "/20261121/image-0005.fits")
            #expect(try saveRice(rice, noisyImage(width: 64, height: 48), width: 64, height: 48, firstNumber: 5)
                .path.hasSuffix("/image-0006.fits.fz"), "image-0005.fits holds number 5")
            try touch(folder + "/20261121/image-0007.fits.fz")
            #expect(try plain.saveSample(seed: 7, firstNumber: 7).path.hasSuffix("/image-0008.fits"), "image-0007.fits.fz holds number 7")
            #expect(entries(folder + "/20261121").filter { $0.hasPrefix(".") }.isEmpty)
        }
    }

    @Test("stale .fits.fz temporaries of dead writers are removed, a live writer's stay")
    func staleCompressedTemporaries() throws {
        try withTemporaryFolder { folder in
            let store = FrameStore(root: folder, prefix: "image", compression: .rice)
            let saved = try saveRice(store, noisyImage(width: 64, height: 48), width: 64, height: 48)
            let night = folder + "/20261121"
            try touch(night + "/.image-0002.fits.fz.tmp-99999999-abc")
            try touch(night + "/.image-0003.fits.fz.tmp-\(getpid())-9")
            #expect(store.removeStaleTemporaries() == [night + "/.image-0002.fits.fz.tmp-99999999-abc"])
            #expect(entries(night) == [".image-0003.fits.fz.tmp-\(getpid())-9", "image-0001.fits.fz"])
            #expect(try FITSFile.read(path: saved.path).pixels == noisyImage(width: 64, height: 48))
        }
    }

    @Test("fitsverify finds nothing; funpack restores the same pixels and cards; fpack's own Rice file is read the same")
    func debianTools() throws {
        for tool in ["/usr/bin/fitsverify", "/usr/bin/funpack", "/usr/bin/fpack"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool), "install the Debian packages fitsverify and libcfitsio-bin")
        }
        try withTemporaryFolder { folder in
            let pixels = noisyImage()
            let saved = try saveRice(FrameStore(root: folder, prefix: "image", compression: .rice), pixels, width: 256, height: 200)
            let verified = try run("/usr/bin/fitsverify", [saved.path])
            let summary = verified.stdout.split(separator: "\n").first { $0.contains("Verification found") }.map(String.init) ?? ""
            #expect(summary.contains("0 warning(s) and 0 error(s)"), "fitsverify: \(verified.stdout)")
            let unpacked = folder + "/unpacked.fits"
            let funpack = try run("/usr/bin/funpack", ["-O", unpacked, saved.path])
            try #require(funpack.status == 0, "funpack: \(funpack.stderr)")
            let restored = try FITSFile.read(path: unpacked)
            #expect(restored.pixels == pixels)
            #expect(restored.header["OBJECT"] == "'M31 it''s'")
            #expect(restored.header["OBJECT"] == (try FITSFile.read(path: saved.path)).header["OBJECT"])
            // fpack's Rice file of the plain frame holds the same pixels, and FITSFile reads it.
            let plainPath = folder + "/plain.fits"
            try pixels.withUnsafeBufferPointer { buffer in
                try FITSFile.write(pixels: buffer, width: 256, height: 200, cards: sampleCards, comments: [], to: plainPath)
            }
            let fpack = try run("/usr/bin/fpack", ["-r", plainPath])
            try #require(fpack.status == 0, "fpack: \(fpack.stderr)")
            #expect(try FITSFile.read(path: plainPath + ".fz").pixels == pixels)
            let theirs = try #require(try FileManager.default.attributesOfItem(atPath: plainPath + ".fz")[.size] as? Int)
            #expect(abs(theirs - saved.bytes) <= 2880, "fpack \(theirs) bytes, Aperture \(saved.bytes)")
        }
    }

    @Test("astropy reads [1].data bit-exact as uint16, with the cards, and verifies both HDUs' checksums")
    func astropyReadsBack() throws {
        let script = """
            import json, sys, warnings
            import numpy as np
            warnings.simplefilter("error")
            from astropy.io import fits
            with fits.open(sys.argv[1], checksum=True) as hdul:
                hdul.verify("exception")
                data = hdul[1].data
                expected = np.fromfile(sys.argv[2], dtype="<u2").reshape(data.shape)
                print(json.dumps({
                    "hdus": len(hdul), "primary_naxis": hdul[0].header["NAXIS"],
                    "dtype": str(data.dtype), "shape": list(data.shape),
                    "equal": bool((data == expected).all()),
                    "object": hdul[1].header.get("OBJECT"),
                }))
            """
        try withTemporaryFolder { folder in
            let pixels = noisyImage()
            let saved = try saveRice(FrameStore(root: folder, prefix: "image", compression: .rice), pixels, width: 256, height: 200)
            let raw = folder + "/pixels.u16"
            try pixels.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: raw)) }
            let output = try run("/usr/bin/env", ["python3", "-c", script, saved.path, raw])
            try #require(output.status == 0, "astropy failed:\n\(output.stderr)")
            struct Reply: Decodable {
                var hdus: Int
                var primary_naxis: Int
                var dtype: String
                var shape: [Int]
                var equal: Bool
                var object: String?
            }
            let reply = try JSONDecoder().decode(Reply.self, from: Data(output.stdout.utf8))
            #expect(reply.hdus == 2 && reply.primary_naxis == 0)
            #expect(reply.dtype == "uint16" && reply.shape == [200, 256])
            #expect(reply.equal, "astropy's pixels differ from the saved ones")
            let object = sampleCards.first { $0.keyword == "OBJECT" }
            if case .string(let text)? = object?.value { #expect(reply.object == text) }
        }
    }

    @Test("a compressed file stating far more pixels than it can hold is refused before they are allocated")
    func statedSizeBounded() throws {
        try withTemporaryFolder { folder in
            let saved = try saveRice(FrameStore(root: folder, prefix: "image", compression: .rice), noisyImage(width: 64, height: 48),
                                     width: 64, height: 48)
            var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: saved.path)))
            // Tiles of 60000 x 1250 pixels: still the table's 48 rows, as cfitsio checks.
            for (keyword, value) in [("ZNAXIS1", 60000), ("ZNAXIS2", 60000), ("ZTILE1", 60000), ("ZTILE2", 1250)] {
                let card = Array(keyword.padding(toLength: 8, withPad: " ", startingAt: 0).utf8)
                let start = try #require(stride(from: 2880, to: bytes.count, by: 80).first { Array(bytes[$0..<($0 + 8)]) == card })
                let text = Array(("= " + String(repeating: " ", count: 20 - String(value).count) + String(value)).utf8)
                bytes.replaceSubrange((start + 8)..<(start + 8 + text.count), with: text)
            }
            try Data(bytes).write(to: URL(fileURLWithPath: saved.path))
            let error = #expect(throws: StorageError.self) { try FITSFile.read(path: saved.path) }
            #expect(error?.message.contains("60000 x 60000") == true && error?.message.contains("compressed at most 4096 to 1") == true,
                    "\(error?.message ?? "")")
        }
    }

    @Test("a WCS version of a compressed frame is compressed too, with the new cards and the same pixels")
    func compressedVersion() throws {
        try withTemporaryFolder { folder in
            let pixels = noisyImage(width: 64, height: 48)
            let saved = try saveRice(FrameStore(root: folder, prefix: "image", compression: .rice), pixels, width: 64, height: 48)
            let destination = try #require(FITSFile.stem(of: saved.path)) + ".wcs.fits.fz"
            try FITSFile.writeVersion(of: saved.path, replacing: [FITSCard("CRVAL1", .double(10.5))], to: destination)
            let version = try FITSFile.read(path: destination)
            #expect(version.pixels == pixels)
            #expect(version.header["CRVAL1"]?.trimmingCharacters(in: .whitespaces) == "10.5")
            #expect(version.header["OBJECT"] == (try FITSFile.read(path: saved.path)).header["OBJECT"])
            #expect(try FITSFile.verifyChecksums(path: destination, hdu: 2) == (1, 1))
            #expect(FITSFile.isFITSName(destination) && FITSFile.stem(of: "a/b.fits") == "a/b" && FITSFile.stem(of: "b.fz") == nil)
        }
    }
}
