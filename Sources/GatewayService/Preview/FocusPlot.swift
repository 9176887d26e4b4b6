import ApertureProtocol
import Bus
import FrameAnalysis
import Foundation
import HTTPTypes

/// Draws a focus session as a greyscale PNG (evora's `/plot/<sid>`): median FWHM (filled squares,
/// solid curve) and median HFD (open circles, dashed curve) in pixels against focuser position,
/// the fitted curves, the best positions marked by vertical lines and written at the top, and
/// both axes with tick labels.
enum FocusPlot {
    /// The image size, as matplotlib's default figure (6.4 x 4.8 in at 100 dpi).
    static let width = 640
    static let height = 480
    private static let left = 78, right = 20, top = 44, bottom = 58

    /// The session's plot as PNG bytes.
    static func png(_ session: FocusSession) throws(APIError) -> [UInt8] {
        do {
            return try PNGEncoder.encodeGrey(render(session), width: width, height: height, level: 6,
                                             text: [("Title", "focus session \(session.id)"), ("Software", "Aperture")])
        } catch {
            throw APIError(.internalServerError, .internal, "cannot encode the focus plot: \(error)")
        }
    }

    /// The plot's grey levels, `width * height`, top row first.
    static func render(_ session: FocusSession) -> [UInt8] {
        var canvas = Canvas(width: width, height: height)
        let points = session.points
        let positions = points.map(\.position)
        var low = positions.min() ?? 0, high = positions.max() ?? 1
        // A best position a little outside the points is shown; one far outside is only written.
        let span = max(high - low, 1)
        for fit in [session.fwhmFit, session.hfdFit].compactMap({ $0 }) where abs(fit.bestFocus - (low + high) / 2) < span {
            low = min(low, fit.bestFocus)
            high = max(high, fit.bestFocus)
        }
        if high - low < 1e-9 {
            // One position: a span around it that reads as focuser steps.
            let half = max(1, abs(low) * 0.05)
            low -= half
            high += half
        }
        let pad = (high - low) * 0.06
        let xRange = (low - pad)...(high + pad)

        let plotLeft = left, plotRight = width - right, plotTop = top, plotBottom = height - bottom
        let samples = 120
        let curve = { (fit: FocusFit?) -> [(Double, Double)] in
            guard let fit else { return [] }
            return (0...samples).map { step in
                let p = xRange.lowerBound + (xRange.upperBound - xRange.lowerBound) * Double(step) / Double(samples)
                return (p, fit.predictedMetric(at: p))
            }
        }
        let fwhmCurve = curve(session.fwhmFit), hfdCurve = curve(session.hfdFit)
        let metrics = points.flatMap { [$0.measurement.medianFWHM, $0.measurement.medianHFD] }
        let visible = metrics + (fwhmCurve + hfdCurve).map(\.1).filter(\.isFinite)
        var yLow = visible.min() ?? 0, yHigh = visible.max() ?? 10
        if let largest = metrics.max() { yHigh = min(yHigh, largest * 2) }  // a steep curve does not squash the points
        let least = max(1, yHigh * 0.2)  // one point, or a flat series: not a magnified noise
        if yHigh - yLow < least {
            let middle = (yHigh + yLow) / 2
            yLow = middle - least / 2
            yHigh = middle + least / 2
        }
        let yPad = (yHigh - yLow) * 0.08
        let yRange = max(0, yLow - yPad)...(yHigh + yPad)

        // Canvas coordinates, clamped far outside the canvas so that any value converts (a best
        // focus extrapolated to 1e300 is drawn nowhere, not a crash).
        func pixel(_ value: Double) -> Int { Int((value.isFinite ? min(1e6, max(-1e6, value)) : -1e6).rounded()) }
        func px(_ p: Double) -> Int {
            pixel(Double(plotLeft) + (p - xRange.lowerBound) / (xRange.upperBound - xRange.lowerBound) * Double(plotRight - plotLeft))
        }
        func py(_ m: Double) -> Int {
            pixel(Double(plotBottom) - (m - yRange.lowerBound) / (yRange.upperBound - yRange.lowerBound) * Double(plotBottom - plotTop))
        }

        // Grid, ticks and labels.
        for tick in Ticks.values(in: xRange) {
            let x = px(tick.value)
            canvas.line(x, plotTop, x, plotBottom, level: 225)
            canvas.line(x, plotBottom, x, plotBottom + 6, level: 0)
            canvas.text(tick.label, centreX: x, y: plotBottom + 12, level: 0)
        }
        for tick in Ticks.values(in: yRange) {
            let y = py(tick.value)
            canvas.line(plotLeft, y, plotRight, y, level: 225)
            canvas.line(plotLeft - 6, y, plotLeft, y, level: 0)
            canvas.text(tick.label, rightX: plotLeft - 10, y: y - 7, level: 0)
        }
        canvas.rectangle(plotLeft, plotTop, plotRight, plotBottom, level: 0)
        canvas.text("FOCUSER POSITION", centreX: (plotLeft + plotRight) / 2, y: height - 24, level: 0)
        canvas.text("PX", rightX: plotLeft - 10, y: plotTop - 20, level: 0)

        // Curves, clipped to the plot.
        canvas.clip = (plotLeft + 1, plotTop + 1, plotRight - 1, plotBottom - 1)
        func draw(_ curve: [(Double, Double)], level: UInt8, dashed: Bool) {
            for (index, (a, b)) in zip(curve, curve.dropFirst()).enumerated() where !dashed || index % 4 < 2 {
                canvas.line(px(a.0), py(a.1), px(b.0), py(b.1),
                            level: level, thickness: 2)
            }
        }
        draw(fwhmCurve, level: 0, dashed: false)
        draw(hfdCurve, level: 110, dashed: true)
        var header: [String] = []
        for (name, fit, level) in [("FWHM", session.fwhmFit, UInt8(0)), ("HFD", session.hfdFit, UInt8(110))] {
            guard let fit else { continue }
            let x = px(fit.bestFocus)
            var y = plotTop
            while y < plotBottom {
                canvas.line(x, y, x, min(y + 6, plotBottom), level: level, thickness: 2)
                y += 12
            }
            let best = abs(fit.bestFocus) < 1e7 ? Ticks.format(fit.bestFocus, step: 1) : String(format: "%.3G", fit.bestFocus)
            header.append("BEST \(name) \(best)")
        }
        for point in points {
            let x = px(point.position)
            canvas.square(x, py(point.measurement.medianFWHM), radius: 4, level: 0)
            canvas.circle(x, py(point.measurement.medianHFD), radius: 5, level: 110)
        }
        canvas.clip = nil

        // Legend and the best positions above the plot.
        canvas.square(plotLeft + 6, 14, radius: 4, level: 0)
        canvas.text("FWHM", leftX: plotLeft + 16, y: 8, level: 0)
        canvas.circle(plotLeft + 86, 14, radius: 5, level: 110)
        canvas.text("HFD", leftX: plotLeft + 96, y: 8, level: 0)
        let state = Set(points.map(\.position)).count < 3 ? "FIT FROM 3 POSITIONS" : "NO MINIMUM"
        canvas.text(header.isEmpty ? state : header.joined(separator: "  "), rightX: plotRight, y: 8, level: 0)
        return canvas.pixels
    }
}

