import ApertureProtocol
import Bus
import FITSStorage
import Foundation
import Synchronization

/// The calibrated quick look (`calibrate` in the processor's configuration): finds the master
/// bias, dark and flat that match a frame through the catalog's `calibration.match`, keeps the
/// masters it loaded, and applies them to the frame before its statistics.
///
/// A frame's exposure time, binning and size come from the frame ring; its readout mode, gain,
/// filter and CCD temperature from its saved file's header (the path of its `camera.frame`
/// notice). Answers are cached by those values (the temperature in half-degree steps) for
/// ``answerLifetime``, so a series asks the catalog once; a catalog that does not answer within
/// ``catalogTimeout`` gives "uncalibrated: catalog unavailable", remembered for
/// ``unavailableLifetime`` so that frames are not held up one after the other. The camera
/// never waits for any of it: the processor reads the ring behind it.
final class QuickLookCalibrator: Sendable {
    /// A master held in memory.
    final class Master: Sendable {
        /// Its path relative to the data root.
        let path: String
        let width: Int
        let height: Int
        let pixels: [Float]

        init(path: String, width: Int, height: Int, pixels: [Float]) {
            self.path = path
            self.width = width
            self.height = height
            self.pixels = pixels
        }
    }

    /// What to apply to one frame.
    struct Plan: Sendable {
        var bias: Master?
        var dark: Master?
        var flat: Master?
        var reasons: [String]

        /// The master subtracted: the dark (it holds the bias), else the bias.
        var subtracted: Master? { dark ?? bias }
    }

    /// The values an answer is cached by.
    private struct Key: Hashable {
        var exptime: Double
        var binning: [Int]
        var size: [Int]
        var readout: String?
        var gain: String?
        var filter: String?
        var temperatureStep: Int?
    }

    /// ADU added after a subtraction (see ``QuickLookCalibration/pedestal``).
    static let pedestal: Float = 1000
    /// How long a catalog answer is used: a master made meanwhile is used from the next answer on.
    static let answerLifetime: Duration = .seconds(5)
    /// How long "catalog unavailable" is used before the catalog is asked again.
    static let unavailableLifetime: Duration = .seconds(5)
    /// How long the catalog is given to answer.
    static let catalogTimeout: Duration = .seconds(1)
    /// Frames whose file path is remembered (from their notices).
    static let pathLimit = 256

    private let catalog: RequestClient?
    private let dataRoot: String
    private let answers = Mutex<[Key: (plan: Plan, until: ContinuousClock.Instant)]>([:])
    private let masters = Mutex<[String: Master]>([:])
    private let paths = Mutex<(byFrame: [String: String], order: [String])>(([:], []))

    /// Creates the calibrator.
    /// - Parameters:
    ///   - catalog: `catalog.ctl`, or nil when it cannot be dialled.
    ///   - dataRoot: The data root (`data.root`), relative to the working directory or absolute.
    init(catalog: RequestClient?, dataRoot: String) {
        self.catalog = catalog
        self.dataRoot = dataRoot.hasPrefix("/") ? dataRoot : FileManager.default.currentDirectoryPath + "/" + dataRoot
    }

    /// Remembers the file of a frame announced by `camera.frame`.
    func noted(_ notice: FrameNotice) {
        guard let path = notice.path else { return }
        let key = "\(notice.exposureId)/\(notice.frame)"
        paths.withLock { paths in
            if paths.byFrame.updateValue(path, forKey: key) == nil { paths.order.append(key) }
            if paths.order.count > Self.pathLimit {
                for old in paths.order.prefix(paths.order.count - Self.pathLimit) { paths.byFrame[old] = nil }
                paths.order.removeFirst(paths.order.count - Self.pathLimit)
            }
        }
    }

