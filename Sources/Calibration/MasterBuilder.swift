import ApertureProtocol
import Bus
import FITSStorage
import Foundation

/// Makes master frames from catalogued frames: checks the inputs, reads them, combines them
/// (``StackCombiner``) and writes the master as a 32-bit float FITS file under
/// `DATA_ROOT/masters/` (``FrameStore/saveFloat(pixels:width:height:cards:comments:history:)``:
/// temporary file, fsync, rename).
///
/// - A master bias or dark is the combination of the raw frames (a master dark keeps the bias:
///   subtracting it from a frame of the same exposure removes both).
/// - A master flat is the combination of the flats each divided by its own median, divided by
///   its own median at the end (median 1).
///
/// Blocks for seconds: call it from a thread of its own.
public enum MasterBuilder {
    /// The folder under the data root that holds the masters.
    public static let folder = "masters"
    /// The most bytes of input pixels held at once (2 GiB: 128 frames of 2048x2048).
    public static let maximumInputBytes = 2 << 30

    /// Refuses inputs that cannot make one master, naming `frames` and the ids at fault: a row
    /// of another image type, a missing file, sizes, binnings, readout modes or gains that
    /// differ; for darks exposure times, for flats filters.
    ///
    /// - Parameters:
    ///   - rows: The inputs' rows.
    ///   - kind: The master's kind.
    /// - Throws: ``BusError`` `invalid_argument` (field `frames`), or `insufficient_data` for
    ///   missing files.
    public static func check(_ rows: [FrameRow], kind: MasterKind) throws(BusError) {
        guard (CombineRequest.minimumInputs...CombineRequest.maximumInputs).contains(rows.count) else {
            throw BusError(.insufficientData, "frames: \(rows.count) frame(s) selected; a master combines "
                           + "\(CombineRequest.minimumInputs) to \(CombineRequest.maximumInputs) frames", field: "frames")
        }
        func ids(_ rows: [FrameRow]) -> String {
            (rows.count == 1 ? "id " : "ids ") + rows.prefix(20).map { String($0.id) }.joined(separator: ", ")
                + (rows.count > 20 ? ", ..." : "")
        }
        let wrong = rows.filter { $0.imagetyp != kind.inputImageType }
        if !wrong.isEmpty {
            let types = Set(wrong.map { $0.imagetyp ?? "no IMAGETYP" }).sorted().joined(separator: ", ")
            throw .invalid("frames", "\(ids(wrong)) are not '\(kind.inputImageType)' frames (\(types)); a master \(kind.rawValue) "
                           + "combines \(kind.inputImageType) frames only")
        }
        let missing = rows.filter(\.missing)
        if !missing.isEmpty {
            throw BusError(.insufficientData, "frames: the files of \(ids(missing)) are missing from the data folders", field: "frames")
        }
        var keys: [(String, (FrameRow) -> String)] = [
            ("sizes", { "\($0.width.map(String.init) ?? "?")x\($0.height.map(String.init) ?? "?")" }),
            ("binnings", { "\($0.xbinning.map(String.init) ?? "?")x\($0.ybinning.map(String.init) ?? "?")" }),
            ("readout modes", { $0.readoutMode ?? "none" }),
            ("gains", { $0.gain ?? "none" }),
        ]
        if kind == .dark { keys.append(("exposure times", { $0.exptime.map { DarkLibrary.format($0) + " s" } ?? "none" })) }
        if kind == .flat { keys.append(("filters", { $0.filter ?? "none" })) }
        // One camera's frames (rows older than SITE and CAMERA name none, and pass).
        let cameras = Set(rows.compactMap { row in row.camera.map { "\(row.site ?? "?")/\($0)" } })
        if cameras.count > 1 {
            throw .invalid("frames", "the frames come from \(cameras.count) cameras (\(cameras.sorted().joined(separator: ", "))); "
                           + "a master combines one camera's frames")
        }
        for (what, key) in keys {
            let groups = Dictionary(grouping: rows, by: key)
            guard groups.count > 1 else { continue }
            let listed = groups.sorted { $0.value.count > $1.value.count }
                .map { "\($0.key) (\(ids($0.value)))" }.joined(separator: ", ")
            throw .invalid("frames", "the frames' \(what) differ: \(listed); a master combines frames that agree")
        }
    }

    /// What a master was made from and how, for its header.
    public struct Recipe: Sendable {
        /// The kind.
        public var kind: MasterKind
        /// The method.
        public var method: CombineMethod
        /// The inputs' rows, in order.
        public var inputs: [FrameRow]
        /// The inputs' absolute paths, in order.
        public var paths: [String]

