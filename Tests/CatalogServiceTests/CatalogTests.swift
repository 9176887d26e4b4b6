import ApertureProtocol
import Bus
@testable import CatalogService
import FITSStorage
import Foundation
import Logging
import Testing

/// A data root of real FITS files (written by FITSStorage through cfitsio) and a real SQLite
/// catalog (GRDB) over it, in a scratch folder.
final class CatalogScratch {
    let folder: String
    let root: String
    let catalog: FrameCatalog

    struct Spec {
        var night: String
        var name: String
        var date: String
        var type: String
        var filter: String?
        var object: String?
        var exptime: Double
        var temperature: Double
        var exposure: String
        var frame: Int
        var plan: String?
        /// SITE and CAMERA (none: a file older than them).
        var site: String? = nil
        var camera: String? = nil
    }

    init() throws {
        folder = FileManager.default.temporaryDirectory.path + "/catalog-test-" + UUID().uuidString
        root = folder + "/data"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let database = try CatalogDatabase(path: folder + "/catalog.sqlite")
        catalog = FrameCatalog(root: root, database: database, logger: Logger(label: "catalog-test"))
    }

    deinit { try? FileManager.default.removeItem(atPath: folder) }

    /// Writes one frame file as the camera would.
    func write(_ spec: Spec, seed: UInt16 = 0) throws {
        try FileManager.default.createDirectory(atPath: root + "/" + spec.night, withIntermediateDirectories: true)
        var cards: [FITSCard] = [
            FITSCard(keyword: "DATE-OBS", value: .string(spec.date), comment: "UTC start of exposure"),
            FITSCard(keyword: "EXPTIME", value: .double(spec.exptime), comment: "[s]"),
            FITSCard(keyword: "IMAGETYP", value: .string(spec.type), comment: "frame type"),
            FITSCard(keyword: "CCD-TEMP", value: .double(spec.temperature), comment: "[C]"),
            FITSCard(keyword: "XBINNING", value: .integer(1), comment: nil),
            FITSCard(keyword: "YBINNING", value: .integer(1), comment: nil),
            FITSCard(keyword: "GAIN", value: .string("1x"), comment: nil),
            FITSCard(keyword: "EXPID", value: .string(spec.exposure), comment: nil),
            FITSCard(keyword: "FRAMENUM", value: .integer(spec.frame), comment: nil),
        ]
        if let filter = spec.filter { cards.append(FITSCard(keyword: "FILTER", value: .string(filter), comment: nil)) }
        if let object = spec.object { cards.append(FITSCard(keyword: "OBJECT", value: .string(object), comment: nil)) }
        if let plan = spec.plan { cards.append(FITSCard(keyword: "PLAN", value: .string(plan), comment: nil)) }
        if let site = spec.site { cards.append(FITSCard(keyword: "SITE", value: .string(site), comment: nil)) }
        if let camera = spec.camera { cards.append(FITSCard(keyword: "CAMERA", value: .string(camera), comment: nil)) }
        let pixels = (0..<(16 * 8)).map { UInt16($0) &+ seed }
        try pixels.withUnsafeBufferPointer { buffer in
            try FITSFile.write(pixels: buffer, width: 16, height: 8, cards: cards, comments: [],
                               to: root + "/" + spec.night + "/" + spec.name)
        }
    }

    /// Every row, oldest first, through the query API a page of `limit` at a time.
    func all(_ query: FrameQuery = FrameQuery(), limit: Int = 1000) async throws -> [FrameRow] {
        var query = query
        query.limit = limit
        var rows: [FrameRow] = []
        while true {
            let page = try await catalog.database.frames(query)
            rows += page.frames
            guard let next = page.next else { return rows }
            query.cursor = next
        }
    }
}

