// swift-tools-version: 6.1
import PackageDescription

/// One settings list for every Swift target (see STYLE.md, point 3).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What every benchmark executable uses besides its subject: the shared parts and argument parsing.
let benchmarkSupport: [Target.Dependency] = [
    "BenchmarkSupport", .product(name: "ArgumentParser", package: "swift-argument-parser"),
]

let package = Package(
    name: "aperture",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aperture", targets: ["Supervisor"]),
        .executable(name: "aperture-camera", targets: ["CameraProc"]),
        .executable(name: "aperture-processor", targets: ["ProcessorProc"]),
        .executable(name: "aperture-gateway", targets: ["GatewayProc"]),
        .executable(name: "aperture-catalog", targets: ["CatalogProc"]),
        .executable(name: "aperture-archive", targets: ["ArchiveProc"]),
        .executable(name: "aperture-bench-archive", targets: ["ArchiveBenchmark"]),
        .executable(name: "aperture-bench-bus", targets: ["BusBenchmark"]),
        .executable(name: "aperture-bench-fits", targets: ["FrameSaveBenchmark"]),
        .executable(name: "aperture-bench-compress", targets: ["CompressionBenchmark"]),
        .executable(name: "aperture-bench-camera", targets: ["CameraBenchmark"]),
        .executable(name: "aperture-bench-supervisor", targets: ["SupervisorBenchmark"]),
        .executable(name: "aperture-bench-processor", targets: ["ProcessorBenchmark"]),
        .executable(name: "aperture-bench-ring", targets: ["FrameRingBenchmark"]),
        .executable(name: "aperture-ring-peer", targets: ["FrameRingPeer"]),
        .executable(name: "aperture-bench-catalog", targets: ["CatalogBenchmark"]),
        .executable(name: "aperture-bench-masters", targets: ["MasterBenchmark"]),
        .executable(name: "aperture-bench-jetstream", targets: ["ExportBenchmark"]),
        .library(name: "Bus", targets: ["Bus"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
    ],
    targets: [
        // MARK: C libraries, each behind one door.
        .systemLibrary(
            name: "CNNG",
            providers: [.apt(["libnng-dev"])]
        ),
        .systemLibrary(
            name: "CNATS",
            pkgConfig: "libnats",
            providers: [.apt(["libnats-dev"])]
        ),
        .systemLibrary(
            name: "CFITSIO",
            pkgConfig: "cfitsio",
            providers: [.apt(["libcfitsio-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .target(
            name: "CProcessSupport",
            cSettings: [.define("_GNU_SOURCE")]
        ),
        .target(name: "CFrameRing"),
        .systemLibrary(
            name: "CZlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // MARK: Libraries.
        .target(
            name: "Bus",
            dependencies: [
                "CNNG", "CFrameRing",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // Every type that crosses a process boundary: the camera's, the processor's and the
        // supervisor's commands, results and events. Bus and the analysis value types only.
        .target(
            name: "ApertureProtocol",
            dependencies: ["Bus", "FrameAnalysis"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CameraCore",
            dependencies: [
                "Bus", "ApertureProtocol",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FITSStorage",
            dependencies: ["CFITSIO"],
            swiftSettings: swiftSettings
        ),
        // The configuration; ApertureProtocol for the rules of values that cross a process
        // boundary (FacilityName: site.name, camera.name).
        .target(
            name: "ApertureConfig",
            dependencies: ["ApertureProtocol"],
            swiftSettings: swiftSettings
        ),
        .target(name: "FrameAnalysis", swiftSettings: swiftSettings),
        .target(
            name: "ApertureLogging",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ProcessSupport",
            dependencies: [
                "CProcessSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ChildRuntime",
            dependencies: [
                "Bus", "ApertureConfig", "ApertureLogging", "ProcessSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Supervision",
            dependencies: [
                "Bus", "ApertureProtocol", "ApertureConfig", "ApertureLogging", "ProcessSupport", "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CameraService",
            dependencies: [
                "Bus", "ApertureProtocol", "ChildRuntime", "ApertureConfig", "CameraCore", "FITSStorage",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "ProcessorService",
            dependencies: [
                "Bus", "ApertureProtocol", "ChildRuntime", "ApertureConfig", "FrameAnalysis", "FITSStorage", "ProcessSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "GatewayService",
            dependencies: [
                "Bus", "ApertureProtocol", "ChildRuntime", "ApertureConfig", "FITSStorage", "CZlib",
                .product(name: "Metrics", package: "swift-metrics"),
                // SHA-1 of the Alpaca devices' name-based UniqueIDs (RFC 9562 version 5).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The OpenAPI document and the dashboard's files, compiled in as byte arrays
            // (`PackageResources.<file_name>`): nothing to install beside the executable.
            resources: [.embedInCode("Resources")],
            swiftSettings: swiftSettings
        ),

        // Master calibration frames and the calibration library's rule (issue 15): no bus, no process.
        .target(
            name: "Calibration",
            dependencies: ["ApertureProtocol", "Bus", "FITSStorage", "FrameAnalysis"],
            swiftSettings: swiftSettings
        ),

        // The frame catalog: the only writer of the catalog database (SQLite through GRDB).
        // The facility's transport (NATS, JetStream): the one door to CNATS.
        .target(
            name: "FacilityBus",
            dependencies: ["CNATS", "ApertureConfig", "ApertureProtocol"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "CatalogService",
            dependencies: [
                "Bus", "ApertureProtocol", "ChildRuntime", "ApertureConfig", "FITSStorage", "FrameAnalysis", "Calibration",
                "FacilityBus",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),

        // The facility archive (issue 16, docs/archive.md): ingests the export stream into the
        // central data root and PostgreSQL, serves /v1/frames across every site and camera.
        .target(
            name: "ArchiveService",
            dependencies: [
                "Bus", "ApertureProtocol", "ChildRuntime", "ApertureConfig", "FacilityBus",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.embedInCode("Resources")],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables: argument parsing and wiring only.
        .executableTarget(
            name: "Supervisor",
            dependencies: [
                "Supervision", "ApertureConfig", "ApertureLogging", "Bus", "ApertureProtocol", "ProcessSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CameraProc",
            dependencies: ["CameraService", "ChildRuntime"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ProcessorProc",
            dependencies: ["ProcessorService", "ChildRuntime"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "GatewayProc",
            dependencies: ["GatewayService", "ChildRuntime"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CatalogProc",
            dependencies: ["CatalogService", "ChildRuntime"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ArchiveProc",
            dependencies: ["ArchiveService", "ChildRuntime"],
            swiftSettings: swiftSettings
        ),
        // MARK: Benchmarks (docs/performance.md); their shared parts in BenchmarkSupport.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/BenchmarkSupport",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "BusBenchmark",
            dependencies: ["Bus", "CNNG", .product(name: "Logging", package: "swift-log")] + benchmarkSupport,
            path: "Benchmarks/BusBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SupervisorBenchmark",
            dependencies: ["Bus", "ApertureProtocol"] + benchmarkSupport,
            path: "Benchmarks/SupervisorBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CameraBenchmark",
            dependencies: ["Bus", "ApertureProtocol"] + benchmarkSupport,
            path: "Benchmarks/CameraBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FrameRingPeer",
            dependencies: ["Bus", "CNNG"] + benchmarkSupport,
            path: "Benchmarks/FrameRingPeer",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FrameRingBenchmark",
            dependencies: ["Bus", "CNNG"] + benchmarkSupport,
            path: "Benchmarks/FrameRingBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ProcessorBenchmark",
            dependencies: ["FrameAnalysis", "CameraCore", "ApertureProtocol"] + benchmarkSupport,
            path: "Benchmarks/ProcessorBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "ExportBenchmark",
            dependencies: ["CNATS"] + benchmarkSupport,
            path: "Benchmarks/ExportBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CatalogBenchmark",
            dependencies: ["CatalogService", "ApertureProtocol", "Bus", "FITSStorage", .product(name: "Logging", package: "swift-log")]
                + benchmarkSupport,
            path: "Benchmarks/CatalogBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "FrameSaveBenchmark",
            dependencies: ["FITSStorage"] + benchmarkSupport,
            path: "Benchmarks/FrameSaveBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "CompressionBenchmark",
            dependencies: ["FITSStorage", "CameraCore", "ApertureProtocol"] + benchmarkSupport,
            path: "Benchmarks/CompressionBenchmark",
            swiftSettings: swiftSettings
        ),

        .executableTarget(
            name: "ArchiveBenchmark",
            dependencies: ["ArchiveTestSupport", "ApertureProtocol", "ApertureConfig", "FacilityBus"] + benchmarkSupport,
            path: "Benchmarks/ArchiveBenchmark",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "MasterBenchmark",
            dependencies: ["Calibration", "CameraCore", "ApertureProtocol", "FITSStorage"] + benchmarkSupport,
            path: "Benchmarks/MasterBenchmark",
            swiftSettings: swiftSettings
        ),

        // MARK: Tests.
        .testTarget(
            name: "CameraCoreTests",
            dependencies: ["CameraCore", "ApertureProtocol", "Bus", "FrameAnalysis", "ProcessTestSupport"],
            resources: [.copy("StandIn")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FITSStorageTests",
            dependencies: ["FITSStorage", "ProcessTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FrameAnalysisTests",
            dependencies: ["FrameAnalysis", "CameraCore", "ApertureProtocol", "ProcessTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "BusTests",
            dependencies: ["Bus", "ProcessTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProcessorServiceTests",
            dependencies: [
                "ProcessorService", "ApertureProtocol", "Bus", "FITSStorage", "FrameAnalysis", "ApertureConfig",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CameraServiceTests",
            dependencies: [
                "CameraService", "CameraCore", "ApertureProtocol", "Bus", "ApertureConfig",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ChildRuntimeTests",
            dependencies: [
                "ChildRuntime", "ApertureConfig", "Bus", "ProcessSupport", "ProcessTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GatewayServiceTests",
            dependencies: [
                "GatewayService", "ApertureProtocol", "ApertureConfig", "Bus", "ProcessTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CatalogServiceTests",
            dependencies: [
                "CatalogService", "ApertureProtocol", "ApertureConfig", "Bus", "FITSStorage",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CalibrationTests",
            dependencies: ["Calibration", "ApertureProtocol", "Bus", "FITSStorage"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ApertureLoggingTests",
            dependencies: ["ApertureLogging", .product(name: "Logging", package: "swift-log")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ApertureConfigTests",
            dependencies: ["ApertureConfig", "ApertureProtocol"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SupervisionTests",
            dependencies: ["Supervision", "ApertureConfig", "ProcessSupport", "Bus"],
            swiftSettings: swiftSettings
        ),
        // What tests that run programs share: waiting for a child that Foundation may never reap.
        .target(
            name: "ProcessTestSupport",
            path: "Tests/ProcessTestSupport",
            swiftSettings: swiftSettings
        ),
        // What the archive's tests share (docs/archive.md): a real PostgreSQL in a scratch
        // directory, and frames cut into export messages as a camera host's exporter sends them.
        .target(
            name: "ArchiveTestSupport",
            dependencies: [
                "ApertureProtocol", "ArchiveService",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/ArchiveTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ArchiveServiceTests",
            dependencies: [
                "ArchiveService", "ApertureProtocol", "ApertureConfig", "Bus", "ArchiveTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Bus", "ApertureProtocol", "CameraCore", "FITSStorage", "FrameAnalysis", "ProcessorService", "GatewayService",
                "FacilityBus", "ArchiveTestSupport", "ProcessTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            resources: [.copy("Python")],
            swiftSettings: swiftSettings
        ),
    ]
)

// MARK: Fuzzing (Benchmarks/fuzz.sh; docs/performance.md, "Fuzzing").
// Each target is a libFuzzer entry point when built with `-Xswiftc -sanitize=fuzzer,address
// -Xswiftc -DFUZZING`, and otherwise a program that replays inputs and runs seeded random ones.
let fuzzTargets: [(product: String, target: String, folder: String, dependencies: [Target.Dependency])] = [
    ("aperture-fuzz-envelope", "FuzzEnvelope", "Envelope", ["Bus", "ApertureProtocol", "CameraCore", "ProcessorService"]),
    ("aperture-fuzz-http-body", "FuzzHTTPBody", "HTTPBody", [
        "Bus", "ApertureProtocol", "CameraCore", "FrameAnalysis", "ProcessorService", "GatewayService", "ApertureConfig",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "Logging", package: "swift-log"),
    ]),
    ("aperture-fuzz-alpaca", "FuzzAlpaca", "Alpaca", ["GatewayService", "ApertureProtocol"]),
    ("aperture-fuzz-frame-ring", "FuzzFrameRing", "FrameRing", ["Bus"]),
]
package.targets.append(.target(
    name: "FuzzSupport",
    dependencies: ["ApertureConfig", "ApertureProtocol", "Bus", "CameraCore", "CameraService", "FrameAnalysis", "ProcessorService"],
    path: "Benchmarks/Fuzz/Support",
    swiftSettings: swiftSettings
))
for fuzz in fuzzTargets {
    package.targets.append(.executableTarget(
        name: fuzz.target,
        dependencies: ["FuzzSupport"] + fuzz.dependencies,
        path: "Benchmarks/Fuzz/\(fuzz.folder)",
        swiftSettings: swiftSettings
    ))
    package.products.append(.executable(name: fuzz.product, targets: [fuzz.target]))
}
