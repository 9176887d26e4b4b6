import ApertureProtocol
import Bus
import FITSStorage
import FrameAnalysis
import Foundation
import Logging
@testable import ProcessorService
import Synchronization
import Testing

/// The processor's focus sessions on real FITS files written with cfitsio: measurement, fits,
/// the data-root rule for file names, the limits, persistence across a new store, expiry.
@Suite struct FocusSessionStoreTests {
    /// A data root and a state directory in a scratch folder, and a clock the test moves.
    final class Bench: Sendable {
        let root: String
        var data: String { root + "/data" }
        var state: String { root + "/state" }
        let now = Mutex(1_765_000_000.0)

        init() throws {
            root = "/tmp/aperture-focus-store-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            for folder in [root + "/data/20261205", root + "/data/20261206", root + "/state"] {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }

        func store() -> FocusSessionStore {
            FocusSessionStore(stateDirectory: state, dataRoot: data, logger: Logger(label: "focus-store-tests"),
                              clock: { [self] in self.now.withLock { $0 } })
        }

        func advance(_ seconds: Double) { now.withLock { $0 += seconds } }

        /// Writes a 160x160 frame of 25 Gaussian stars whose sigma follows the simulator's law
        /// (`1.5 * sqrt(1 + ((focus - 5000) / 200)^2)`) on a noisy background; nil focus: no stars.
        @discardableResult
        func frame(_ relative: String, focus: Double?, seed: UInt64 = 1) throws -> String {
            let size = 160
            var pixels = [UInt16](repeating: 0, count: size * size)
            var random = seed &* 6_364_136_223_846_793_005 &+ 1
            let sigma = focus.map { 1.5 * (1 + (($0 - 5000) / 200) * (($0 - 5000) / 200)).squareRoot() }
            for y in 0..<size {
                for x in 0..<size {
                    random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                    var value = 1000 + Double(random >> 59) - 16
                    if let sigma {
                        for sy in 0..<5 {
                            for sx in 0..<5 {
                                let dx = Double(x) - (16 + Double(sx) * 32 + 0.3), dy = Double(y) - (16 + Double(sy) * 32 + 0.6)
                                value += 20_000 / (sigma * sigma) * exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
                            }
                        }
                    }
                    pixels[y * size + x] = UInt16(min(65000, max(0, value)))
                }
            }
            let path = data + "/" + relative
            try pixels.withUnsafeBufferPointer {
                try FITSFile.write(pixels: $0, width: size, height: size, cards: [], comments: [], to: path)
            }
            return path
        }
    }

    func refusal(_ body: () throws -> Void) -> BusError? {
        do {
            try body()
            return nil
        } catch let error as BusError {
            return error
        } catch {
            return BusError(.internal, "\(error)")
        }
    }

    @Test func aSeriesFindsTheBestFocusAndANewStoreReadsItBack() throws {
        let bench = try Bench()
        let store = bench.store()
        var session: FocusSession?
        for (index, position) in stride(from: 4400.0, through: 5600, by: 200).enumerated() {
            try bench.frame("20261206/image-\(index).fits", focus: position, seed: UInt64(index))
            bench.advance(1)
            session = try store.add(.init(id: "1765000000000", position: position, filename: "20261206/image-\(index).fits"),
                                    focusThreshold: 5)
            if index < 2 {
                #expect(session?.fwhmFit == nil && session?.fwhmFitError?.contains("3 distinct") == true)
            }
        }
        let fitted = try #require(session)
        #expect(fitted.points.count == 7)
        // Every star in focus; defocused, those near the edges are rejected (their window does not fit).
        #expect(fitted.points.first { $0.position == 5000 }?.measurement.starCount == 25)
        #expect(fitted.points.allSatisfy { $0.measurement.starCount >= 9 }, "\(fitted.points.map(\.measurement.starCount))")
        let fwhm = try #require(fitted.fwhmFit), hfd = try #require(fitted.hfdFit)
        #expect(abs(fwhm.bestFocus - 5000) < 30, "FWHM best focus \(fwhm.bestFocus)")
        #expect(abs(hfd.bestFocus - 5000) < 30, "HFD best focus \(hfd.bestFocus)")
        // At best focus, FWHM = 2.3548 sigma = 3.5 px.
        #expect(abs(fwhm.bestMetric - 3.53) < 0.4, "\(fwhm.bestMetric)")

        // A processor started again reads the sessions file.
        let again = bench.store()
        #expect(try again.session("1765000000000") == fitted)
        #expect(again.list().map(\.id) == ["1765000000000"])
        #expect(try again.delete("1765000000000"))
        #expect(bench.store().list().isEmpty)
    }