@Suite struct CatalogQueryTests {
    /// The headers column is written by a serializer of its own (JSONEncoder cost more than the
    /// rest of a row in a fast series): what JSON readers get back is the header, whatever it holds.
    @Test func theHeadersJSONReadsBackAsTheHeaderWithItsKeysSorted() throws {
        let headers = [
            "OBJECT": #"M42 "the Orion nebula" \ slash / tab"# + "\tend", "COMMENT": "line\nnext\r\u{01}\u{1f}", "FILTER": "Hα",
            "EMPTY": "", "ZED": "last", "A": "first", "DATE-OBS": "2026-12-06T01:02:03.456",
        ]
        let text = CatalogDatabase.json(headers)
        #expect(try JSONDecoder().decode([String: String].self, from: Data(text.utf8)) == headers)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String] == headers)
        let keys = headers.keys.sorted()
        let positions = keys.map { key in text.range(of: "\"\(key)\":")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil } && positions == positions.sorted { $0! < $1! }, "\(text)")
        #expect(CatalogDatabase.json([:]) == "{}")
    }

    @Test func everyBadFilterIsRefusedNamingItsParameter() {
        let cases: [([(String, String)], String)] = [
            ([("start", "yesterday")], "start"),
            ([("end", "2026-13-01")], "end"),
            ([("start", "2026-12-05T20:00"), ("end", "2026-12-05T19:00")], "end"),
            ([("night", "2026-02-30")], "night"),
            ([("imagetyp", "science")], "imagetyp"),
            ([("exptime_min", "nan")], "exptime_min"),
            ([("exptime_max", "-1")], "exptime_max"),
            ([("exptime_min", "10"), ("exptime_max", "5")], "exptime_max"),
            ([("temp_min", "abc")], "temp_min"),
            ([("temp_max", "1e400")], "temp_max"),
            ([("fwhm_max", "inf")], "fwhm_max"),
            ([("limit", "0")], "limit"),
            ([("limit", "1001")], "limit"),
            ([("limit", "ten")], "limit"),
            ([("sort", "object")], "sort"),
            ([("cursor", "not-a-cursor")], "cursor"),
            ([("missing", "maybe")], "missing"),
            ([("filter", "")], "filter"),
            ([("object", String(repeating: "x", count: 201))], "object"),
            ([("fwhm_mx", "3")], "fwhm_mx"),
            ([("filter", "V"), ("filter", "B")], "filter"),
            ([("site", "Manastash Ridge")], "site"),
            ([("camera", "")], "camera"),
            ([("camera", "north/2")], "camera"),
            ([("camera", String(repeating: "c", count: 33))], "camera"),
        ]
        for (parameters, field) in cases {
            do {
                _ = try FrameQuery(parameters: parameters)
                Issue.record("\(parameters) was accepted")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.field == field, "\(parameters): \(error.message)")
                #expect(error.message.hasPrefix(field + ":"), "\(error.message)")
            }
        }
    }

    @Test func aCursorOfOneOrderIsRefusedForAnother() throws {
        let cursor = FrameCursor(sort: .fwhm, text: nil, number: 2.5, id: 7).encoded
        #expect(try FrameCursor(decoding: cursor, for: .fwhm).id == 7)
        #expect(throws: BusError.self) { try FrameQuery(parameters: [("cursor", cursor)]) }
        #expect(try FrameQuery(parameters: [("cursor", cursor), ("sort", "fwhm")]).cursor == cursor)
    }

    @Test func timesAreReadInUTCAndNightsFollowTheSiteLongitude() throws {
        #expect(try FrameQuery.time("2026-12-05", field: "start") == "2026-12-05T00:00:00.000")
        #expect(try FrameQuery.time("2026-12-05T20:15", field: "start") == "2026-12-05T20:15:00.000")
        #expect(try FrameQuery.time("2026-12-05T20:15:07.25Z", field: "start") == "2026-12-05T20:15:07.250")
        #expect(try FrameQuery.time("2026-12-05T20:15:07-08:00", field: "start") == "2026-12-06T04:15:07.000")
        #expect(FrameTime.parse("2026-12-05T24:00") == nil)
        #expect(FrameTime.parse("2025-02-29") == nil)
        #expect(FrameTime.parse("2024-02-29") != nil)
        let lateEvening = FrameTime.parse("2026-12-06T05:00:00")!
        // Seattle (-122.3): 21:00 local on the 5th. Greenwich: 05:00 on the 6th, before noon.
        #expect(FrameTime.night(of: lateEvening, longitude: -122.3) == "2026-12-05")
        #expect(FrameTime.night(of: lateEvening, longitude: nil) == "2026-12-05")
        // Tokyo (+139.7): 14:18 local on the 6th, after noon: the night of the 6th.
        #expect(FrameTime.night(of: lateEvening, longitude: 139.7) == "2026-12-06")
        #expect(FrameTime.night(of: FrameTime.parse("2026-12-06T13:00")!, longitude: 0) == "2026-12-06")
    }

    @Test func canonicalTimesAreZeroPaddedMillisecondsThatReadBack() throws {
        #expect(FrameTime.canonical(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000")
        #expect(FrameTime.canonical(FrameTime.parse("2026-03-04T05:06:07.089")!) == "2026-03-04T05:06:07.089")
        #expect(FrameTime.canonical(FrameTime.parse("0999-12-31T23:59:59.999")!) == "0999-12-31T23:59:59.999")
        // Milliseconds are cut, never rounded up into the next second.
        #expect(FrameTime.canonical(Date(timeIntervalSince1970: 59.9999)) == "1970-01-01T00:00:59.999")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let milliseconds = Double(Int64.random(in: -2_000_000_000_000...20_000_000_000_000, using: &generator))
            let text = FrameTime.canonical(Date(timeIntervalSince1970: milliseconds / 1000))
            #expect(text.count == 23, "\(text)")
            let back = try #require(FrameTime.parse(text), "\(text)")
            // Within the millisecond: a time given in seconds may sit a hair below its millisecond.
            #expect(abs((back.timeIntervalSince1970 * 1000).rounded() - milliseconds) <= 1, "\(text)")
        }
    }
}

