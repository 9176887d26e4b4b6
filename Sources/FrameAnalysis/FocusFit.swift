/// One point of a focus series: a focuser position and the frame's focus metric there (median
/// FWHM or HFD, in pixels).
public struct FocusSample: Sendable, Hashable, Codable {
    /// `position`: the focuser position.
    public var position: Double
    /// `metric`: the star width measured there, in pixels.
    public var metric: Double

    /// Creates a sample.
    ///
    /// - Parameters:
    ///   - position: the focuser position.
    ///   - metric: the star width measured there.
    public init(position: Double, metric: Double) {
        self.position = position
        self.metric = metric
    }
}

/// A least-squares parabola through a focus series, and the best focus it predicts (what evora's
/// focus helper did with a quadratic fit).
///
/// Which quantity is fitted (``Model``): by default the *square* of the metric. A star's width
/// against focuser position is a hyperbola, `width^2 = width0^2 + k^2 (p - p0)^2`: for the
/// Gaussian defocus of the simulator exactly (`sigma(f)^2 = sigma0^2 (1 + ((f - f0)/d)^2)`, and the
/// pixel's 1/12 only adds to the constant), and for a real telescope approximately (the
/// geometric blur grows linearly with defocus, and adds in quadrature to the seeing). So the
/// squared width is exactly a parabola in the position and a quadratic fit to it is unbiased,
/// however the series is placed around focus; a parabola fitted to the width itself is only
/// an approximation of the hyperbola, whose vertex moves when the series is lopsided.
/// ``Model/quadratic`` fits the metric itself, as the wording and evora did.
///
/// The fit is done on positions centred and scaled to -1...1, so that large focuser positions
/// lose no precision.
public struct FocusFit: Sendable, Hashable, Codable {
    /// The quantity fitted by the parabola.
    public enum Model: String, Sendable, Hashable, Codable, CaseIterable {
        /// `metric = a (p - p0)^2 + m0`.
        case quadratic
        /// `metric^2 = a (p - p0)^2 + m0` (a hyperbola in the metric): the default.
        case quadraticInSquares = "quadratic_in_squares"
    }

    /// `model`: the quantity fitted.
    public var model: Model
    /// `best_focus`: the position of the parabola's vertex, `p0`.
    public var bestFocus: Double
    /// `best_metric`: the metric predicted at `best_focus` (for ``Model/quadraticInSquares`` the
    /// square root of the vertex value, 0 if the vertex is negative).
    public var bestMetric: Double
    /// `curvature`: `a`, in (fitted unit) per position unit squared; positive for a minimum.
    public var curvature: Double
    /// `vertex_value`: `m0`, the fitted quantity at the vertex (a squared metric for
    /// ``Model/quadraticInSquares``).
    public var vertexValue: Double
    /// `best_focus_uncertainty`: the one-sigma uncertainty of `best_focus` from the scatter of
    /// the points about the parabola (nil with exactly 3 points: nothing is left to estimate the
    /// scatter).
    public var bestFocusUncertainty: Double?
    /// `r_squared`: the coefficient of determination of the fitted quantity.
    public var rSquared: Double
    /// `rms_residual`: the root-mean-square difference between the metrics and the fitted curve,
    /// in the metric's unit (pixels) whatever the model.
    public var rmsResidual: Double
    /// `point_count`: the samples used.
    public var pointCount: Int
    /// `extrapolated`: whether `best_focus` lies outside the positions sampled (move the series
    /// and repeat).
    public var extrapolated: Bool

    /// The metric the fit predicts at a position.
    /// - Parameter position: a focuser position.
    public func predictedMetric(at position: Double) -> Double {
        let value = curvature * (position - bestFocus) * (position - bestFocus) + vertexValue
        switch model {
        case .quadratic: return value
        case .quadraticInSquares: return max(0, value).squareRoot()
        }
    }

