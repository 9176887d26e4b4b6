import Foundation

/// The address of a bus socket: `ipc:///path/name` or `tcp://host:port`.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// The NNG URL.
    public let url: String

    /// Creates an endpoint from an NNG URL.
    /// - Parameter url: `ipc://` followed by an absolute path, or `tcp://host:port`.
    /// - Throws: ``BusError`` `invalid_argument` for any other scheme.
    public init(url: String) throws(BusError) {
        guard url.hasPrefix("ipc://") || url.hasPrefix("tcp://") else {
            throw BusError(.invalidArgument, "endpoint '\(url)' must start with ipc:// or tcp://")
        }
        self.url = url
    }

    /// An endpoint for a unix-domain socket.
    /// - Parameter path: the socket file's path; a relative path is made absolute.
    public static func ipc(_ path: String) -> Endpoint {
        let absolute = path.hasPrefix("/")
            ? path
            : FileManager.default.currentDirectoryPath + "/" + path
        return Endpoint(unchecked: "ipc://" + absolute)
    }

    /// A TCP endpoint.
    /// - Parameters:
    ///   - host: a host name or address (IPv6 addresses without brackets).
    ///   - port: the port; 0 asks the system for one when listening.
    public static func tcp(host: String, port: Int) -> Endpoint {
        let h = host.contains(":") ? "[\(host)]" : host
        return Endpoint(unchecked: "tcp://\(h):\(port)")
    }

    private init(unchecked url: String) { self.url = url }

    /// The socket file's path for an ipc endpoint, nil for tcp.
    public var ipcPath: String? {
        url.hasPrefix("ipc://") ? String(url.dropFirst("ipc://".count)) : nil
    }

    /// The URL.
    public var description: String { url }
}

/// The well-known endpoint names of DESIGN.md, each a file in the runtime directory.
public enum EndpointName {
    /// The supervisor's control socket (req/rep): `ping`, `status`, `stop`, `restart`.
    public static let supervisorControl = "supervisor.ctl"
    /// The supervisor's events (pub/sub): the `child.*` lifecycle topics.
    public static let supervisorEvents = "supervisor.events"
    /// The camera process's control socket (req/rep): `status`, `expose`, `abort`, `cool`, `filter`, ...
    public static let cameraControl = "camera.ctl"
    /// The camera process's events (pub/sub): the `camera.*` topics.
    public static let cameraEvents = "camera.events"
    /// The frame processor's control socket (req/rep): psen's `start`, `stop`, ROIs, `statistics`, `results`, ...
    public static let processorControl = "processor.ctl"
    /// The frame processor's events (pub/sub): `processor.result`.
    public static let processorEvents = "processor.events"
    /// The gateway's control socket (req/rep): `ping`, `status`.
    public static let gatewayControl = "gateway.ctl"
    /// The frame catalog's control socket (req/rep): `frames`, `frame`, `summary`, `reconcile`, `rebuild`, `verify`, `status`,
    /// and the plan queue's `plan.*`.
    public static let catalogControl = "catalog.ctl"
    /// The catalog process's events (pub/sub): `catalog.plan`.
    public static let catalogEvents = "catalog.events"
    /// The facility archive's control socket (req/rep): `ping` (aperture-archive, `aperture run --role archive`).
    public static let archiveControl = "archive.ctl"
}

/// The directory holding the bus's ipc sockets: `$RUNTIME_DIRECTORY` under systemd, `./run`
/// by default. It is created mode 0700 so that only the service's user can reach the sockets.
public struct RuntimeDirectory: Sendable, Hashable {
    /// The absolute path.
    public let path: String

    /// Uses an existing directory without checking or changing it (children receive the
    /// directory their supervisor prepared).
    /// - Parameter path: the directory; a relative path is made absolute.
    public init(existing path: String) {
        self.path = path.hasPrefix("/")
            ? path
            : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Creates the directory (and its parents) if needed and makes it mode 0700.
    /// - Parameter path: the directory; a relative path is made absolute.
    /// - Throws: ``BusError`` `invalid_argument` naming the path and the system's reason when
    ///   it cannot be created, is not a directory, or belongs to another user.
    public static func prepare(_ path: String) throws(BusError) -> RuntimeDirectory {
        let dir = RuntimeDirectory(existing: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw BusError(.invalidArgument, "runtime directory \(dir.path) exists and is not a directory")
            }
        } else {
            // Create each missing component, so that the error names the one that failed.
            var partial = ""
            for component in dir.path.split(separator: "/") {
                partial += "/" + component
                if mkdir(partial, 0o700) != 0 && errno != EEXIST {
                    throw BusError(.invalidArgument,
                        "cannot create runtime directory \(dir.path): \(partial): \(String(cString: strerror(errno)))")
                }
            }
        }
        var info = stat()
        guard stat(dir.path, &info) == 0 else {
            throw BusError(.invalidArgument, "cannot inspect runtime directory \(dir.path): \(String(cString: strerror(errno)))")
        }
        guard info.st_uid == geteuid() else {
            throw BusError(.invalidArgument, "runtime directory \(dir.path) belongs to uid \(info.st_uid), not to this user (uid \(geteuid()))")
        }
        if info.st_mode & 0o777 != 0o700, chmod(dir.path, 0o700) != 0 {
            throw BusError(.invalidArgument, "cannot make runtime directory \(dir.path) mode 0700: \(String(cString: strerror(errno)))")
        }
        guard access(dir.path, W_OK | X_OK) == 0 else {
            throw BusError(.invalidArgument, "runtime directory \(dir.path) is not writable: \(String(cString: strerror(errno)))")
        }
        return dir
    }

    /// The ipc endpoint of a socket named `name` in this directory.
    /// - Parameter name: a file name such as ``EndpointName/cameraControl``.
    public func endpoint(_ name: String) -> Endpoint {
        .ipc(path + "/" + name)
    }
}