@Suite struct CatalogDatabaseTests {
    static let filters = ["V", "B", "R", nil]
    static let types = ["Light Frame", "Light Frame", "Dark Frame", "Bias Frame", "Flat Field"]

    /// 40 frames over two nights with varied headers (the evenings of the 5th and the 6th, UTC).
    static func specs() -> [CatalogScratch.Spec] {
        (0..<40).map { index in
            let night = index < 25 ? "20261205" : "20261206"
            let hour = index < 25 ? 20 + index / 10 : 20 + (index - 25) / 10
            let day = index < 25 ? "05" : "06"
            let date = String(format: "2026-12-%@T%02d:%02d:%02d.%03d", day, hour, index % 60, index % 7, index * 3 % 1000)
            return CatalogScratch.Spec(
                night: night, name: String(format: "image-%04d.fits", index + 1), date: date, type: types[index % 5],
                filter: filters[index % 4], object: index % 3 == 0 ? "M42 Orion" : (index % 3 == 1 ? "NGC 2024" : nil),
                exptime: Double(index % 6) * 10, temperature: -20 + Double(index % 5), exposure: "E\(index / 4)",
                frame: index % 4 + 1, plan: index % 10 == 0 ? "plan-a" : nil)
        }
    }

    @Test func rowsHoldWhatTheFilesSayAndEveryFilterSelectsItsRows() async throws {
        let scratch = try CatalogScratch()
        let specs = Self.specs()
        for spec in specs { try scratch.write(spec) }
        let report = try #require(try await scratch.catalog.reconcile())
        #expect(report.files == 40 && report.added == 40 && report.missing == 0)
        let rows = try await scratch.all()
        #expect(rows.map(\.path) == specs.map { $0.night + "/" + $0.name })
        for (row, spec) in zip(rows, specs) {
            #expect(row.dateObs == spec.date && row.exptime == spec.exptime && row.imagetyp == spec.type)
            #expect(row.filter == spec.filter && row.object == spec.object && row.ccdTemp == spec.temperature)
            #expect(row.exposure == spec.exposure && row.frame == spec.frame && row.plan == spec.plan)
            #expect(row.width == 16 && row.height == 8 && !row.missing && row.sha256.count == 64)
            #expect(row.bytes == 5760)
        }

        func ids(_ parameters: [(String, String)]) async throws -> [String] {
            try await scratch.all(FrameQuery(parameters: parameters), limit: 7).map(\.path)
        }
        func expected(_ keep: (CatalogScratch.Spec) -> Bool) -> [String] {
            specs.filter(keep).map { $0.night + "/" + $0.name }
        }
        #expect(try await ids([("imagetyp", "object")]) == expected { $0.type == "Light Frame" })
        #expect(try await ids([("imagetyp", "Dark Frame")]) == expected { $0.type == "Dark Frame" })
        #expect(try await ids([("filter", "v")]) == expected { $0.filter == "V" })
        #expect(try await ids([("object", "orion")]) == expected { $0.object?.contains("Orion") == true })
        #expect(try await ids([("object", "%")]) == [])
        #expect(try await ids([("exposure", "E3")]) == expected { $0.exposure == "E3" })
        #expect(try await ids([("exptime_min", "20"), ("exptime_max", "40")]) == expected { (20...40).contains($0.exptime) })
        #expect(try await ids([("temp_min", "-19"), ("temp_max", "-18")]) == expected { (-19 ... -18).contains($0.temperature) })
        #expect(try await ids([("plan", "plan-a")]) == expected { $0.plan == "plan-a" })
        #expect(try await ids([("start", "2026-12-05T21:00"), ("end", "2026-12-06T01:00Z")])
                == expected { $0.date >= "2026-12-05T21:00" && $0.date < "2026-12-06T01:00" })
        #expect(try await ids([("night", "2026-12-05")]) == expected { $0.night == "20261205" })
        #expect(try await ids([("night", "2026-12-06")]) == expected { $0.night == "20261206" })
        #expect(try await ids([("sort", "-date_obs")]) == expected { _ in true }.reversed())