        /// Creates a recipe.
        ///
        /// - Parameters:
        ///   - kind: The kind.
        ///   - method: The method.
        ///   - inputs: The rows.
        ///   - paths: Their files.
        public init(kind: MasterKind, method: CombineMethod, inputs: [FrameRow], paths: [String]) {
            self.kind = kind
            self.method = method
            self.inputs = inputs
            self.paths = paths
        }
    }

    /// Reads the inputs, combines them and writes the master.
    ///
    /// - Parameters:
    ///   - recipe: What to combine (checked with ``check(_:kind:)``).
    ///   - dataRoot: The data root; the master goes to `dataRoot/masters/`.
    ///   - threads: Threads for the combine.
    ///   - date: Names the file (`MASTERDARK-YYYYMMDD-NNNN.fits`, its UTC day).
    /// - Returns: The saved file.
    /// - Throws: ``BusError``: `invalid_argument` (field `frames`) when a file's image is not
    ///   the size its row says, or a flat's median is not positive; `storage_error` when a file
    ///   cannot be read or the master cannot be written.
    public static func build(_ recipe: Recipe, dataRoot: String, threads: Int, date: Date = Date()) throws(BusError) -> SavedFile {
        let first = recipe.inputs[0]
        guard let width = first.width, let height = first.height, width > 0, height > 0 else {
            throw .invalid("frames", "id \(first.id) has no image size in the catalog")
        }
        let (bytes, overflow) = (width * height).multipliedReportingOverflow(by: recipe.inputs.count * (recipe.kind == .flat ? 4 : 2))
        guard !overflow, bytes <= maximumInputBytes else {
            throw .invalid("frames", "\(recipe.inputs.count) frames of \(width)x\(height) pixels need more than "
                           + "\(maximumInputBytes >> 20) MiB; combine fewer frames")
        }
        var combined: [Float]
        var raw: [[UInt16]] = []
        var flats: [[Float]] = []
        for (row, path) in zip(recipe.inputs, recipe.paths) {
            let image: (width: Int, height: Int, pixels: [UInt16], header: [String: String])
            do throws(StorageError) { image = try FITSFile.read(path: path) } catch {
                throw BusError(.storage, "frames: cannot read id \(row.id): \(error.message)", field: "frames")
            }
            guard image.width == width, image.height == height else {
                throw .invalid("frames", "id \(row.id) (\(path)) holds \(image.width)x\(image.height) pixels, not \(width)x\(height)")
            }
            if recipe.kind == .flat {
                let level = image.pixels.withUnsafeBufferPointer { StackCombiner.median(of: $0) }
                guard level > 0 else { throw .invalid("frames", "flat id \(row.id) has median \(level); a flat needs a positive level") }
                let scale = 1 / level
                flats.append(image.pixels.map { Float($0) * scale })
            } else {
                raw.append(image.pixels)
            }
        }
        let count = width * height
        if recipe.kind == .flat {
            combined = withBuffers(flats) { StackCombiner.combine($0, count: count, method: recipe.method, threads: threads) }
            flats = []
            let level = combined.withUnsafeBufferPointer { StackCombiner.median(of: $0) }
            guard level > 0, level.isFinite else { throw .invalid("frames", "the combined flat has median \(level)") }
            let scale = 1 / level
            for index in combined.indices { combined[index] *= scale }
        } else {
            combined = withBuffers(raw) { StackCombiner.combine($0, count: count, method: recipe.method, threads: threads) }
            raw = []
        }
        let (cards, history) = header(recipe)
        let store = FrameStore(root: dataRoot + "/" + folder,
                               prefix: recipe.kind.masterImageType + "-" + FrameTime.day(date).replacingOccurrences(of: "-", with: ""))
        do throws(StorageError) {
            return try combined.withUnsafeBufferPointer { (pixels: UnsafeBufferPointer<Float>) throws(StorageError) -> SavedFile in
                try store.saveFloat(pixels: pixels, width: width, height: height, cards: cards,
                                    comments: ["Master \(recipe.kind.rawValue) made by Aperture from \(recipe.inputs.count) frames; "
                                               + "each input is a HISTORY card: catalog id, SHA-256 (first 16 digits), path"],
                                    history: history)
            }
        } catch {
            throw BusError(.storage, error.message)
        }
    }

    /// Runs `body` with the arrays' buffers.
    private static func withBuffers<Pixel: StackPixel, Result>(
        _ arrays: [[Pixel]], _ body: ([UnsafeBufferPointer<Pixel>]) -> Result
    ) -> Result {
        func nest(_ index: Int, _ collected: [UnsafeBufferPointer<Pixel>]) -> Result {
            guard index < arrays.count else { return body(collected) }
            return arrays[index].withUnsafeBufferPointer { nest(index + 1, collected + [$0]) }
        }
        return nest(0, [])
    }

