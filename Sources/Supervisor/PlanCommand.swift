import ApertureConfig
import ApertureProtocol
import ArgumentParser
import Bus
import Foundation
import Yams

/// `aperture plan ...`: the plan queue of the running service (the sequencer, over catalog.ctl).
struct PlanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Submit observing plans (JSON or YAML), list the queue, pause, resume, cancel or move a plan.",
        subcommands: [Submit.self, List.self, Show.self, Pause.self, Resume.self, Cancel.self, Move.self, Calibrate.self])

    /// Reads a plan from a JSON or YAML file (`-` for standard input): the body of `POST /v1/plans`.
    static func document(at path: String) throws -> PlanDocument {
        let data: Data
        if path == "-" {
            data = FileHandle.standardInput.readDataToEndOfFile()
        } else {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the plan file \(path)")
            }
            data = contents
        }
        let text = String(decoding: data, as: UTF8.self)
        let trimmed = text.drop(while: { $0.isWhitespace })
        do {
            if trimmed.hasPrefix("{") {
                return try JSONDecoder().decode(PlanDocument.self, from: data)
            }
            return try YAMLDecoder().decode(PlanDocument.self, from: text)
        } catch let error as DecodingError {
            throw ValidationError("\(path): \(describe(error))")
        } catch {
            throw ValidationError("\(path): not a plan in JSON or YAML: \(error)")
        }
    }

    /// A decoding error naming the field, as the HTTP API names it (`steps[1].exposure.time`).
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            let text = keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
            return text.isEmpty ? "the plan" : text
        }
        switch error {
        case .typeMismatch(let type, let context): return "\(path(context.codingPath)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context.codingPath)): expected \(type), found null"
        case .keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): is required"
        case .dataCorrupted(let context): return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// One line per plan: id, state, place, frames, step and name.
    static func printTable(_ plans: [PlanRecord]) {
        print("ID              STATE      POS  FRAMES       STEP       NAME")
        for plan in plans {
            let place = plan.position.map(String.init) ?? "-"
            let frames = "\(plan.framesDone)/\(plan.framesTotal)"
            let step = plan.currentStep.map { "\($0)/\(plan.steps.count)" } ?? "-"
            print(plan.id.padding(toLength: 16, withPad: " ", startingAt: 0)
                + plan.state.rawValue.padding(toLength: 11, withPad: " ", startingAt: 0)
                + place.padding(toLength: 5, withPad: " ", startingAt: 0)
                + frames.padding(toLength: 13, withPad: " ", startingAt: 0)
                + step.padding(toLength: 11, withPad: " ", startingAt: 0) + plan.name
                + (plan.reason.map { "  (\($0))" } ?? ""))
        }
    }

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a plan (JSON or YAML file, - for standard input) and queue it; prints the plan.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The plan file.") var file: String
        @Flag(help: "Wait until the plan is over; exit 1 unless it is done.") var wait = false

        func run() async throws {
            let document = try PlanCommand.document(at: file)
            var plan = try await CatalogCommand.call(options, PlanSubmitCommand.self, document, timeout: .seconds(60))
            try CatalogCommand.printJSON(plan)
            guard wait else { return }
            while !plan.state.isFinal {
                try await Task.sleep(for: .seconds(1))
                plan = try await CatalogCommand.call(options, PlanGetCommand.self, .init(id: plan.id))
            }
            print("plan \(plan.id): \(plan.state.rawValue), \(plan.framesDone)/\(plan.framesTotal) frames\(plan.reason.map { " (\($0))" } ?? "")")
            if plan.state != .done { throw ExitCode(1) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The queue in order, then finished plans, newest first.")
        @OptionGroup var options: CommonOptions
        @Option(help: "Only plans in this state (queued, running, paused, done, failed, cancelled).") var state: String?
        @Option(help: "At most this many finished plans (default 50).") var limit: Int?
        @Flag(help: "Print JSON instead of a table.") var json = false

        func run() async throws {
            var arguments = PlanListCommand.Arguments(limit: limit)
            if let state {
                guard let known = PlanState(rawValue: state) else {
                    throw ValidationError("--state: '\(state)' is not one of \(PlanState.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                arguments.state = known
            }
            let plans = try await CatalogCommand.call(options, PlanListCommand.self, arguments).plans
            if json { try CatalogCommand.printJSON(plans) } else { PlanCommand.printTable(plans) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One plan with each step's progress (JSON).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The plan's id.") var id: String
        func run() async throws {
            try CatalogCommand.printJSON(try await CatalogCommand.call(options, PlanGetCommand.self, .init(id: id)))
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause a plan; its running exposure is aborted (the frame is taken again on resume).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The plan's id.") var id: String
        func run() async throws {
            PlanCommand.printTable([try await CatalogCommand.call(options, PlanPauseCommand.self, .init(id: id), timeout: .seconds(20))])
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Queue a paused or failed plan again; it goes on with the frames not yet saved.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The plan's id.") var id: String
        func run() async throws {
            PlanCommand.printTable([try await CatalogCommand.call(options, PlanResumeCommand.self, .init(id: id))])
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a plan; its running exposure is aborted.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The plan's id.") var id: String
        func run() async throws {
            PlanCommand.printTable([try await CatalogCommand.call(options, PlanCancelCommand.self, .init(id: id), timeout: .seconds(20))])
        }
    }

    struct Calibrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Queue the calibration set of a night's or a plan's object frames: biases, darks and flats that match them.")
        @OptionGroup var options: CommonOptions
        @Option(help: "The observing night, YYYY-MM-DD.") var night: String?
        @Option(help: "A plan's id.") var plan: String?
        @Option(help: "Biases per binning, readout mode and gain (default 10).") var biases: Int?
        @Option(help: "Darks per exposure time, binning, readout mode and gain (default 10).") var darks: Int?
        @Option(help: "Flats per filter, binning, readout mode and gain (default 10).") var flats: Int?
        @Option(name: .customLong("flat-time"), help: "The flats' exposure time, seconds (default 1).") var flatTime: Double?

        func run() async throws {
            let request = CalibrationSetRequest(night: night, plan: plan, biases: biases, darks: darks, flats: flats, flatTime: flatTime)
            do {
                try request.validate()
            } catch {
                throw ValidationError("--\(error.field?.replacingOccurrences(of: "_", with: "-") ?? "night"): \(error.message)")
            }
            try CatalogCommand.printJSON(try await CatalogCommand.call(options, CalibrationSetCommand.self, request, timeout: .seconds(60)))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a plan at another place in the queue (0 is the head).")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The plan's id.") var id: String
        @Argument(help: "The new place, from 0.") var position: Int
        func run() async throws {
            PlanCommand.printTable([try await CatalogCommand.call(options, PlanMoveCommand.self, .init(id: id, position: position))])
        }
    }
}
