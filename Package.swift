// swift-tools-version: 6.2
//
// Tailor: a content-personalization engine for Swift on Linux servers.
//
// Build settings that matter for speed (see `Docs/Numerics.md`):
// release builds on x86-64 target Haswell-class CPUs (AVX2 + FMA + F16C) so the SIMD kernels in
// TailorLinalg run ~3x faster, and `TAILOR_FMA` turns on fused multiply-add in them. Set
// `TAILOR_PORTABLE=1` in the environment to build for any x86-64 CPU. SwiftPM 6.2 and later allow
// these `unsafeFlags` in packages consumed by version, so Tailor stays usable as a library.
import PackageDescription
import Foundation

let portable = ProcessInfo.processInfo.environment["TAILOR_PORTABLE"] != nil

var fastSettings: [SwiftSetting] = []
// The AVX-512 GEMM micro-kernel's module alone is compiled for AVX-512; TailorLinalg calls it
// only after checking the CPU at run time (`Kernels.gemmKernel`).
var avx512Settings: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]
#if arch(x86_64)
if !portable {
    fastSettings = [
        .unsafeFlags(["-target-cpu", "haswell"], .when(configuration: .release)),
        .define("TAILOR_FMA", .when(configuration: .release)),
    ]
    avx512Settings.append(.unsafeFlags(["-target-cpu", "skylake-avx512"], .when(configuration: .release)))
}
#endif

let commonSettings: [SwiftSetting] = fastSettings + [
    .enableUpcomingFeature("ExistentialAny"),
]

// The numeric modules are optimized even in debug builds: unoptimized SIMD code runs 30–3,500×
// slower (NUMERICS.md), which made `swift test` take minutes. Testability is kept
// (`@testable import` still works); step-through debugging of these two modules is what is lost.
let numericSettings: [SwiftSetting] = commonSettings + [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
]