    @Test func fileNamesAreResolvedInsideTheDataRootOnly() throws {
        let bench = try Bench()
        let store = bench.store()
        try bench.frame("20261205/image-0001.fits", focus: 5000)
        try bench.frame("20261206/image-0002.fits", focus: 5000)
        // A bare name (what /capture answers) is found in the newest night that has it.
        #expect(try store.measure("image-0001.fits", focusThreshold: 5).path.hasSuffix("/data/20261205/image-0001.fits"))
        #expect(try store.measure("20261206/image-0002.fits", focusThreshold: 5).starCount == 25)
        #expect(try store.measure(bench.data + "/20261206/image-0002.fits", focusThreshold: 5).width == 160)

        _ = FileManager.default.createFile(atPath: bench.data + "/notes.fits", contents: Data("not FITS".utf8))
        _ = FileManager.default.createFile(atPath: bench.root + "/outside.fits", contents: Data("x".utf8))
        try FileManager.default.createSymbolicLink(atPath: bench.data + "/escape.fits", withDestinationPath: bench.root + "/outside.fits")
        try bench.frame("20261206/blank.fits", focus: nil)
        // A header that claims far more pixels than the file holds (reading would allocate 7 GB).
        let card = { (text: String) in text.padding(toLength: 80, withPad: " ", startingAt: 0) }
        let header = [card("SIMPLE  =                    T"), card("BITPIX  =                   16"),
                      card("NAXIS   =                    2"), card("NAXIS1  =                60000"),
                      card("NAXIS2  =                60000"), card("END")].joined()
        _ = FileManager.default.createFile(atPath: bench.data + "/huge.fits",
                                           contents: Data((header.padding(toLength: 2880, withPad: " ", startingAt: 0)
                                                           + String(repeating: "\0", count: 2880)).utf8))
        _ = try store.add(.init(id: "s", position: 5000, filename: "image-0001.fits"), focusThreshold: 5)
        let cases: [(String, String)] = [
            ("/etc/passwd", "outside the data root"),
            ("../outside.fits", "outside the data root"),
            (bench.root + "/outside.fits", "outside the data root"),
            ("escape.fits", "outside the data root"),
            ("20261206/none.fits", "does not exist"),
            ("20261206", "not a regular file"),
            ("notes.fits", "not a readable FITS image"),
            ("20261206/blank.fits", "no stars"),
            ("huge.fits", "more than its 5760 bytes hold"),
            ("", "required"),
            (String(repeating: "a", count: 300), "at most 256 bytes"),
        ]
        for (filename, words) in cases {
            let error = refusal { _ = try store.add(.init(id: "s", position: 5100, filename: filename), focusThreshold: 5) }
            #expect(error?.code == .invalidArgument && error?.field == "filename", "\(filename.prefix(40)): \(String(describing: error))")
            #expect(error?.message.contains(words) == true, "\(filename.prefix(40)): \(error?.message ?? "accepted")")
        }
        #expect(try store.session("s").points.count == 1, "a refused file leaves the session unchanged")
    }

    @Test func numbersIdsAndSizesAreBounded() throws {
        let bench = try Bench()
        let store = bench.store()
        try bench.frame("20261206/a.fits", focus: 5000)
        for position in [Double.nan, .infinity, 1e10, -2e9] {
            let error = refusal { _ = try store.add(.init(id: "s", position: position, filename: "20261206/a.fits"), focusThreshold: 5) }
            #expect(error?.field == "position", "\(position)")
        }
        for id in ["", "a/b", "../x", "a b", String(repeating: "1", count: 65)] {
            let error = refusal { _ = try store.add(.init(id: id, position: 1, filename: "20261206/a.fits"), focusThreshold: 5) }
            #expect(error?.field == "id", "'\(id)'")
            #expect(refusal { _ = try store.session(id) }?.field == "id")
        }
        #expect(refusal { _ = try store.session("unknown") }?.code == .notFound)

        // 100 points a session.
        for index in 0..<FocusSessionLimits.pointsPerSession {
            _ = try store.add(.init(id: "full", position: Double(index), filename: "20261206/a.fits"), focusThreshold: 5)
        }
        let full = refusal { _ = try store.add(.init(id: "full", position: 1, filename: "20261206/a.fits"), focusThreshold: 5) }
        #expect(full?.code == .busy, "\(String(describing: full))")

        // 64 sessions: a new one forgets the least recently changed.
        for index in 1..<FocusSessionLimits.sessions {
            bench.advance(1)
            _ = try store.create(id: "session-\(index)")
        }
        #expect(store.list().count == FocusSessionLimits.sessions)
        bench.advance(1)
        _ = try store.create(id: nil)
        #expect(store.list().count == FocusSessionLimits.sessions)
        #expect(refusal { _ = try store.session("full") }?.code == .notFound, "the oldest session was dropped")
        #expect(refusal { _ = try store.create(id: "session-5") }?.code == .busy)

        // Thirty days after its last change a session is gone, also for a new store.
        bench.advance(FocusSessionLimits.expiry + 1)
        #expect(store.list().isEmpty)
        #expect(bench.store().list().isEmpty)
    }
}
