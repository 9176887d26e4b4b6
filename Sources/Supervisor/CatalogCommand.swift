import ApertureConfig
import ApertureProtocol
import ArgumentParser
import Bus
import Foundation

/// `aperture catalog ...`: the frame catalog of the running service, over catalog.ctl.
struct CatalogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "catalog",
        abstract: "Query the frame catalog; reconcile, rebuild or verify it against the data folders.",
        subcommands: [Query.self, Summary.self, Reconcile.self, Rebuild.self, Verify.self, CatalogStatusCommandLine.self])

    /// Calls a catalog.ctl command of the configured runtime directory.
    static func call<C: BusCommand>(_ options: CommonOptions, _ command: C.Type, _ arguments: C.Arguments,
                                    timeout: Duration = .seconds(10)) async throws -> C.Result {
        let configuration = try options.loadConfiguration()
        let runtime = SupervisorConnection.runtime(configuration)
        let client = try RequestClient(dialing: runtime.endpoint(EndpointName.catalogControl))
        do {
            return try await client.call(command, arguments, timeout: timeout)
        } catch {
            throw CameraCommand.fail(error, configuration)
        }
    }

    /// Prints a value as sorted, indented JSON.
    static func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    /// The filters of /v1/frames, as options with the same names.
    struct Filters: ParsableArguments {
        @Option(help: "DATE-OBS at or after this (UTC: YYYY-MM-DD[THH:MM[:SS]]).") var start: String?
        @Option(help: "DATE-OBS before this (UTC).") var end: String?
        @Option(help: "The observing night, YYYY-MM-DD.") var night: String?
        @Option(help: "object (light), bias, dark or flat.") var imagetyp: String?
        @Option(help: "The filter's name (case-insensitive).") var filter: String?
        @Option(help: "A part of OBJECT (case-insensitive).") var object: String?
        @Option(help: "An exposure id.") var exposure: String?
        @Option(name: .customLong("exptime-min"), help: "EXPTIME at least this (s).") var exptimeMin: String?
        @Option(name: .customLong("exptime-max"), help: "EXPTIME at most this (s).") var exptimeMax: String?
        @Option(name: .customLong("temp-min"), help: "CCD-TEMP at least this (C).") var tempMin: String?
        @Option(name: .customLong("temp-max"), help: "CCD-TEMP at most this (C).") var tempMax: String?
        @Option(name: .customLong("fwhm-max"), help: "Median FWHM at most this (pixels).") var fwhmMax: String?
        @Option(help: "A plan's id.") var plan: String?
        @Option(help: "The facility site (SITE, site.name), exactly.") var site: String?
        @Option(help: "The facility camera (CAMERA, camera.name), exactly.") var camera: String?
        @Option(help: "true: only rows whose file is gone; false: only present files.") var missing: String?

        /// The filters as /v1/frames's parameters.
        var parameters: [(String, String)] {
            let all: [(String, String?)] = [
                ("start", start), ("end", end), ("night", night), ("imagetyp", imagetyp), ("filter", filter),
                ("object", object), ("exposure", exposure), ("exptime_min", exptimeMin), ("exptime_max", exptimeMax),
                ("temp_min", tempMin), ("temp_max", tempMax), ("fwhm_max", fwhmMax), ("plan", plan), ("site", site),
                ("camera", camera), ("missing", missing),
            ]
            return all.compactMap { name, value in value.map { (name, $0) } }
        }

        /// The query, checked by the same rule as /v1/frames.
        func query(_ extra: [(String, String)] = []) throws -> FrameQuery {
            do {
                return try FrameQuery(parameters: parameters + extra)
            } catch {
                throw ValidationError("--\(error.field?.replacingOccurrences(of: "_", with: "-") ?? "?"): \(error.message)")
            }
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the frames that match the filters (a table, JSON lines or CSV).")

        @OptionGroup var options: CommonOptions
        @OptionGroup var filters: Filters
        @Option(help: "date_obs (default), -date_obs, fwhm or -fwhm.") var sort: String?
        @Option(help: "At most this many rows (all of them when not given).") var limit: Int?
        @Option(help: "table (default), json (one row per line) or csv.") var format: String = "table"

        func run() async throws {
            guard ["table", "json", "csv"].contains(format) else {
                throw ValidationError("--format must be table, json or csv (got '\(format)')")
            }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1 (got \(limit))") }
            var extra: [(String, String)] = []
            if let sort { extra.append(("sort", sort)) }
            extra.append(("limit", String(min(limit ?? FrameQuery.maximumLimit, FrameQuery.maximumLimit))))
            var query = try filters.query(extra)
            var printed = 0
            if format == "csv" { print(FrameRow.csvLine(FrameRow.csvColumns)) }
            if format == "table" {
                print("ID      DATE-OBS                 EXPTIME  TYPE         FILTER  OBJECT           FWHM   PATH")
            }
            while true {
                let page = try await CatalogCommand.call(options, CatalogFramesCommand.self, query)
                for row in page.frames where limit.map({ printed < $0 }) ?? true {
                    printed += 1
                    switch format {
                    case "json":
                        let encoder = JSONEncoder()
                        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                        print(String(decoding: try encoder.encode(row), as: UTF8.self))
                    case "csv":
                        print(FrameRow.csvLine(row.csvValues))
                    default:
                        print(Self.tableLine(row))
                    }
                }
                guard let next = page.next, page.frames.count == query.limit, limit.map({ printed < $0 }) ?? true else { break }
                query.cursor = next
            }
        }

        static func tableLine(_ row: FrameRow) -> String {
            func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
            return [
                pad(String(row.id), 7), pad(row.dateObs ?? "-", 24), pad(row.exptime.map { String(format: "%.3f", $0) } ?? "-", 8),
                pad(row.imagetyp ?? "-", 12), pad(row.filter ?? "-", 7), pad(row.object ?? "-", 16),
                pad(row.fwhm.map { String(format: "%.2f", $0) } ?? "-", 6), row.path + (row.missing ? " (missing)" : ""),
            ].joined(separator: " ")
        }
    }

    struct Summary: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Frames and total exposure per night, filter and image type.")

        @OptionGroup var options: CommonOptions
        @OptionGroup var filters: Filters
        @Flag(help: "Print the JSON reply.") var json = false

        func run() async throws {
            let summary = try await CatalogCommand.call(options, CatalogSummaryCommand.self, try filters.query())
            if json { return try CatalogCommand.printJSON(summary) }
            for night in summary.nights {
                print("\(night.night)  \(night.frames) frame(s), \(String(format: "%.1f", night.exposure)) s")
                for group in night.groups {
                    print("    \((group.imagetyp ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0)) "
                          + "\((group.filter ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0)) "
                          + "\(group.frames) frame(s), \(String(format: "%.1f", group.exposure)) s")
                }
            }
            print("total  \(summary.frames) frame(s), \(String(format: "%.1f", summary.exposure)) s")
        }
    }

    struct Reconcile: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Compare the catalog with the data folders now: add files it lacks, mark gone files missing.")
        @OptionGroup var options: CommonOptions
        func run() async throws {
            try CatalogCommand.printJSON(try await CatalogCommand.call(options, CatalogReconcileCommand.self, NoArguments(),
                                                                      timeout: .seconds(3600)))
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rewrite every row from its FITS file (header and SHA-256); ids and quality figures are kept.")
        @OptionGroup var options: CommonOptions
        func run() async throws {
            try CatalogCommand.printJSON(try await CatalogCommand.call(options, CatalogRebuildCommand.self, NoArguments(),
                                                                      timeout: .seconds(6 * 3600)))
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-hash every file; report those whose bytes changed (exit 1) or that are gone.")
        @OptionGroup var options: CommonOptions
        @Flag(help: "Print the JSON report.") var json = false
        func run() async throws {
            let report = try await CatalogCommand.call(options, CatalogVerifyCommand.self, NoArguments(), timeout: .seconds(6 * 3600))
            if json {
                try CatalogCommand.printJSON(report)
            } else {
                print("checked \(report.checked) file(s), \(report.bytes) bytes in \(String(format: "%.1f", report.seconds)) s")
                for entry in report.changed {
                    print("CHANGED \(entry.path): SHA-256 \(entry.actual) (\(entry.actualBytes) bytes), "
                          + "catalogued \(entry.expected) (\(entry.expectedBytes) bytes)")
                }
                for path in report.missing { print("MISSING \(path)") }
            }
            if !report.changed.isEmpty { throw ExitCode(1) }
        }
    }

    struct CatalogStatusCommandLine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "The catalog's counts.")
        @OptionGroup var options: CommonOptions
        func run() async throws {
            try CatalogCommand.printJSON(try await CatalogCommand.call(options, CatalogStatusCommand.self, NoArguments()))
        }
    }
}