    /// The masters for a frame of the ring, or why there are none.
    func plan(for metadata: FrameMetadata) async -> Plan {
        if metadata.preview { return Plan(reasons: ["uncalibrated: a preview frame has no saved file to match"]) }
        guard let path = paths.withLock({ $0.byFrame["\(metadata.exposureId)/\(metadata.frameNumber)"] }) else {
            return Plan(reasons: ["uncalibrated: the frame's file is unknown (its camera.frame notice did not arrive)"])
        }
        let header: [String: FITSValue]
        do throws(StorageError) {
            header = Dictionary(try FITSFile.readHeader(path: path).compactMap { card in
                FITSFile.value(fromCardText: card.value).map { (card.keyword, $0) }
            }, uniquingKeysWith: { first, _ in first })
        } catch {
            return Plan(reasons: ["uncalibrated: cannot read the frame's header: \(error.message)"])
        }
        func text(_ keyword: String) -> String? {
            if case .string(let value)? = header[keyword], !value.isEmpty { return value }
            return nil
        }
        var temperature: Double?
        switch header["CCD-TEMP"] {
        case .double(let value)?: temperature = value
        case .integer(let value)?: temperature = Double(value)
        default: temperature = nil
        }
        let traits = FrameTraits(exptime: metadata.exposureTime, xbinning: metadata.binningX, ybinning: metadata.binningY,
                                 readoutMode: text("READOUTM"), gain: text("GAIN"), filter: text("FILTER"),
                                 ccdTemp: temperature, width: metadata.width, height: metadata.height)
        let key = Key(exptime: metadata.exposureTime, binning: [metadata.binningX, metadata.binningY],
                      size: [metadata.width, metadata.height], readout: traits.readoutMode, gain: traits.gain,
                      filter: traits.filter, temperatureStep: temperature.map { Int(($0 * 2).rounded()) })
        let now = ContinuousClock.now
        if let cached = answers.withLock({ $0[key] }), cached.until > now { return cached.plan }
        let (plan, lifetime) = await ask(traits)
        answers.withLock { answers in
            answers = answers.filter { $0.value.until > now }
            answers[key] = (plan, now + lifetime)
        }
        return plan
    }

    /// Asks the catalog and loads the masters it names.
    private func ask(_ traits: FrameTraits) async -> (Plan, Duration) {
        guard let catalog else { return (Plan(reasons: ["uncalibrated: catalog unavailable"]), Self.unavailableLifetime) }
        let result: MatchResult
        do throws(BusError) {
            result = try await catalog.call(CalibrationMatchCommand.self, MatchRequest(traits: traits, kind: .all),
                                            timeout: Self.catalogTimeout)
        } catch {
            let reason = error.code.isNoAnswer ? "uncalibrated: catalog unavailable" : "uncalibrated: \(error.message)"
            return (Plan(reasons: [reason]), Self.unavailableLifetime)
        }
        var plan = Plan(reasons: [])
        for match in result.matches {
            guard let row = match.master else {
                plan.reasons.append(match.reason ?? "no master \(match.kind.rawValue)")
                continue
            }
            switch load(row.path) {
            case .success(let master):
                switch match.kind {
                case .bias: plan.bias = master
                case .dark: plan.dark = master
                case .flat: plan.flat = master
                }
            case .failure(let reason):
                plan.reasons.append(reason.message)
            }
        }
        return (plan, Self.answerLifetime)
    }

    /// A master by its path relative to the data root, read once and kept (the 8 most recent).
    private func load(_ path: String) -> Result<Master, StorageError> {
        if let master = masters.withLock({ $0[path] }) { return .success(master) }
        do throws(StorageError) {
            let image = try FITSFile.readFloat(path: dataRoot + "/" + path)
            let master = Master(path: path, width: image.width, height: image.height, pixels: image.pixels)
            masters.withLock { masters in
                if masters.count >= 8 { masters.removeAll() }
                masters[path] = master
            }
            return .success(master)
        } catch {
            return .failure(StorageError(message: "uncalibrated: cannot read master \(path): \(error.message)"))
        }
    }

    /// Writes `(pixels - subtracted) / flat + pedestal` (the pedestal only after a subtraction),
    /// rounded and clipped to 0...65535, into `output`.
    /// - Returns: what was applied, for the result.
    static func apply(_ plan: Plan, to pixels: UnsafeBufferPointer<UInt16>, width: Int, height: Int,
                      into output: UnsafeMutableBufferPointer<UInt16>) -> QuickLookCalibration {
        var reasons = plan.reasons
        func fits(_ master: Master?, _ kind: String) -> [Float]? {
            guard let master else { return nil }
            guard master.width == width, master.height == height, master.pixels.count == pixels.count else {
                reasons.append("uncalibrated: master \(kind) \(master.path) is \(master.width)x\(master.height), the frame \(width)x\(height)")
                return nil
            }
            return master.pixels
        }
        let subtract = fits(plan.subtracted, plan.dark != nil ? "dark" : "bias")
        let flat = fits(plan.flat, "flat")
        guard subtract != nil || flat != nil else { return QuickLookCalibration(applied: false, reasons: reasons) }
        let pedestal: Float = subtract == nil ? 0 : Self.pedestal
        for index in 0..<pixels.count {
            var value = Float(pixels[index])
            if let subtract { value -= subtract[index] }
            if let flat, flat[index] > 0.01 { value /= flat[index] }
            value = (value + pedestal).rounded()
            output[index] = value <= 0 ? 0 : value >= 65535 ? 65535 : UInt16(value)
        }
        return QuickLookCalibration(
            applied: subtract != nil || flat != nil, bias: subtract != nil && plan.dark == nil ? plan.bias?.path : nil,
            dark: subtract != nil ? plan.dark?.path : nil, flat: flat != nil ? plan.flat?.path : nil,
            pedestal: Double(pedestal), reasons: reasons)
    }
}