        // FWHM: from the processor, by exposure and frame; frames without one sort last.
        for (index, spec) in specs.enumerated() where index % 2 == 0 {
            try await scratch.catalog.database.recordQuality([.init(exposure: spec.exposure, frame: spec.frame, median: 1000,
                                                            sigma: 10, nstars: index, fwhm: Double(40 - index) / 10, hfd: 3)])
        }
        let sharp = try await scratch.all(FrameQuery(parameters: [("sort", "fwhm")]), limit: 6)
        #expect(sharp.count == 40)
        let ascending: [Double?] = (0..<20).map { (index: Int) -> Double? in Double(2 * (index + 1)) / 10 }
        #expect(Array(sharp.prefix(20).map(\.fwhm)) == ascending)
        #expect(sharp.suffix(20).allSatisfy { $0.fwhm == nil })
        let sharpEnough = specs.enumerated().filter { $0.offset % 2 == 0 && Double(40 - $0.offset) / 10 <= 2 }
        #expect(try await ids([("fwhm_max", "2")]) == sharpEnough.map { $0.element.night + "/" + $0.element.name })

        let summary = try await scratch.catalog.database.summary(FrameQuery())
        #expect(summary.nights.map(\.night) == ["2026-12-06", "2026-12-05"])
        #expect(summary.frames == 40 && summary.exposure == specs.reduce(0) { $0 + $1.exptime })
        let vDarks = summary.nights[1].groups.first { $0.filter == "V" && $0.imagetyp == "Dark Frame" }
        #expect(vDarks?.frames == specs.filter { $0.night == "20261205" && $0.filter == "V" && $0.type == "Dark Frame" }.count)