    /// The master's header cards and HISTORY texts.
    static func header(_ recipe: Recipe) -> (cards: [FITSCard], history: [String]) {
        let inputs = recipe.inputs
        let first = inputs[0]
        var cards: [FITSCard] = [
            FITSCard(keyword: "IMAGETYP", value: .string(recipe.kind.masterImageType), comment: "master calibration frame"),
            FITSCard(keyword: "NCOMBINE", value: .integer(inputs.count), comment: "frames combined"),
            FITSCard(keyword: "COMBMETH", value: .string(recipe.method.name), comment: "combination method"),
        ]
        if case .sigmaClippedMean(let clip) = recipe.method {
            cards += [
                FITSCard(keyword: "CLIPLOW", value: .double(clip.kappaLow), comment: "[sigma] lower clipping threshold"),
                FITSCard(keyword: "CLIPHIGH", value: .double(clip.kappaHigh), comment: "[sigma] upper clipping threshold"),
                FITSCard(keyword: "CLIPITER", value: .integer(clip.iterations), comment: "most clipping rounds"),
            ]
        }
        if let date = first.dateObs {
            cards.append(FITSCard(keyword: "DATE-OBS", value: .string(date), comment: "UTC start of the first input"))
        }
        let times = inputs.compactMap(\.exptime)
        if !times.isEmpty {
            let mean = times.reduce(0, +) / Double(times.count)
            cards.append(FITSCard(keyword: "EXPTIME", value: .double(recipe.kind == .flat ? mean : times[0]),
                                  comment: recipe.kind == .flat ? "[s] mean exposure time of the inputs" : "[s] exposure time of the inputs"))
        }
        if let x = first.xbinning, let y = first.ybinning {
            cards += [FITSCard(keyword: "XBINNING", value: .integer(x), comment: "binning factor in x"),
                      FITSCard(keyword: "YBINNING", value: .integer(y), comment: "binning factor in y")]
        }
        if let x = first.xorigin, let y = first.yorigin {
            cards += [FITSCard(keyword: "XORGSUBF", value: .integer(x), comment: "subframe origin x (unbinned)"),
                      FITSCard(keyword: "YORGSUBF", value: .integer(y), comment: "subframe origin y (unbinned)")]
        }
        func text(_ keyword: String, _ value: String?, _ comment: String) {
            guard let value, FITSFile.validate(FITSCard(keyword: keyword, value: .string(value))) == nil else { return }
            cards.append(FITSCard(keyword: keyword, value: .string(value), comment: comment))
        }
        text("READOUTM", first.readoutMode, "readout mode")
        text("GAIN", first.gain, "gain setting")
        if recipe.kind == .flat { text("FILTER", first.filter, "filter") }
        let temperatures = inputs.compactMap(\.ccdTemp).filter(\.isFinite)
        if !temperatures.isEmpty {
            let mean = temperatures.reduce(0, +) / Double(temperatures.count)
            cards.append(FITSCard(keyword: "CCD-TEMP", value: .double((mean * 100).rounded() / 100),
                                  comment: "[C] mean sensor temperature of the inputs"))
        }
        for keyword in ["INSTRUME", "DETECTOR", "TELESCOP"] {
            text(keyword, first.headers?[keyword], keyword.lowercased())
        }
        // The facility identity of the camera that took the inputs (left out for inputs older
        // than SITE and CAMERA).
        text("SITE", first.site ?? first.headers?["SITE"], "facility site of the inputs")
        text("CAMERA", first.camera ?? first.headers?["CAMERA"], "facility camera of the inputs")
        if let longitude = first.headers?["SITELONG"].flatMap(Double.init), longitude.isFinite {
            cards.append(FITSCard(keyword: "SITELONG", value: .double(longitude), comment: "[deg] site longitude"))
        }
        cards.append(FITSCard(keyword: "BUNIT", value: .string(recipe.kind == .flat ? "relative" : "ADU"),
                              comment: recipe.kind == .flat ? "normalised to median 1" : "unit of the pixel values"))
        let history = inputs.map { row -> String in
            var line = "\(row.id) \(row.sha256.prefix(16)) \(row.path)"
            if line.utf8.count > 72 { line = String(line.prefix(69)) + "..." }
            return String(line.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7F ? Character($0) : "?" })
        }
        return (cards, history)
    }
}
