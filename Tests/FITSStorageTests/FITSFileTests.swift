import Foundation
import Testing
@testable import FITSStorage

/// 2026-11-21T21:04:05.123Z
let exposureStart = Date(timeIntervalSince1970: 1_795_295_045.123)

let longComment = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 5)
    .trimmingCharacters(in: .whitespaces)

/// Cards of every value type, as the camera process writes them.
let sampleCards: [FITSCard] = [
    FITSCard("DATE-OBS", .date(exposureStart), comment: "UTC start of exposure"),
    FITSCard("EXPTIME", .double(1.5), comment: "[s] exposure time"),
    FITSCard("CCD-TEMP", .double(-10.25), comment: "[C] CCD temperature"),
    FITSCard("XPIXSZ", .double(0.1)),
    FITSCard("TINY", .double(1.5e-7)),
    FITSCard("HUGE", .double(6.02214076e23)),
    FITSCard("THIRD", .double(1.0 / 3.0)),
    FITSCard("XBINNING", .integer(2), comment: "binning factor in x"),
    FITSCard("OFFSET", .integer(-42)),
    FITSCard("BIGINT", .integer(9_007_199_254_740_993)),
    FITSCard("IMAGETYP", .string("Light Frame"), comment: "frame type"),
    FITSCard("OBJECT", .string("M31 it's")),
    FITSCard("OBSERVER", .string("")),
    FITSCard("ROWORDER", .string("TOP-DOWN"), comment: "order of the rows"),
    FITSCard("SIMULATD", .logical(true)),
    FITSCard("COOLER", .logical(false)),
]
let sampleComments = [longComment, "focus: 1234", "line one\nline two"]

/// Writes the sample image with the sample cards into `folder`; returns its path.
func writeSample(in folder: String, name: String = "sample.fits", width: Int = 64, height: Int = 48) throws -> (path: String, pixels: [UInt16]) {
    let pixels = patternImage(width: width, height: height)
    let path = folder + "/" + name
    try pixels.withUnsafeBufferPointer { buffer in
        try FITSFile.write(pixels: buffer, width: width, height: height, cards: sampleCards, comments: sampleComments, to: path)
    }
    return (path, pixels)
}

@Suite("FITS files")
struct FITSFileTests {
    @Test("write then read gives back the pixels and every card")
    func roundTrip() throws {
        try withTemporaryFolder { folder in
            let (path, pixels) = try writeSample(in: folder)
            let image = try FITSFile.read(path: path)
            #expect(image.width == 64)
            #expect(image.height == 48)
            #expect(image.pixels == pixels)
            #expect(image.pixels.contains(0) && image.pixels.contains(65535))

            let header = image.header
            #expect(header["BITPIX"] == "16")
            #expect(header["NAXIS"] == "2")
            #expect(header["NAXIS1"] == "64")
            #expect(header["NAXIS2"] == "48")
            #expect(header["BZERO"] == "32768")
            #expect(header["BSCALE"] == "1")
            #expect(header["DATE-OBS"] == "'2026-11-21T21:04:05.123'")
            #expect(header["IMAGETYP"] == "'Light Frame'")
            #expect(header["OBJECT"] == "'M31 it''s'")
            #expect(header["ROWORDER"] == "'TOP-DOWN'")
            #expect(header["XBINNING"] == "2")
            #expect(header["OFFSET"] == "-42")
            #expect(header["BIGINT"] == "9007199254740993")
            #expect(header["SIMULATD"] == "T")
            #expect(header["COOLER"] == "F")
            for card in sampleCards {
                guard case .double(let value) = card.value else { continue }
                let raw = try #require(header[card.keyword], "\(card.keyword) missing")
                #expect(Double(raw) == value, "\(card.keyword) = \(raw), expected \(value)")
            }
            let comments = try #require(header["COMMENT"])
            let lines = comments.split(separator: "\n").map(String.init)
            #expect(lines.joined().contains(longComment), "the long comment, split over several cards, is all there")
            #expect(lines.contains { $0.count > 60 } && lines.allSatisfy { $0.count <= 72 })
            #expect(lines.contains("focus: 1234"))
            #expect(lines.contains("line one") && lines.contains("line two"))
            #expect(header["CHECKSUM"]?.count == 18)
            #expect(header["DATASUM"] != nil)
        }
    }