        let one = try await scratch.catalog.database.frame(id: rows[3].id)
        #expect(one.headers?["EXPID"] == specs[3].exposure && one.headers?["IMAGETYP"] == specs[3].type)
        #expect(one.headers?["NAXIS1"] == "16")
        await #expect(throws: BusError.self) { try await scratch.catalog.database.frame(id: 999_999) }
    }

    @Test func theCursorNeitherRepeatsNorSkipsWhileRowsAreAdded() async throws {
        let scratch = try CatalogScratch()
        let specs = Self.specs()
        for spec in specs.prefix(20) { try scratch.write(spec) }
        try await scratch.catalog.reconcile()
        var query = FrameQuery()
        query.limit = 6
        var seen: [String] = []
        var added = 20
        while true {
            let page = try await scratch.catalog.database.frames(query)
            seen += page.frames.map(\.path)
            // A series goes on between pages: later frames arrive.
            if added < 40 {
                for spec in specs[added..<min(added + 5, 40)] { try scratch.write(spec) }
                added = min(added + 5, 40)
                try await scratch.catalog.reconcile()
            }
            guard let next = page.next else { break }
            query.cursor = next
        }
        #expect(seen == specs.map { $0.night + "/" + $0.name })
    }

    @Test func goneFilesAreMarkedMissingRebuildKeepsTheRowsAndVerifyFindsChangedBytes() async throws {
        let scratch = try CatalogScratch()
        let specs = Array(Self.specs().prefix(12))
        for spec in specs { try scratch.write(spec) }
        try await scratch.catalog.reconcile()
        let live = try await scratch.all()

        // Rebuild from the files alone gives the same rows (ids kept), twice over.
        let rebuilt = try await scratch.catalog.rebuild()
        #expect(rebuilt.files == 12 && rebuilt.updated == 12 && rebuilt.added == 0)
        #expect(try await scratch.all() == live)
        _ = try await scratch.catalog.rebuild()
        #expect(try await scratch.all() == live)

        // A deleted file: its row stays, marked missing; it comes back when the file does.
        let victim = scratch.root + "/" + live[4].path
        let saved = try Data(contentsOf: URL(fileURLWithPath: victim))
        try FileManager.default.removeItem(atPath: victim)
        let afterDelete = try #require(try await scratch.catalog.reconcile())
        #expect(afterDelete.missing == 1)
        let rows = try await scratch.all()
        #expect(rows.count == 12 && rows[4].missing && rows.filter(\.missing).count == 1)
        #expect(try await scratch.all(FrameQuery(parameters: [("missing", "true")])).map(\.path) == [live[4].path])
        try saved.write(to: URL(fileURLWithPath: victim))
        let afterRestore = try #require(try await scratch.catalog.reconcile())
        #expect(afterRestore.restored == 1)
        #expect(try await scratch.all() == live)

        // Bytes changed on disk: verify reports it by path with both hashes.
        let target = scratch.root + "/" + live[7].path
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: target))
        try handle.seek(toOffset: 2880 + 10)
        try handle.write(contentsOf: Data([0xAB, 0xCD]))
        try handle.close()
        let report = try await scratch.catalog.verify()
        #expect(report.checked == 12 && report.missing.isEmpty)
        #expect(report.changed.map(\.path) == [live[7].path])
        #expect(report.changed.first?.expected == live[7].sha256 && report.changed.first?.actual != live[7].sha256)
        // A rebuild takes the file as it is now, and says which rows it changed.
        let retaken = try await scratch.catalog.rebuild()
        #expect(retaken.changed == [live[7].path])
        #expect(try await scratch.catalog.verify().changed.isEmpty)
    }

    @Test func theRootIsTakenAsTheCameraWritesItsPaths() throws {
        let catalog = try CatalogScratch().catalog
        let database = catalog.database
        let relative = FrameCatalog(root: "./data/", database: database, logger: Logger(label: "test"))
        let cwd = FileManager.default.currentDirectoryPath
        #expect(relative.relativePath(cwd + "/data/20261206/image-0001.fits") == "20261206/image-0001.fits")
        #expect(relative.relativePath(cwd + "/data/../etc/passwd") == nil)
        #expect(relative.relativePath(cwd + "/database/x.fits") == nil)
    }

    @Test func unreadableAndForeignFilesDoNotStopAScan() async throws {
        let scratch = try CatalogScratch()
        try scratch.write(Self.specs()[0])
        try Data("not FITS".utf8).write(to: URL(fileURLWithPath: scratch.root + "/20261205/broken.fits"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.root + "/20261205/.image-0009.fits.tmp-1-ab"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.root + "/20261205/image-0001.wcs.fits"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: scratch.root + "/20261205/notes.txt"))
        let report = try #require(try await scratch.catalog.reconcile())
        #expect(report.files == 2 && report.added == 1)
        #expect(report.unreadable.count == 1 && report.unreadable[0].contains("broken.fits"))
        #expect(try await scratch.all().map(\.path) == ["20261205/image-0001.fits"])
    }
}