let package = Package(
    name: "Tailor",
    platforms: [.macOS(.v15)],
    products: [
        // One library per module, so a user who wants ALS links neither SQLite nor the neural
        // engine, plus the umbrella `Tailor` (every module, one import).
        .library(name: "TailorLinalg", targets: ["TailorLinalg"]),
        .library(name: "TailorData", targets: ["TailorData"]),
        .library(name: "TailorModels", targets: ["TailorModels"]),
        .library(name: "TailorEval", targets: ["TailorEval"]),
        .library(name: "TailorExperiments", targets: ["TailorExperiments"]),
        .library(name: "TailorStore", targets: ["TailorStore"]),
        .library(name: "TailorSQLite", targets: ["TailorSQLite"]),
        .library(name: "TailorPostgres", targets: ["TailorPostgres"]),
        .library(name: "TailorAutodiff", targets: ["TailorAutodiff"]),
        .library(name: "TailorNN", targets: ["TailorNN"]),
        .library(name: "TailorNeural", targets: ["TailorNeural"]),
        .library(name: "TailorText", targets: ["TailorText"]),
        .library(name: "TailorServer", targets: ["TailorServer"]),
        .library(name: "Tailor", targets: ["Tailor"]),
        .executable(name: "tailor", targets: ["TailorCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.0.0"),
        // The server's stack (TailorServer only; no core target links NIO).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        // The PostgreSQL store (TailorPostgres only).
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
    ],
    targets: [
        .target(name: "TailorLinalgAVX512", swiftSettings: avx512Settings),
        // The int8 GEMM micro-kernel: C with AVX-512 VNNI intrinsics (Swift's SIMD types do not
        // reach `vpdpbusd`), compiled for VNNI per function and called after a run-time check.
        // Optimized in debug builds too, like the numeric Swift modules.
        .target(name: "CTailorInt8", cSettings: [.unsafeFlags(["-O2"])]),
        .target(name: "TailorLinalg", dependencies: ["TailorLinalgAVX512", "CTailorInt8"], swiftSettings: numericSettings),
        .target(name: "TailorData", dependencies: ["TailorLinalg"], swiftSettings: commonSettings),
        .target(name: "TailorModels", dependencies: ["TailorLinalg", "TailorData"], swiftSettings: numericSettings),
        // The neural engine: tensors and reverse-mode autodiff, then layers, losses, optimizers
        // and the training loop. Numeric, so optimized in debug builds too.
        .target(name: "TailorAutodiff", dependencies: ["TailorLinalg"], swiftSettings: numericSettings),
        .target(name: "TailorNN", dependencies: ["TailorAutodiff"], swiftSettings: numericSettings),
        // Neural recommenders (two-tower, …) built on the engine; they register in the model
        // registry (`TailorNeural.register()`), so the CLI and run files train them by name.
        .target(name: "TailorNeural", dependencies: ["TailorModels", "TailorNN", "TailorEval"], swiftSettings: numericSettings),
        // Item text: WordPiece tokenizer and BERT-family sentence encoder (inference and
        // fine-tuning) on the engine. Numeric, so optimized in debug builds too.
        .target(name: "TailorText", dependencies: ["TailorLinalg", "TailorData", "TailorNN"], swiftSettings: numericSettings),
        .target(name: "TailorEval", dependencies: ["TailorLinalg", "TailorData", "TailorModels"], swiftSettings: commonSettings),
        // The quality loop around the models: segments (and, next, tuning, A/B statistics, drift).
        .target(name: "TailorExperiments", dependencies: ["TailorLinalg", "TailorData", "TailorModels", "TailorEval", "TailorStore"], swiftSettings: numericSettings),
        // The dashboard's pages (HTML with inline SVG), for `tailor serve` and `tailor report`: no NIO.
        .target(name: "TailorDashboard", dependencies: ["TailorData", "TailorModels", "TailorStore", "TailorExperiments"], swiftSettings: commonSettings),
        // The store protocol, its shared types and its conformance suite: no database here.
        .target(name: "TailorStore", dependencies: ["TailorData"], swiftSettings: commonSettings),
        // The embedded store: the only core target that links SQLite (through GRDB), so TailorData
        // and the numeric targets build and test without it.
        .target(
            name: "TailorSQLite",
            dependencies: ["TailorData", "TailorStore", .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift")],
            swiftSettings: commonSettings
        ),
        // The PostgreSQL store, for several servers on one database: postgres-nio, its own target
        // so the embedded default and the numeric targets never link NIO for it.
        .target(
            name: "TailorPostgres",
            dependencies: ["TailorData", "TailorStore", .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "Logging", package: "swift-log")],
            swiftSettings: commonSettings
        ),
        // The HTTP server (`tailor serve`): Hummingbird 2, ServiceLifecycle, swift-log and
        // swift-metrics with a Prometheus exporter. The only target that links NIO.
        .target(
            name: "TailorServer",
            dependencies: [
                "TailorLinalg", "TailorData", "TailorModels", "TailorEval", "TailorStore", "TailorSQLite", "TailorNeural", "TailorExperiments", "TailorDashboard",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: commonSettings
        ),
        // The umbrella: `import Tailor` brings every module.
        .target(name: "Tailor", dependencies: ["TailorLinalg", "TailorData", "TailorModels", "TailorEval", "TailorStore",
                                                "TailorSQLite", "TailorAutodiff", "TailorNN", "TailorNeural", "TailorText", "TailorExperiments"], swiftSettings: commonSettings),
        .executableTarget(
            name: "TailorCLI",
            dependencies: [
                "TailorLinalg", "TailorAutodiff", "TailorData", "TailorModels", "TailorEval", "TailorStore", "TailorSQLite", "TailorPostgres", "TailorNeural",
                "TailorText", "TailorServer", "TailorExperiments", "TailorDashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: commonSettings
        ),
        .executableTarget(
            name: "tailor-bench",
            dependencies: ["TailorLinalg", "TailorData", "TailorModels", "TailorEval", "TailorAutodiff", "TailorNN", "TailorText", "TailorExperiments"],
            path: "Benchmarks/TailorBench",
            swiftSettings: commonSettings
        ),
        .testTarget(name: "TailorLinalgTests", dependencies: ["TailorLinalg"], swiftSettings: commonSettings),
        .testTarget(name: "TailorDataTests", dependencies: ["TailorData"], swiftSettings: commonSettings),
        // Fixtures/ holds committed model directories of earlier format versions, read by #filePath.
        .testTarget(name: "TailorModelsTests", dependencies: ["TailorModels"], exclude: ["Fixtures"], swiftSettings: commonSettings),
        .testTarget(name: "TailorEvalTests", dependencies: ["TailorEval"], swiftSettings: commonSettings),
        .testTarget(name: "TailorExperimentsTests", dependencies: ["TailorExperiments", "TailorSQLite"], swiftSettings: commonSettings),
        .testTarget(name: "TailorDashboardTests", dependencies: ["TailorDashboard", "TailorSQLite", "TailorStore"], swiftSettings: commonSettings),
        .testTarget(name: "TailorStoreTests", dependencies: ["TailorStore", "TailorSQLite"], swiftSettings: commonSettings),
        .testTarget(name: "TailorPostgresTests", dependencies: ["TailorPostgres", "TailorStore", "TailorServer", .product(name: "PostgresNIO", package: "postgres-nio")],
                    swiftSettings: commonSettings),
        .testTarget(name: "TailorAutodiffTests", dependencies: ["TailorAutodiff"], swiftSettings: numericSettings),
        .testTarget(name: "TailorNNTests", dependencies: ["TailorNN"], swiftSettings: numericSettings),
        // Fixtures/ holds the WordPiece golden file written by Benchmarks/text_golden.py.
        .testTarget(name: "TailorTextTests", dependencies: ["TailorText", "TailorData", "TailorAutodiff"], exclude: ["Fixtures"], swiftSettings: numericSettings),
        .testTarget(name: "TailorNeuralTests", dependencies: ["TailorNeural", "TailorEval", "TailorExperiments"], swiftSettings: numericSettings),
        .testTarget(name: "TailorServerTests", dependencies: ["TailorServer", "TailorSQLite", "TailorNeural",
                                                             .product(name: "HummingbirdTesting", package: "hummingbird")],
                    swiftSettings: commonSettings),
        .testTarget(name: "TailorCLITests", dependencies: ["TailorCLI", "TailorText", "TailorExperiments", "TailorSQLite", "TailorPostgres"], swiftSettings: commonSettings),
    ],
    swiftLanguageModes: [.v6]
)