    @Test("a card's value text reads back as the value written, and as the text a user sees")
    func valueText() throws {
        try withTemporaryFolder { folder in
            let (path, _) = try writeSample(in: folder)
            let header = try FITSFile.read(path: path).header
            for card in sampleCards {
                let raw = try #require(header[card.keyword], "\(card.keyword) missing")
                #expect(FITSFile.value(fromCardText: raw) == card.value, "\(card.keyword) = \(raw)")
                if case .string(let text) = card.value {
                    #expect(FITSFile.displayText(fromCardText: raw) == text, "\(card.keyword) = \(raw)")
                }
            }
        }
        // Quotes doubled inside a string, blanks around it and trailing blanks inside it.
        #expect(FITSFile.value(fromCardText: "  'it''s  '   ") == .string("it's"))
        #expect(FITSFile.displayText(fromCardText: "  'it''s  '   ") == "it's")
        #expect(FITSFile.value(fromCardText: "''''") == .string("'"))
        #expect(FITSFile.value(fromCardText: "'  leading'") == .string("  leading"))
        #expect(FITSFile.value(fromCardText: "''") == .string(""))
        #expect(FITSFile.value(fromCardText: "'") == nil, "one quote is no string")
        #expect(FITSFile.displayText(fromCardText: "\t  -10.25 ") == "-10.25")
        #expect(FITSFile.displayText(fromCardText: "T") == "T")
        #expect(FITSFile.value(fromCardText: " T ") == .logical(true))
        #expect(FITSFile.value(fromCardText: "F") == .logical(false))
        #expect(FITSFile.value(fromCardText: " 42") == .integer(42))
        #expect(FITSFile.value(fromCardText: "1.5D-3") == .double(0.0015), "Fortran exponents")
        #expect(FITSFile.value(fromCardText: "2.5E+2") == .double(250))
        #expect(FITSFile.value(fromCardText: "NAN") == nil && FITSFile.value(fromCardText: "1D999") == nil, "not finite")
        #expect(FITSFile.value(fromCardText: "") == nil && FITSFile.value(fromCardText: "12 34") == nil)
        #expect(FITSFile.number(fromValueText: "-3.25D1") == -32.5)
        #expect(FITSFile.number(fromValueText: "abc") == nil)
    }

    @Test("cards come in order: mandatory ones, the caller's cards, COMMENT, CHECKSUM, DATASUM")
    func cardOrder() throws {
        try withTemporaryFolder { folder in
            let (path, _) = try writeSample(in: folder)
            let bytes = try #require(FileManager.default.contents(atPath: path))
            let cards = stride(from: 0, to: 2880 * 2, by: 80).map {
                String(decoding: bytes[$0..<$0 + 8], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            }
            let used = Array(cards.prefix { $0 != "END" })
            #expect(Array(used.prefix(6)) == ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "EXTEND"])
            let mine = used.filter { ["BZERO", "BSCALE", "CHECKSUM", "DATASUM"].contains($0) || sampleCards.map(\.keyword).contains($0) }
            #expect(mine == ["BZERO", "BSCALE"] + sampleCards.map(\.keyword) + ["CHECKSUM", "DATASUM"])
            #expect(used.last == "DATASUM")
            #expect(!used.contains("HIERARCH"))
        }
    }

    @Test("CHECKSUM and DATASUM verify with cfitsio (odd sizes and sizes over one chunk too)",
          arguments: [(64, 48), (5, 3), (1, 1), (513, 257)])
    func checksumsVerify(width: Int, height: Int) throws {
        try withTemporaryFolder { folder in
            let (path, _) = try writeSample(in: folder, width: width, height: height)
            let result = try FITSFile.verifyChecksums(path: path)
            #expect(result.data == 1, "DATASUM verifies")
            #expect(result.hdu == 1, "CHECKSUM verifies")
        }
    }

    @Test("the data unit and DATASUM are byte for byte what cfitsio writes with ffppr(TUSHORT) + ffpcks",
          arguments: [(64, 48), (5, 3), (513, 257)])
    func sameAsCFITSIO(width: Int, height: Int) throws {
        try withTemporaryFolder { folder in
            let (path, pixels) = try writeSample(in: folder, width: width, height: height)
            let reference = folder + "/reference.fits"
            try pixels.withUnsafeBufferPointer { buffer in
                try FITSFile.writeWithCFITSIO(
                    pixels: buffer, width: width, height: height, cards: sampleCards, comments: sampleComments,
                    checksum: true, to: reference)
            }
            let mine = try #require(FileManager.default.contents(atPath: path))
            let theirs = try #require(FileManager.default.contents(atPath: reference))
            #expect(mine.count == theirs.count)
            let headerLength = 2880 * 2
            #expect(mine.dropFirst(headerLength) == theirs.dropFirst(headerLength), "data units differ")
            let myHeader = try FITSFile.read(path: path).header
            var theirHeader = try FITSFile.read(path: reference).header
            #expect(myHeader["DATASUM"] == theirHeader["DATASUM"])
            theirHeader["CHECKSUM"] = myHeader["CHECKSUM"]
            #expect(myHeader == theirHeader, "same cards apart from CHECKSUM")
        }
    }

    @Test("the bytes built in memory are the bytes written to the file")
    func encodeMatchesFile() throws {
        try withTemporaryFolder { folder in
            let (path, pixels) = try writeSample(in: folder)
            let encoded = try pixels.withUnsafeBufferPointer { buffer in
                try FITSFile.encode(pixels: buffer, width: 64, height: 48, cards: sampleCards, comments: sampleComments)
            }
            #expect(Data(encoded) == FileManager.default.contents(atPath: path))
        }
    }

    @Test("fitsverify reports 0 warnings and 0 errors")
    func fitsverifyPasses() throws {
        let fitsverify = "/usr/bin/fitsverify"
        try #require(FileManager.default.isExecutableFile(atPath: fitsverify), "install the Debian package fitsverify")
        try withTemporaryFolder { folder in
            let (path, _) = try writeSample(in: folder)
            let output = try run(fitsverify, [path])
            // **** Verification found 0 warning(s) and 0 error(s). ****
            let summary = try #require(
                output.stdout.split(separator: "\n").first { $0.contains("Verification found") },
                "no summary line in:\n\(output.stdout)\(output.stderr)")
            let numbers = summary.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            #expect(numbers == [0, 0], "fitsverify: \(summary)\n\(output.stdout)")
            #expect(output.status == 0)
        }
    }

