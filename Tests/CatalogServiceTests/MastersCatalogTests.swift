import ApertureProtocol
import Bus
@testable import CatalogService
import FITSStorage
import Foundation
import Logging
import Testing

/// Masters made by the catalog's `calibration.combine` over real files and a real database:
/// the file, its row, its recorded inputs, a rebuild that finds it again, and the match.
@Suite struct MastersCatalogTests {
    func dark(_ index: Int, exptime: Double = 30) -> CatalogScratch.Spec {
        .init(night: "20261205", name: "image-000\(index).fits", date: "2026-12-05T23:0\(index):00.000", type: "Dark Frame",
              filter: nil, object: nil, exptime: exptime, temperature: -20, exposure: "darks", frame: index, plan: nil)
    }

    @Test func aMasterDarkIsWrittenCataloguedWithItsInputsAndFoundAgainByARebuild() async throws {
        let scratch = try CatalogScratch()
        // Three darks whose pixels are i, i + 5 and i + 10: the median is i + 5.
        for index in 1...3 { try scratch.write(dark(index), seed: UInt16((index - 1) * 5)) }
        try scratch.write(dark(4, exptime: 60), seed: 0)
        try await scratch.catalog.reconcile()
        let commands = MasterCommands(catalog: scratch.catalog, logger: Logger(label: "masters-test"))
        var query = FrameQuery()
        query.imagetyp = "dark"
        query.exptimeMax = 30
        let result = try await commands.combine(CombineRequest(kind: .dark, query: query))
        let master = result.master
        #expect(master.imagetyp == "MASTERDARK")
        #expect(master.path.hasPrefix("masters/MASTERDARK-") && master.path.hasSuffix("-0001.fits"), "\(master.path)")
        #expect(master.night == "2026-12-05", "a master's night is its first input's")
        #expect(master.exptime == 30 && master.ccdTemp == -20 && master.width == 16 && master.height == 8)
        #expect(master.headers?["NCOMBINE"] == "3" && master.headers?["COMBMETH"] == "median")
        let inputs = try await scratch.catalog.database.inputs(ofMaster: master.id)
        #expect(inputs == result.inputs && inputs.count == 3)
        let image = try FITSFile.readFloat(path: scratch.root + "/" + master.path)
        let expected: [Float] = (0..<(16 * 8)).map { (index: Int) -> Float in Float(index + 5) }
        #expect(image.pixels == expected)

        // A new database over the same folders: the rebuild finds the master in masters/.
        let database = try CatalogDatabase(path: scratch.folder + "/rebuilt.sqlite")
        let rebuilt = FrameCatalog(root: scratch.root, database: database, logger: Logger(label: "masters-test"))
        let report = try await rebuilt.rebuild()
        #expect(report.files == 5)
        var masters = FrameQuery()
        masters.imagetyp = "masterdark"
        #expect(try await database.frames(masters).frames.map(\.path) == [master.path])

        // The dark library over the catalog: the 30 s darks match it, the 60 s one does not.
        let thirty = try #require(result.inputs.first)
        let found = try await commands.match(MatchRequest(frame: thirty, kind: .dark))
        #expect(found.matches.first?.master?.id == master.id)
        let sixty = try #require(try await scratch.all().first { $0.exptime == 60 })
        let none = try await commands.match(MatchRequest(frame: sixty.id, kind: .dark))
        #expect(none.matches.first?.reason == "no MASTERDARK with exptime 60 s; nearest have 30")
        let byPath = try await commands.match(MatchRequest(path: sixty.path, kind: .all))
        #expect(byPath.frame == sixty.id && byPath.matches.map(\.kind) == [.bias, .dark, .flat])

        // A second master of the same inputs is numbered on.
        let again = try await commands.combine(CombineRequest(kind: .dark, frames: result.inputs))
        #expect(again.master.path.hasSuffix("-0002.fits"), "\(again.master.path)")
    }
}