    /// Fits a parabola to a series.
    /// - Parameters:
    ///   - samples: at least 3 samples at 3 or more distinct positions, every value finite.
    ///   - model: the quantity fitted; see the type's documentation.
    /// - Returns: the fit.
    /// - Throws: ``AnalysisError`` `insufficient_data` with fewer than 3 distinct positions;
    ///   `invalid_argument` for a value that is not finite (or a negative metric when squares are
    ///   fitted); `not_a_minimum` when the parabola opens downwards or is flat.
    public static func fit(_ samples: [FocusSample], model: Model = .quadraticInSquares) throws(AnalysisError) -> FocusFit {
        for (index, sample) in samples.enumerated() {
            guard sample.position.isFinite, sample.metric.isFinite else {
                throw AnalysisError(.invalidArgument, "sample \(index): position and metric must be finite numbers")
            }
            if model == .quadraticInSquares && sample.metric < 0 {
                throw AnalysisError(.invalidArgument, "sample \(index): metric \(sample.metric) is negative")
            }
        }
        let distinct = Set(samples.map(\.position)).count
        guard samples.count >= 3, distinct >= 3 else {
            throw AnalysisError(.insufficientData, "a focus fit needs at least 3 distinct positions, got \(distinct)")
        }
        let n = Double(samples.count)
        let positions = samples.map(\.position)
        let centre = positions.reduce(0, +) / n
        let scale = positions.map { abs($0 - centre) }.max()!
        let us = positions.map { ($0 - centre) / scale }
        let ys = samples.map { model == .quadratic ? $0.metric : $0.metric * $0.metric }

        // Normal equations for y = A u^2 + B u + C.
        var s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0, t0 = 0.0, t1 = 0.0, t2 = 0.0
        for (u, y) in zip(us, ys) {
            let u2 = u * u
            s0 += 1; s1 += u; s2 += u2; s3 += u2 * u; s4 += u2 * u2
            t0 += y; t1 += y * u; t2 += y * u2
        }
        let matrix = [[s4, s3, s2], [s3, s2, s1], [s2, s1, s0]]
        guard let inverse = invert3(matrix) else {
            throw AnalysisError(.insufficientData, "the focus positions do not determine a parabola")
        }
        let rhs = [t2, t1, t0]
        let coefficients = (0..<3).map { row in (0..<3).reduce(0.0) { $0 + inverse[row][$1] * rhs[$1] } }
        let (a, b, c) = (coefficients[0], coefficients[1], coefficients[2])
        guard a > 0 else {
            throw AnalysisError(.notAMinimum, "the fitted parabola has no minimum (curvature \(a / (scale * scale)) <= 0): "
                + "the series does not bracket the best focus; extend it on both sides")
        }
        let vertexU = -b / (2 * a)
        let vertexValue = c - b * b / (4 * a)
        let bestFocus = centre + scale * vertexU

        var residualSquares = 0.0, metricSquares = 0.0, totalSquares = 0.0
        let mean = ys.reduce(0, +) / n
        for (index, (u, y)) in zip(us, ys).enumerated() {
            let fitted = a * u * u + b * u + c
            residualSquares += (y - fitted) * (y - fitted)
            totalSquares += (y - mean) * (y - mean)
            let metricFitted = model == .quadratic ? fitted : max(0, fitted).squareRoot()
            let difference = samples[index].metric - metricFitted
            metricSquares += difference * difference
        }
        var uncertainty: Double?
        if samples.count > 3 {
            let variance = residualSquares / (n - 3)
            let gradient = [b / (2 * a * a), -1 / (2 * a), 0]
            var spread = 0.0
            for i in 0..<3 {
                for j in 0..<3 { spread += gradient[i] * inverse[i][j] * gradient[j] }
            }
            uncertainty = scale * (variance * max(0, spread)).squareRoot()
        }
        let bestMetric = model == .quadratic ? vertexValue : max(0, vertexValue).squareRoot()
        return FocusFit(model: model, bestFocus: bestFocus, bestMetric: bestMetric, curvature: a / (scale * scale),
                        vertexValue: vertexValue, bestFocusUncertainty: uncertainty,
                        rSquared: totalSquares > 0 ? 1 - residualSquares / totalSquares : 1,
                        rmsResidual: (metricSquares / n).squareRoot(), pointCount: samples.count,
                        extrapolated: bestFocus < positions.min()! || bestFocus > positions.max()!)
    }

    /// The inverse of a 3x3 matrix by cofactors, or nil when it is singular.
    private static func invert3(_ m: [[Double]]) -> [[Double]]? {
        let c00 = m[1][1] * m[2][2] - m[1][2] * m[2][1]
        let c01 = m[1][2] * m[2][0] - m[1][0] * m[2][2]
        let c02 = m[1][0] * m[2][1] - m[1][1] * m[2][0]
        let determinant = m[0][0] * c00 + m[0][1] * c01 + m[0][2] * c02
        let size = m.flatMap { $0 }.map(abs).max() ?? 0
        guard determinant.isFinite, abs(determinant) > 1e-12 * size * size * size else { return nil }
        let r = 1 / determinant
        return [
            [c00 * r, (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * r, (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * r],
            [c01 * r, (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * r, (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * r],
            [c02 * r, (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * r, (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * r],
        ]
    }

    /// The coefficients in the problem's coordinates; the memberwise form is private so that a
    /// fit only comes from ``fit(_:model:)`` or decoding.
    private init(model: Model, bestFocus: Double, bestMetric: Double, curvature: Double, vertexValue: Double,
                 bestFocusUncertainty: Double?, rSquared: Double, rmsResidual: Double, pointCount: Int,
                 extrapolated: Bool) {
        self.model = model
        self.bestFocus = bestFocus
        self.bestMetric = bestMetric
        self.curvature = curvature
        self.vertexValue = vertexValue
        self.bestFocusUncertainty = bestFocusUncertainty
        self.rSquared = rSquared
        self.rmsResidual = rmsResidual
        self.pointCount = pointCount
        self.extrapolated = extrapolated
    }

    enum CodingKeys: String, CodingKey {
        case model, curvature
        case bestFocus = "best_focus"
        case bestMetric = "best_metric"
        case vertexValue = "vertex_value"
        case bestFocusUncertainty = "best_focus_uncertainty"
        case rSquared = "r_squared"
        case rmsResidual = "rms_residual"
        case pointCount = "point_count"
        case extrapolated
    }
}