    @Test("astropy reads every keyword back, the pixels, and verifies the checksums")
    func astropyReadsBack() throws {
        let script = """
            import json, sys, warnings
            warnings.simplefilter("error")
            from astropy.io import fits
            with fits.open(sys.argv[1], checksum=True) as hdul:
                hdul.verify("exception")
                hdu = hdul[0]
                cards = {}
                for card in hdu.header.cards:
                    v = card.value
                    kind = "bool" if isinstance(v, bool) else "int" if isinstance(v, int) else \
                        "float" if isinstance(v, float) else "str"
                    if card.keyword == "COMMENT":
                        cards.setdefault("COMMENT", ["list", []])[1].append(str(v))
                    else:
                        cards[card.keyword] = [kind, repr(v) if kind == "float" else str(v)]
                data = hdu.data
                print(json.dumps({
                    "cards": cards,
                    "dtype": str(data.dtype), "shape": list(data.shape),
                    "sum": int(data.astype("int64").sum()),
                    "corners": [int(data[0, 0]), int(data[0, 1]), int(data[0, 2]), int(data[-1, -1])],
                    "checksum": int(hdu.verify_checksum()), "datasum": int(hdu.verify_datasum()),
                }))
            """
        try withTemporaryFolder { folder in
            let (path, pixels) = try writeSample(in: folder)
            let output = try run("/usr/bin/env", ["python3", "-c", script, path])
            try #require(output.status == 0, "astropy failed (pip install astropy?):\n\(output.stderr)")
            struct Reply: Decodable {
                var cards: [String: [Value]]
                var dtype: String
                var shape: [Int]
                var sum: Int
                var corners: [Int]
                var checksum: Int
                var datasum: Int
            }
            enum Value: Decodable, Equatable {
                case text(String), list([String])
                init(from decoder: any Decoder) throws {
                    let container = try decoder.singleValueContainer()
                    if let text = try? container.decode(String.self) { self = .text(text) } else { self = .list(try container.decode([String].self)) }
                }
            }
            let reply = try JSONDecoder().decode(Reply.self, from: Data(output.stdout.utf8))
            #expect(reply.checksum == 1 && reply.datasum == 1)
            #expect(reply.dtype == "uint16")
            #expect(reply.shape == [48, 64])
            #expect(reply.sum == pixels.reduce(0) { $0 + Int($1) })
            #expect(reply.corners == [Int(pixels[0]), Int(pixels[1]), Int(pixels[2]), Int(pixels[pixels.count - 1])])
            for card in sampleCards {
                let got = try #require(reply.cards[card.keyword], "astropy does not see \(card.keyword)")
                switch card.value {
                case .string(let text): #expect(got == [.text("str"), .text(text)], "\(card.keyword)")
                case .integer(let number): #expect(got == [.text("int"), .text(String(number))], "\(card.keyword)")
                case .logical(let flag): #expect(got == [.text("bool"), .text(flag ? "True" : "False")], "\(card.keyword)")
                case .double(let number):
                    guard got.count == 2, case .text(let repr) = got[1] else { Issue.record("\(card.keyword): \(got)"); continue }
                    #expect(got[0] == .text("float") && Double(repr) == number, "\(card.keyword): \(repr) != \(number)")
                }
            }
            guard case .list(let comments)? = reply.cards["COMMENT"]?.last else {
                Issue.record("no COMMENT cards")
                return
            }
            #expect(comments.joined().contains(longComment))
            #expect(reply.cards["CHECKSUM"] != nil && reply.cards["DATASUM"] != nil)
        }
    }

