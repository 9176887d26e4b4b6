import ApertureConfig
import ApertureProtocol

extension NATSOptions {
    /// The options the `nats.*` keys give.
    /// - Parameters:
    ///   - configuration: the `nats.*` keys.
    ///   - name: the connection's name as the server shows it (`aperture-catalog SITE/CAMERA`).
    public init(_ configuration: ApertureConfiguration.NATS, name: String) {
        self.init(url: configuration.url, name: name)
        credentialsFile = configuration.credentials.isEmpty ? nil : configuration.credentials
        tlsCertificateAuthorities = configuration.tlsCA.isEmpty ? nil : configuration.tlsCA
        tlsCertificate = configuration.tlsCertificate.isEmpty ? nil : configuration.tlsCertificate
        tlsKey = configuration.tlsKey.isEmpty ? nil : configuration.tlsKey
    }
}

extension StreamSettings {
    /// The stream of frames as the `nats.*` keys set it: on disk, work-queue retention (a message
    /// goes once the archive acknowledged it: the archive's files and PostgreSQL are the store, the
    /// stream is the way there), publishes refused rather than old messages discarded when full.
    /// - Parameter configuration: the `nats.*` keys.
    public static func frames(_ configuration: ApertureConfiguration.NATS) -> StreamSettings {
        var settings = StreamSettings(name: configuration.stream, subjects: [FrameExport.streamSubjects])
        settings.retention = .workQueue
        settings.replicas = configuration.streamReplicas
        settings.maximumBytes = configuration.streamMaximumBytes == 0 ? nil : Int64(configuration.streamMaximumBytes)
        settings.maximumAge = configuration.streamMaximumAge == .zero ? nil : configuration.streamMaximumAge
        settings.maximumMessageBytes = Int32(FrameExport.maximumChunkBytes + 64 * 1024)
        settings.duplicateWindow = configuration.duplicateWindow
        return settings
    }
}
