import ApertureConfig
import ApertureProtocol
import Bus
import FITSStorage
import Foundation
import Logging
@testable import ProcessorService
import Testing

/// Where a plate solve may read: only inside the data root, by path or by a symbolic link that
/// stays inside it; and the arguments' ranges.
@Suite struct PlateSolverTests {
    /// A data root with a night folder and a frame, a link inside and a link out.
    static func solver() throws -> (PlateSolver, root: String) {
        let base = "/tmp/aperture-solver-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let root = base + "/data"
        try FileManager.default.createDirectory(atPath: root + "/20261206", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/20261206/image-0001.fits", contents: Data())
        FileManager.default.createFile(atPath: base + "/secret.fits", contents: Data())
        try FileManager.default.createSymbolicLink(atPath: root + "/20261206/inside.fits", withDestinationPath: root + "/20261206/image-0001.fits")
        try FileManager.default.createSymbolicLink(atPath: root + "/20261206/outside.fits", withDestinationPath: base + "/secret.fits")
        try FileManager.default.createSymbolicLink(atPath: root + "/escape", withDestinationPath: base)
        var configuration = ApertureConfiguration()
        configuration.storage.dataRoot = root
        return (PlateSolver(configuration: configuration, scratchRoot: base, logger: Logger(label: "test")), root)
    }

    @Test func onlyFilesInsideTheDataRootAreTaken() throws {
        let (solver, root) = try Self.solver()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: root).deletingLastPathComponent().path) }
        #expect(try solver.check(.init(file: "20261206/image-0001.fits")).path == root + "/20261206/image-0001.fits")
        #expect(try solver.check(.init(file: root + "/20261206/image-0001.fits")).path == root + "/20261206/image-0001.fits")
        #expect(try solver.check(.init(file: "20261206/inside.fits")).path == root + "/20261206/inside.fits")
        #expect(try solver.check(.init(file: "latest")).path == nil)
        for (file, says) in [("/etc/passwd", "is outside the data root"), ("../secret.fits", "is outside the data root"),
                             ("20261206/../../secret.fits", "is outside the data root"),
                             ("20261206/outside.fits", "leads outside the data root"), ("escape/secret.fits", "leads outside the data root"),
                             ("", "must name a file")] {
            let error = #expect(throws: BusError.self, "\(file)") { try solver.check(.init(file: file)) }
            #expect(error?.field == "file" && error?.message.contains(says) == true, "\(file): \(error?.message ?? "")")
        }
    }

    @Test func hintsAndTimeLimitsAreCheckedNamingTheField() throws {
        let (solver, root) = try Self.solver()
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: root).deletingLastPathComponent().path) }
        let file = "20261206/image-0001.fits"
        let refused: [(SolveCommand.Arguments, String)] = [
            (.init(file: file, hintRA: 10), "hint_dec_deg"),
            (.init(file: file, hintDec: 10), "hint_ra_deg"),
            (.init(file: file, hintRA: .nan, hintDec: 0), "hint_ra_deg"),
            (.init(file: file, hintRA: 10, hintDec: 0, hintRadius: 0), "hint_radius_deg"),
            (.init(file: file, hintRA: 10, hintDec: 0, hintRadius: 181), "hint_radius_deg"),
            (.init(file: file, hintRadius: 2), "hint_radius_deg"),
            (.init(file: file, timeLimit: .infinity), "time_limit"),
            (.init(file: file, timeLimit: 601), "time_limit"),
        ]
        for (arguments, field) in refused {
            let error = #expect(throws: BusError.self) { try solver.check(arguments) }
            #expect(error?.field == field, "\(arguments): \(error?.message ?? "")")
        }
        let checked = try solver.check(.init(file: file, hintRA: 359.5, hintDec: -89, timeLimit: 5))
        #expect(checked.hint?.ra == 359.5 && checked.hint?.radius == 5 && checked.timeLimit == 5)
        #expect(try solver.check(.init(file: file)).timeLimit == 60)
    }

    @Test func theScaleHintComesFromFocalLengthAndPixelSize() {
        #expect(PlateSolver.scaleHint(["FOCALLEN": "600.0", "XPIXSZ": "13.0"]).map { abs($0 - 4.4691) < 0.0001 } == true)
        #expect(PlateSolver.scaleHint(["FOCALLEN": "600.0", "XPIXSZ": "26.0"]).map { abs($0 - 8.9382) < 0.0001 } == true)
        #expect(PlateSolver.scaleHint(["XPIXSZ": "13.0"]) == nil)
        #expect(PlateSolver.scaleHint(["FOCALLEN": "0", "XPIXSZ": "13.0"]) == nil)
        #expect(PlateSolver.scaleHint(["FOCALLEN": "'600'", "XPIXSZ": "13.0"]) == nil)
    }
}

@Suite struct WCSVersionNameTests {
    /// The WCS versions a solve writes are never taken for the newest camera frame (`latest`).
    @Test func wcsVersionsAreKnownByName() {
        for name in ["image-0003.wcs.fits", "image-0003.wcs-2.fits", "image-0003.wcs-17.fits"] {
            #expect(FITSFile.isWCSVersion(name), "\(name)")
        }
        for name in ["image-0003.fits", "wcs.fits.bak", "image-wcs.fits", "image-0003.wcs-x.fits"] {
            #expect(!FITSFile.isWCSVersion(name), "\(name)")
        }
    }
}
