import ApertureConfig
import ChildRuntime
import Foundation
import Testing

/// What every child does first: its options, then the configuration file and the environment,
/// then `--runtime-dir`. A mistake stops the start with a message naming it.
@Suite struct StartUpTests {
    /// An environment without the test runner's `APERTURE_*` variables.
    let environment = ["PATH": "/usr/bin:/bin"]

    @Test func optionsTakeBothForms() throws {
        let spaced = try ChildOptions.parse(["--config", "/etc/aperture.conf", "--runtime-dir", "/run/aperture"])
        #expect(spaced.configPath == "/etc/aperture.conf")
        #expect(spaced.runtimeDirectory == "/run/aperture")
        let joined = try ChildOptions.parse(["--config=/etc/aperture.conf", "--runtime-dir=/run/aperture"])
        #expect(joined == spaced)
        let none = try ChildOptions.parse([])
        #expect(none.configPath == nil && none.runtimeDirectory == nil)
    }

    @Test func unknownOptionIsNamedWithTheKnownOnes() {
        let error = #expect(throws: ConfigurationError.self) {
            try ChildProcessRuntime.loadConfiguration(arguments: ["--verbose"], environment: environment)
        }
        #expect(error?.message.contains("'--verbose'") == true)
        #expect(error?.message.contains("--config PATH, --runtime-dir PATH") == true)
    }

    @Test func optionWithoutItsValueIsNamed() {
        let error = #expect(throws: ConfigurationError.self) {
            try ChildProcessRuntime.loadConfiguration(arguments: ["--runtime-dir", "/tmp/x", "--config"],
                                                      environment: environment)
        }
        #expect(error?.message == "option --config needs a value")
    }

    @Test func missingConfigurationFileIsNamed() {
        let path = "/nonexistent/aperture-\(getpid()).conf"
        let error = #expect(throws: ConfigurationError.self) {
            try ChildProcessRuntime.loadConfiguration(arguments: ["--config", path], environment: environment)
        }
        #expect(error?.message.contains(path) == true)
        #expect(error?.message.contains("no such file") == true)
    }

    @Test func unknownKeyInTheFileNamesFileLineAndKey() throws {
        let file = try ConfigurationFile("log.level = info\nlog.levle = debug\n")
        defer { file.remove() }
        let error = #expect(throws: ConfigurationError.self) {
            try ChildProcessRuntime.loadConfiguration(arguments: ["--config", file.path], environment: environment)
        }
        #expect(error?.message.contains("\(file.path):2") == true)
        #expect(error?.message.contains("log.levle") == true)
    }

    @Test func badValueInTheEnvironmentNamesTheVariable() {
        var environment = environment
        environment["APERTURE_LOG_LEVEL"] = "loud"
        let error = #expect(throws: ConfigurationError.self) {
            try ChildProcessRuntime.loadConfiguration(arguments: [], environment: environment)
        }
        #expect(error?.message.contains("APERTURE_LOG_LEVEL") == true)
        #expect(error?.message.contains("loud") == true)
    }

    @Test func runtimeDirOptionWinsOverEnvironmentWhichWinsOverTheFile() throws {
        let file = try ConfigurationFile("runtime.directory = /tmp/from-file\nlog.level = debug\n")
        defer { file.remove() }
        var environment = environment
        let fromFile = try ChildProcessRuntime.loadConfiguration(arguments: ["--config", file.path], environment: environment)
        #expect(fromFile.storage.runtimeDirectory == "/tmp/from-file")
        #expect(fromFile.log.level == .debug)
        environment["APERTURE_RUNTIME_DIRECTORY"] = "/tmp/from-environment"
        let fromEnvironment = try ChildProcessRuntime.loadConfiguration(arguments: ["--config", file.path],
                                                                        environment: environment)
        #expect(fromEnvironment.storage.runtimeDirectory == "/tmp/from-environment")
        let fromOption = try ChildProcessRuntime.loadConfiguration(
            arguments: ["--config", file.path, "--runtime-dir", "/tmp/from-option"], environment: environment)
        #expect(fromOption.storage.runtimeDirectory == "/tmp/from-option")
    }

    @Test func runStopsWith78BeforeBuildingOnABadOption() async {
        let status = await ChildProcessRuntime.run(process: "aperture-test", controlSocket: "test.ctl",
                                                   arguments: ["--no-such-option"]) { _, _ in
            Issue.record("the process's services were built despite a bad option")
            return []
        }
        #expect(status == 78)
    }
}

/// A configuration file in /tmp, removed by ``remove()``.
struct ConfigurationFile {
    let path = "/tmp/aperture-child-runtime-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).conf"

    init(_ text: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
