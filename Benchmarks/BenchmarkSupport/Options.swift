import ArgumentParser

/// `--width W --height H`: the frame size of the benchmarks that make frames (2048x2048 unless
/// told). A command takes it with `@OptionGroup var size: FrameSize`.
public struct FrameSize: ParsableArguments, Sendable {
    @Option(help: "Frame width in pixels.")
    public var width = 2048
    @Option(help: "Frame height in pixels.")
    public var height = 2048

    public init() {}

    /// Pixels in one frame.
    public var pixels: Int { width * height }

    public func validate() throws {
        guard width > 0, height > 0 else { throw ValidationError("--width and --height must be positive integers") }
    }
}
