import ApertureProtocol
import Foundation
@testable import GatewayService
import Testing

/// The focus plot (evora's `/plot/<sid>`): drawn where the fit says, with readable ticks, for any
/// session (none, one or many points, no minimum).
@Suite struct FocusPlotTests {
    /// A session of points on the simulator's law around `best` (FWHM 3.5 px at focus).
    func session(best: Double, positions: [Double]) -> FocusSession {
        var session = FocusSession(id: "plot-test", created: 0)
        for position in positions {
            let defocus = (position - best) / 200
            let fwhm = 3.5 * (1 + defocus * defocus).squareRoot()
            session.points.append(FocusPoint(position: position, measurement: FileMeasurement(
                filename: "20261206/image-\(Int(position)).fits", path: "/data/x.fits", width: 512, height: 512,
                starCount: 100, medianFWHM: fwhm, medianHFD: fwhm * 1.05, background: 500), added: 0))
        }
        session.refit()
        return session
    }

    /// The columns inside the plot's frame that are mostly dark: the dashed best-focus lines (the
    /// HFD's grey one drawn over the FWHM's black one when they coincide).
    func markedColumns(_ pixels: [UInt8]) -> [Int] {
        (80..<(FocusPlot.width - 22)).filter { x in
            (46..<(FocusPlot.height - 60)).filter { y in pixels[y * FocusPlot.width + x] < 128 }.count > 120
        }
    }

    @Test func theBestPositionIsMarkedWhereTheFitPutsIt() throws {
        let positions = Array(stride(from: 4400.0, through: 5600, by: 200))
        var centres: [Double] = []
        for best in [4900.0, 5000, 5100] {
            let plotted = session(best: best, positions: positions)
            #expect(abs(EvoraFocusRoutes.Serialized(plotted).predictedMinFwhm - best) < 1)
            let pixels = FocusPlot.render(plotted)
            #expect(pixels.count == FocusPlot.width * FocusPlot.height)
            let columns = markedColumns(pixels)
            #expect(!columns.isEmpty && columns.count <= 4, "best \(best): columns \(columns)")
            centres.append(Double(columns.reduce(0, +)) / Double(max(1, columns.count)))
        }
        // The axis spans 4400 - 6 % ... 5600 + 6 % over the frame from x = 78 to 620: 100 steps
        // are 540 / 1344 * 100 = 40 pixels, and 5000 is the middle.
        #expect(abs(centres[1] - 349.5) <= 2, "\(centres)")
        #expect(abs((centres[2] - centres[1]) - 40.2) <= 2 && abs((centres[1] - centres[0]) - 40.2) <= 2, "\(centres)")
    }

    @Test func everySessionGivesAPNGOfTheStatedSize() throws {
        let sessions = [
            session(best: 5000, positions: []),
            session(best: 5000, positions: [5000]),
            session(best: 5000, positions: [4800, 5200]),
            session(best: 5000, positions: [4800, 5000, 5200, 5400]),
            session(best: 5000, positions: [5000, 5000, 5000]),
            session(best: 0, positions: [-1e9, 0, 1e9]),
        ]
        for plotted in sessions {
            let png = try FocusPlot.png(plotted)
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]))
            #expect(Array(png[16..<24]) == [0, 0, 2, 128, 0, 0, 1, 224], "640 x 480")
            // Something is drawn besides the frame: ticks and labels at least.
            #expect(FocusPlot.render(plotted).filter { $0 == 0 }.count > 2000)
        }
        // Nearly straight: a minimum extrapolated about 6.5e11 steps away is written, not drawn.
        var straight = session(best: 5000, positions: [4800, 5000, 5200])
        for (index, square) in [9, 12.25, 15.500000001].enumerated() {
            straight.points[index].measurement.medianFWHM = square.squareRoot()
            straight.points[index].measurement.medianHFD = square.squareRoot()
        }
        straight.refit()
        #expect(abs(EvoraFocusRoutes.Serialized(straight).predictedMinFwhm) > 1e9 || straight.fwhmFit == nil)
        #expect(markedColumns(FocusPlot.render(straight)).isEmpty)
        #expect(try FocusPlot.png(straight).count > 100)
        // Downward: no fit, and the session says why.
        var hill = session(best: 5000, positions: [4800, 5000, 5200])
        for index in hill.points.indices { hill.points[index].measurement.medianFWHM = 10 - abs(hill.points[index].position - 5000) / 100 }
        hill.refit()
        #expect(hill.fwhmFit == nil && hill.fwhmFitError?.contains("no minimum") == true, "\(hill.fwhmFitError ?? "")")
        #expect(try FocusPlot.png(hill).count > 100)
    }

    @Test func ticksAreRoundAndLabelledWithTheDecimalsTheyNeed() {
        #expect(FocusPlot.Ticks.values(in: 4328...5672).map(\.label) == ["4500", "5000", "5500"])
        #expect(FocusPlot.Ticks.values(in: 3.1...12.6).map(\.label) == ["4", "6", "8", "10", "12"])
        #expect(FocusPlot.Ticks.values(in: 0.011...0.049).map(\.label) == ["0.02", "0.03", "0.04"])
        #expect(FocusPlot.Ticks.values(in: 0.3...0.7).map(\.label) == ["0.3", "0.4", "0.5", "0.6", "0.7"])
        #expect(FocusPlot.Ticks.values(in: -3...3).map(\.label) == ["-3", "-2", "-1", "0", "1", "2", "3"])
        #expect(FocusPlot.Ticks.values(in: 1...1).isEmpty)
    }
}