extension FocusPlot {
    /// Round tick values: 1, 2 or 5 times a power of ten apart, about six along an axis.
    enum Ticks {
        static func values(in range: ClosedRange<Double>) -> [(value: Double, label: String)] {
            let span = range.upperBound - range.lowerBound
            guard span > 0, span.isFinite else { return [] }
            let rough = span / 6
            let power = pow(10, floor(log10(rough)))
            let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= rough } ?? 10 * power
            var value = ceil(range.lowerBound / step) * step
            var ticks: [(Double, String)] = []
            while value <= range.upperBound + step * 1e-9, ticks.count < 20 {
                ticks.append((value, format(value, step: step)))
                value += step
            }
            return ticks
        }

        /// A value with as many decimals as the step needs.
        static func format(_ value: Double, step: Double) -> String {
            let decimals = step >= 1 ? 0 : min(6, Int(ceil(-log10(step))))
            let text = String(format: "%.\(decimals)f", value)
            return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
        }
    }

    /// A greyscale raster with the few primitives the plot needs.
    struct Canvas {
        let width: Int, height: Int
        var pixels: [UInt8]
        /// Drawing is limited to this rectangle (left, top, right, bottom, inclusive) when set.
        var clip: (Int, Int, Int, Int)?

        init(width: Int, height: Int) {
            self.width = width
            self.height = height
            pixels = [UInt8](repeating: 255, count: width * height)
        }

        mutating func set(_ x: Int, _ y: Int, _ level: UInt8) {
            guard x >= 0, y >= 0, x < width, y < height else { return }
            if let (l, t, r, b) = clip, x < l || x > r || y < t || y > b { return }
            pixels[y * width + x] = level
        }

        mutating func line(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, level: UInt8, thickness: Int = 1) {
            // Far outside the canvas (a steep curve), nothing of the segment is drawn.
            guard abs(x0) < 100_000, abs(x1) < 100_000, abs(y0) < 100_000, abs(y1) < 100_000 else { return }
            var x = x0, y = y0
            let dx = abs(x1 - x0), dy = -abs(y1 - y0)
            let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
            var error = dx + dy
            while true {
                for ox in 0..<thickness { for oy in 0..<thickness { set(x + ox, y + oy, level) } }
                if x == x1 && y == y1 { break }
                let e2 = 2 * error
                if e2 >= dy { error += dy; x += sx }
                if e2 <= dx { error += dx; y += sy }
            }
        }

        mutating func rectangle(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, level: UInt8) {
            line(x0, y0, x1, y0, level: level)
            line(x0, y1, x1, y1, level: level)
            line(x0, y0, x0, y1, level: level)
            line(x1, y0, x1, y1, level: level)
        }

        mutating func square(_ cx: Int, _ cy: Int, radius: Int, level: UInt8) {
            for y in (cy - radius)...(cy + radius) { for x in (cx - radius)...(cx + radius) { set(x, y, level) } }
        }

        mutating func circle(_ cx: Int, _ cy: Int, radius: Int, level: UInt8) {
            let outer = Double(radius) + 0.5, inner = Double(radius) - 1.5
            for y in (cy - radius - 1)...(cy + radius + 1) {
                for x in (cx - radius - 1)...(cx + radius + 1) {
                    let d = (Double((x - cx) * (x - cx) + (y - cy) * (y - cy))).squareRoot()
                    if d <= outer && d >= inner { set(x, y, level) }
                }
            }
        }

        /// Text in the 5x7 font drawn twice its size (10 x 14 pixels a character, 12 apart).
        mutating func text(_ string: String, leftX: Int, y: Int, level: UInt8) {
            var x = leftX
            for character in string.uppercased() {
                if let rows = Font.glyphs[character] {
                    for (row, bits) in rows.enumerated() {
                        for column in 0..<5 where bits & (0x10 >> column) != 0 {
                            for oy in 0..<2 { for ox in 0..<2 { set(x + column * 2 + ox, y + row * 2 + oy, level) } }
                        }
                    }
                }
                x += 12
            }
        }

        mutating func text(_ string: String, centreX: Int, y: Int, level: UInt8) {
            text(string, leftX: centreX - (string.count * 12 - 2) / 2, y: y, level: level)
        }

        mutating func text(_ string: String, rightX: Int, y: Int, level: UInt8) {
            text(string, leftX: rightX - (string.count * 12 - 2), y: y, level: level)
        }
    }

    /// A 5x7 font: digits, the letters the plot writes, and a few signs (rows top first, bit 4 the
    /// leftmost column).
    enum Font {
        static let glyphs: [Character: [UInt8]] = [
            "0": [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E], "1": [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
            "2": [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F], "3": [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
            "4": [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02], "5": [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
            "6": [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E], "7": [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
            "8": [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E], "9": [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
            "-": [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00], ".": [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
            "+": [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00], ":": [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
            "A": [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "B": [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
            "C": [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E], "D": [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
            "E": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F], "F": [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
            "H": [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11], "I": [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
            "M": [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11], "N": [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
            "O": [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E], "P": [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
            "R": [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11], "S": [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
            "T": [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04], "U": [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
            "W": [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A], "X": [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
            "L": [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        ]
    }
}
