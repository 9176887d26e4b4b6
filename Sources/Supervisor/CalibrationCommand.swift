import ApertureProtocol
import ArgumentParser
import Bus
import Foundation

/// `aperture calibration ...`: master frames and the calibration library, over catalog.ctl.
struct CalibrationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibration",
        abstract: "Combine master bias, dark and flat frames; find the masters that calibrate a frame.",
        subcommands: [Combine.self, Match.self])

    struct Combine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Combine catalogued frames (by id, or the frames the filters select) into a master; print its row.",
            discussion: "Examples:\n  aperture calibration combine --kind bias --method sigma_clip 11 12 13 14 15\n"
                + "  aperture calibration combine --kind dark --night 2026-12-05 --imagetyp dark --exptime-min 30 --exptime-max 30")

        @OptionGroup var options: CommonOptions
        @Option(help: "bias, dark or flat.") var kind: String
        @Option(help: "median (default) or sigma_clip.") var method: String = "median"
        @Option(name: .customLong("kappa-low"), help: "sigma_clip: rejection below the median, in standard deviations (3).")
        var kappaLow: Double?
        @Option(name: .customLong("kappa-high"), help: "sigma_clip: rejection above the median (3).") var kappaHigh: Double?
        @Option(help: "sigma_clip: the most clipping rounds (5).") var iterations: Int?
        @OptionGroup var filters: CatalogCommand.Filters
        @Flag(help: "Print the JSON reply.") var json = false
        @Argument(help: "The inputs' catalog ids (or use the filters).") var ids: [Int64] = []

        func run() async throws {
            guard let kind = MasterKind(rawValue: kind) else {
                throw ValidationError("--kind must be bias, dark or flat (got '\(kind)')")
            }
            let query = filters.parameters.isEmpty ? nil : try filters.query()
            let request = CombineRequest(kind: kind, method: method, frames: ids.isEmpty ? nil : ids, query: query,
                                         kappaLow: kappaLow, kappaHigh: kappaHigh, iterations: iterations)
            do {
                try request.validate()
            } catch {
                let option = error.field.map { $0 == "frames" ? "ids" : "--" + $0.replacingOccurrences(of: "_", with: "-") } ?? "?"
                throw ValidationError("\(option): \(error.message)")
            }
            let result = try await CatalogCommand.call(options, CalibrationCombineCommand.self, request, timeout: .seconds(3600))
            if json { return try CatalogCommand.printJSON(result) }
            print("\(result.master.path) (id \(result.master.id)): \(result.master.imagetyp ?? "?") of \(result.inputs.count) frames "
                  + "by \(method) in \(String(format: "%.1f", result.seconds)) s")
        }
    }

    struct Match: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The master dark (bias, flat) for a frame, or why there is none; exit 1 when a kind has none.")

        @OptionGroup var options: CommonOptions
        @Option(help: "The frame's catalog id.") var frame: Int64?
        @Option(help: "The frame's path relative to the data root.") var path: String?
        @Option(help: "dark (default), bias, flat or all.") var kind: String = "dark"
        @Option(help: "Degrees a master dark's CCD-TEMP may differ from the frame's (1.0).") var tolerance: Double = 1.0
        @Flag(help: "Print the JSON reply.") var json = false

        func run() async throws {
            guard let kind = MatchKind(rawValue: kind) else {
                throw ValidationError("--kind must be dark, bias, flat or all (got '\(kind)')")
            }
            let request = MatchRequest(frame: frame, path: path, kind: kind, tolerance: tolerance)
            do {
                try request.validate()
            } catch {
                throw ValidationError("--\(error.field ?? "frame"): \(error.message)")
            }
            let result = try await CatalogCommand.call(options, CalibrationMatchCommand.self, request)
            if json {
                try CatalogCommand.printJSON(result)
            } else {
                for match in result.matches {
                    if let master = match.master {
                        print("\(match.kind.rawValue): \(master.path) (id \(master.id), CCD-TEMP "
                              + "\(master.ccdTemp.map { String($0) } ?? "-"), DATE-OBS \(master.dateObs ?? "-"))")
                    } else {
                        print("\(match.kind.rawValue): none: \(match.reason ?? "")")
                    }
                }
            }
            if result.matches.contains(where: { $0.master == nil }) { throw ExitCode(1) }
        }
    }
}