    @Test("validate explains what is wrong with a card")
    func validation() {
        #expect(FITSFile.validate(FITSCard("EXPTIME", .double(1))) == nil)
        #expect(FITSFile.validate(FITSCard("DATE-OBS", .string("2026-11-21T21:04:05.123"))) == nil)
        #expect(FITSFile.validate(FITSCard("A_B-9", .logical(true))) == nil)
        #expect(FITSFile.validate(FITSCard("exptime", .double(1)))?.contains("upper case") == true)
        #expect(FITSFile.validate(FITSCard("EXPOSURETIME", .double(1)))?.contains("longer than 8") == true)
        #expect(FITSFile.validate(FITSCard("", .double(1)))?.contains("empty") == true)
        #expect(FITSFile.validate(FITSCard("EXP TIME", .double(1))) != nil)
        for reserved in ["SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS999", "EXTEND", "BZERO", "BSCALE",
                         "CHECKSUM", "DATASUM", "END", "COMMENT", "HISTORY", "CONTINUE", "HIERARCH"] {
            #expect(FITSFile.validate(FITSCard(reserved, .integer(1)))?.contains("reserved") == true, "\(reserved)")
        }
        #expect(FITSFile.validate(FITSCard("NAXISX", .integer(1))) == nil)
        #expect(FITSFile.validate(FITSCard("OBJECT", .string("Andromède")))?.contains("U+00E8") == true)
        #expect(FITSFile.validate(FITSCard("OBJECT", .string("tab\there"))) != nil)
        #expect(FITSFile.validate(FITSCard("OBJECT", .string(String(repeating: "x", count: 68)))) == nil)
        #expect(FITSFile.validate(FITSCard("OBJECT", .string(String(repeating: "x", count: 69))))?.contains("69") == true)
        #expect(FITSFile.validate(FITSCard("OBJECT", .string(String(repeating: "'", count: 35))))?.contains("70") == true)
        #expect(FITSFile.validate(FITSCard("EXPTIME", .double(.nan))) != nil)
        #expect(FITSFile.validate(FITSCard("EXPTIME", .double(.infinity))) != nil)
        #expect(FITSFile.validate(FITSCard("EXPTIME", .double(1), comment: "naïve")) != nil)
        #expect(FITSFile.validate(comment: "ok\nstill ok") == nil)
        #expect(FITSFile.validate(comment: "température") != nil)
    }

    @Test("write refuses invalid cards, repeated keywords, wrong sizes and existing files, creating nothing")
    func writeRefuses() throws {
        try withTemporaryFolder { folder in
            let pixels = patternImage()
            let path = folder + "/refused.fits"
            func attempt(_ cards: [FITSCard], comments: [String] = [], width: Int = 64, height: Int = 48) -> StorageError? {
                do {
                    try pixels.withUnsafeBufferPointer { buffer in
                        try FITSFile.write(pixels: buffer, width: width, height: height, cards: cards, comments: comments, to: path)
                    }
                    return nil
                } catch let error as StorageError {
                    return error
                } catch {
                    Issue.record("unexpected \(error)")
                    return nil
                }
            }
            #expect(attempt([FITSCard("BZERO", .integer(0))])?.message.contains("reserved") == true)
            #expect(attempt([FITSCard("lower", .integer(0))])?.message.contains(path) == true)
            #expect(attempt([FITSCard("FILTER", .string("V")), FITSCard("FILTER", .string("B"))])?.message.contains("twice") == true)
            #expect(attempt([], comments: ["café"]) != nil)
            #expect(attempt([], width: 65) != nil)
            #expect(attempt([], width: 0, height: 0) != nil)
            #expect(entries(folder).isEmpty)

            try Data("keep me".utf8).write(to: URL(fileURLWithPath: path))
            let exists = attempt([])
            #expect(exists?.errnoValue == EEXIST)
            #expect(exists?.message.contains(path) == true)
            #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
        }
    }

