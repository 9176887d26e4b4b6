import ApertureConfig
import ArgumentParser

/// `aperture config`: the configuration keys, and the configuration in effect.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "The configuration: every key, or the values in effect.",
        subcommands: [Keys.self, Show.self])

    /// `aperture config keys`: the documented key list (docs/configuration.md holds the same table).
    struct Keys: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every key with its environment variable, default, allowed values and meaning (Markdown).")

        func run() {
            print(ApertureConfiguration.keyListMarkdown(), terminator: "")
        }
    }

    /// `aperture config show`: each key's value after the file and the environment, checked.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the configuration (file, then environment) and print every key's value; exit 78 if invalid.")

        @OptionGroup var options: CommonOptions

        func run() throws {
            let configuration = try options.loadConfiguration()
            for key in ApertureConfiguration.keys {
                guard var value = key.value(in: configuration) else { continue }
                if key.key == "gateway.token", !value.isEmpty { value = "(set, \(value.count) characters)" }
                print("\(key.key) = \(value)")
            }
        }
    }
}
