import ApertureProtocol

/// The calibration library's rule: for a frame, the best master of a kind among catalog rows,
/// or why there is none.
///
/// - A master dark must have exactly the frame's exposure time, binning, readout mode, gain and
///   image size, and a CCD-TEMP within the tolerance of the frame's; the nearest temperature
///   wins, then the newest (DATE-OBS, then id).
/// - A master bias: binning, readout mode, gain and size; the newest wins.
/// - A master flat: the same and the filter; the newest wins.
///
/// A value the frame lacks (a frame without READOUTM, from other software) matches masters
/// that lack it too. The reason for no match names the first thing that differed and what the
/// masters have instead, e.g. `no MASTERDARK with exptime 30 s; nearest have 10, 60`.
public enum DarkLibrary {
    /// One value a master must share with the frame.
    private struct Criterion {
        let name: String
        let keyword: String
        let frame: String?
        let master: (FrameRow) -> String?
        /// Describes a value in the message (`30 s`, `2x2`).
        let unit: String
        /// For numbers: the masters' values listed nearest first.
        let numeric: Double?
    }

    /// Formats a number as headers show it: `30`, `0.5`, `-15.2`.
    public static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    private static func criteria(_ kind: MasterKind, _ frame: FrameTraits) -> [Criterion] {
        func binning(_ x: Int?, _ y: Int?) -> String? { x.flatMap { x in y.map { "\(x)x\($0)" } } }
        func size(_ width: Int?, _ height: Int?) -> String? { width.flatMap { w in height.map { "\(w)x\($0)" } } }
        var list: [Criterion] = []
        if kind == .dark {
            list.append(Criterion(name: "exptime", keyword: "EXPTIME", frame: frame.exptime.map(format),
                                  master: { $0.exptime.map(format) }, unit: " s", numeric: frame.exptime))
        }
        list += [
            Criterion(name: "binning", keyword: "XBINNING/YBINNING", frame: binning(frame.xbinning, frame.ybinning),
                      master: { binning($0.xbinning, $0.ybinning) }, unit: "", numeric: nil),
            Criterion(name: "readout", keyword: "READOUTM", frame: frame.readoutMode, master: { $0.readoutMode },
                      unit: "", numeric: nil),
            Criterion(name: "gain", keyword: "GAIN", frame: frame.gain, master: { $0.gain }, unit: "", numeric: nil),
            Criterion(name: "size", keyword: "NAXIS1/NAXIS2", frame: size(frame.width, frame.height),
                      master: { size($0.width, $0.height) }, unit: "", numeric: nil),
        ]
        if kind == .flat {
            list.append(Criterion(name: "filter", keyword: "FILTER", frame: frame.filter, master: { $0.filter },
                                  unit: "", numeric: nil))
        }
        return list
    }

    /// The best master of `kind` for a frame, or why there is none.
    ///
    /// - Parameters:
    ///   - kind: Bias, dark or flat.
    ///   - frame: The frame's values.
    ///   - rows: Catalog rows; those of other image types and missing files are ignored.
    ///   - tolerance: How far a master dark's CCD-TEMP may be from the frame's, in degrees.
    /// - Returns: The answer, `master` or `reason` set.
    public static func match(_ kind: MasterKind, for frame: FrameTraits, among rows: [FrameRow],
                             tolerance: Double = MatchRequest.defaultTolerance) -> MasterMatch {
        let type = kind.masterImageType
        var candidates = rows.filter { $0.imagetyp == type && !$0.missing }
        guard !candidates.isEmpty else { return MasterMatch(kind: kind, master: nil, reason: "no \(type) in the catalog") }
        var matched: [String] = []
        for criterion in criteria(kind, frame) {
            // A value the frame lacks matches masters that lack it too (frames of other software).
            guard let value = criterion.frame else {
                let alike = candidates.filter { criterion.master($0) == nil }
                guard !alike.isEmpty else {
                    let have = Set(candidates.compactMap(criterion.master)).sorted().prefix(5).joined(separator: ", ")
                    return MasterMatch(kind: kind, master: nil,
                                       reason: "the frame has no \(criterion.keyword) and every \(type) left has one (\(have))")
                }
                matched.append("no \(criterion.name)")
                candidates = alike
                continue
            }
            let same = candidates.filter { criterion.master($0) == value }
            if same.isEmpty {
                let others: [String]
                if let target = criterion.numeric {
                    let numbers = Set(candidates.compactMap { $0.exptime })
                    others = numbers.sorted { abs($0 - target) < abs($1 - target) }.prefix(2).sorted().map(format)
                } else {
                    others = Set(candidates.compactMap(criterion.master)).sorted()
                }
                let with = (matched + ["\(criterion.name) \(value)\(criterion.unit)"]).joined(separator: " and ")
                let have = others.isEmpty ? "none has \(criterion.name) at all"
                    : (criterion.numeric != nil ? "nearest have " : "they have ") + others.prefix(5).joined(separator: ", ")
                return MasterMatch(kind: kind, master: nil, reason: "no \(type) with \(with); \(have)")
            }
            matched.append("\(criterion.name) \(value)\(criterion.unit)")
            candidates = same
        }
        let newestFirst = candidates.sorted { ($0.dateObs ?? "", $0.id) > ($1.dateObs ?? "", $1.id) }
        guard kind == .dark else { return MasterMatch(kind: kind, master: newestFirst.first, reason: nil) }
        let names = criteria(kind, frame).map(\.name).joined(separator: "/")
        guard let temperature = frame.ccdTemp, temperature.isFinite else {
            return MasterMatch(kind: kind, master: nil,
                               reason: "\(candidates.count) \(type)(s) match \(names) but the frame has no CCD-TEMP to compare")
        }
        let near = newestFirst.filter { ($0.ccdTemp.map { abs($0 - temperature) <= tolerance + 1e-9 }) ?? false }
        guard let best = near.min(by: { abs($0.ccdTemp! - temperature) < abs($1.ccdTemp! - temperature) }) else {
            let nearest = candidates.compactMap(\.ccdTemp).min { abs($0 - temperature) < abs($1 - temperature) }
            return MasterMatch(kind: kind, master: nil,
                               reason: "\(candidates.count) \(type)(s) match \(names) but none within \(tolerance) C of "
                                   + "\(format(temperature))" + (nearest.map { " (nearest \(format($0)))" } ?? " (none has CCD-TEMP)"))
        }
        return MasterMatch(kind: kind, master: best, reason: nil)
    }
}
