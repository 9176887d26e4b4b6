import ApertureProtocol
@testable import CatalogService
import FITSStorage
import Foundation
import GRDB
import Testing

/// SITE and CAMERA in the catalog (issue 16): the rows carry them, the filters select by them,
/// a rebuild finds them again, and a catalog made before them migrates with its rows kept.
@Suite struct FacilityCatalogTests {
    static func spec(_ index: Int, site: String?, camera: String?) -> CatalogScratch.Spec {
        CatalogScratch.Spec(night: "20261206", name: String(format: "image-%04d.fits", index),
                            date: String(format: "2026-12-06T03:00:%02d.000", index), type: "Light Frame", filter: "V",
                            object: nil, exptime: 1, temperature: -20, exposure: "E\(index)", frame: 1, plan: nil,
                            site: site, camera: camera)
    }

    @Test func rowsCarryTheFilesIdentityAndTheFiltersSelectByIt() async throws {
        let scratch = try CatalogScratch()
        // Two cameras of one site, a file from before SITE and CAMERA, and an older file whose
        // user keyword SITE is free text (no facility name: not taken as one).
        let specs = [
            Self.spec(1, site: "mro", camera: "north"), Self.spec(2, site: "mro", camera: "south"),
            Self.spec(3, site: "mro", camera: "north"), Self.spec(4, site: nil, camera: nil),
            Self.spec(5, site: "Manastash Ridge", camera: nil), Self.spec(6, site: "kitt", camera: "north"),
        ]
        for spec in specs { try scratch.write(spec) }
        try await scratch.catalog.reconcile()
        let rows = try await scratch.all()
        #expect(rows.map(\.site) == ["mro", "mro", "mro", nil, nil, "kitt"])
        #expect(rows.map(\.camera) == ["north", "south", "north", nil, nil, "north"])
        #expect(try await scratch.catalog.database.frame(id: rows[4].id).headers?["SITE"] == "Manastash Ridge")

        func names(_ parameters: [(String, String)]) async throws -> [String] {
            try await scratch.all(FrameQuery(parameters: parameters), limit: 2).map(\.path)
        }
        #expect(try await names([("camera", "north")]) == [rows[0].path, rows[2].path, rows[5].path])
        #expect(try await names([("site", "mro")]) == [rows[0].path, rows[1].path, rows[2].path])
        #expect(try await names([("site", "mro"), ("camera", "north")]) == [rows[0].path, rows[2].path])
        #expect(try await names([("camera", "east")]) == [])
        #expect(try await scratch.catalog.database.summary(FrameQuery(parameters: [("camera", "south")])).frames == 1)
        // CSV carries them as its last two columns.
        #expect(FrameRow.csvColumns.suffix(2) == ["site", "camera"])
        #expect(rows[1].csvValues.suffix(2) == ["mro", "south"] && rows[3].csvValues.suffix(2) == ["", ""])

        // A rebuild from the files alone gives the same rows.
        _ = try await scratch.catalog.rebuild()
        #expect(try await scratch.all() == rows)
    }

    @Test func aCatalogMadeBeforeFacilityV1MigratesWithItsRowsKept() async throws {
        let folder = FileManager.default.temporaryDirectory.path + "/catalog-facility-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/catalog.sqlite"
        // The database as the release before issue 16 left it, with one row.
        do {
            let pool = try DatabasePool(path: path)
            try CatalogDatabase.migrator.migrate(pool, upTo: "masters-v1")
            try await pool.write { db in
                try db.execute(sql: """
                    INSERT INTO frame (path, bytes, modified, sha256, night, date_obs, added)
                    VALUES ('20261205/image-0001.fits', 5760, 0, ?, '2026-12-05', '2026-12-05T20:00:00.000', '2026-12-05T20:00:01.000')
                    """, arguments: [String(repeating: "a", count: 64)])
            }
            #expect(try await pool.read { db in try db.columns(in: "frame").map(\.name) }.contains("site") == false)
        }
        let database = try CatalogDatabase(path: path)
        let rows = try await database.frames(FrameQuery()).frames
        #expect(rows.count == 1 && rows[0].path == "20261205/image-0001.fits")
        #expect(rows[0].site == nil && rows[0].camera == nil)
        #expect(try await database.frames(FrameQuery(parameters: [("camera", "camera")])).frames.isEmpty)
        let applied = try await database.pool.read { db in try CatalogDatabase.migrator.appliedIdentifiers(db) }
        #expect(applied.contains("facility-v1"))
    }
}