    @Test("doubles are written in their shortest exact FITS form")
    func doubleFormat() {
        #expect(FITSFormat.double(1.5) == "1.5")
        #expect(FITSFormat.double(100) == "100.0")
        #expect(FITSFormat.double(-10.25) == "-10.25")
        #expect(FITSFormat.double(1.5e-7) == "1.5E-07")
        #expect(FITSFormat.double(1e-5) == "1.0E-05")
        #expect(FITSFormat.double(6.02214076e23) == "6.02214076E+23")
        #expect(FITSFormat.double(-0.0) == "-0.0")
        for value in [0.1, 1.0 / 3.0, .pi, 1e300, -2.5e-300, 123456789.123456789] {
            #expect(Double(FITSFormat.double(value)) == value)
        }
    }

    @Test("DATE-OBS values are UTC ISO 8601 with milliseconds, truncated")
    func dateFormat() {
        #expect(FITSValue.date(exposureStart) == .string("2026-11-21T21:04:05.123"))
        #expect(FITSValue.date(Date(timeIntervalSince1970: 1_795_305_599.9996)) == .string("2026-11-21T23:59:59.999"))
        #expect(FITSValue.date(Date(timeIntervalSince1970: 0)) == .string("1970-01-01T00:00:00.000"))
        #expect(FITSValue.date(Date(timeIntervalSince1970: -0.5)) == .string("1969-12-31T23:59:59.500"))
    }

    @Test("read names the file when it cannot open it")
    func readMissing() {
        #expect {
            _ = try FITSFile.read(path: "/nonexistent/frame.fits")
        } throws: { error in
            (error as? StorageError)?.message.contains("/nonexistent/frame.fits") == true
        }
    }
}

@Suite("FITS files that state more than they hold")
struct FITSStatedSizeTests {
    /// A header of `cards` and one block of zero data: a file of 5,760 bytes.
    func file(_ cards: [String]) throws -> String {
        var header = (cards + ["END"]).map { $0.padding(toLength: 80, withPad: " ", startingAt: 0) }.joined()
        header = header.padding(toLength: 2880, withPad: " ", startingAt: 0)
        let path = NSTemporaryDirectory() + "stated-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).fits"
        FileManager.default.createFile(atPath: path, contents: Data(header.utf8) + Data(count: 2880))
        return path
    }

    @Test("a header claiming 60000 x 60000 pixels, or a side beyond 65535, is refused before they are allocated")
    func aHeaderClaimingMorePixelsThanTheFileHoldsIsRefused() throws {
        for (width, height) in [(60000, 60000), (70000, 1), (1, 0)] {
            let path = try file(["SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   =                    2",
                                 "NAXIS1  = \(String(width).leftPadded(to: 20))", "NAXIS2  = \(String(height).leftPadded(to: 20))"])
            defer { try? FileManager.default.removeItem(atPath: path) }
            let error = #expect(throws: StorageError.self) { try FITSFile.read(path: path) }
            #expect(error?.message.contains("states") == true, "\(width) x \(height): \(error?.message ?? "no error")")
        }
        // What the file does hold reads as before: 32 x 32 16-bit pixels fit in its 2,880 bytes of data.
        let fits = try file(["SIMPLE  =                    T", "BITPIX  =                   16", "NAXIS   =                    2",
                             "NAXIS1  =                   32", "NAXIS2  =                   32"])
        defer { try? FileManager.default.removeItem(atPath: fits) }
        #expect(try FITSFile.read(path: fits).pixels.count == 1024)
    }
}

private extension String {
    func leftPadded(to length: Int) -> String { String(repeating: " ", count: max(0, length - count)) + self }
}
