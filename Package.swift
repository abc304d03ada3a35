// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "instill",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "instill", targets: ["instill"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/JohnSundell/Plot", from: "0.14.0"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
  ],
  targets: [
    // zlib from the system (Debian: zlib1g-dev).
    .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
    // bzip2 (Debian: libbz2-dev): Wikimedia publishes its dumps as .xml.bz2.
    .systemLibrary(name: "CBzip2", providers: [.apt(["libbz2-dev"])]),
    // libxml2 (Debian: libxml2-dev): the HTML parser and the streaming XML reader.
    .systemLibrary(name: "CXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
    // libcurl (Debian: libcurl4-openssl-dev): fetching document URLs.
    .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
    // Records, JSON, gzip JSONL I/O, pipeline configuration, errors, statistics.
    .target(
      name: "InstillCore",
      dependencies: ["CZlib", "CBzip2", .product(name: "Yams", package: "Yams"),
                     .product(name: "Histogram", package: "hdrhistogram-swift"),
                     .product(name: "Crypto", package: "swift-crypto"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    // Run directory, locking, the stage runner, status and stats reports.
    .target(
      name: "InstillRunner",
      dependencies: ["InstillCore", .product(name: "Logging", package: "swift-log"),
                     .product(name: "Prometheus", package: "swift-prometheus"),
                     .product(name: "Plot", package: "Plot")],
      swiftSettings: strict),
    // Spawning a child that dies with its parent (the embedded llama-server).
    .target(name: "CSpawn"),
    // The OpenAI-compatible HTTP client, rate limits, retries, the embedded local server.
    .target(
      name: "InstillLLM",
      dependencies: ["InstillCore", "CSpawn",
                     .product(name: "AsyncHTTPClient", package: "async-http-client"),
                     .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "NIOHTTP1", package: "swift-nio"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    // Exact ROUGE-L (rouge-score semantics) and fast greedy near-duplicate removal.
    .target(name: "InstillRouge", swiftSettings: strict),
    // The method kit: per-record LLM stages, the growth loop, stage LLM settings.
    .target(
      name: "InstillKit",
      dependencies: ["InstillCore", "InstillRouge"],
      swiftSettings: strict),
    // Self-Instruct and its Alpaca variant.
    .target(
      name: "InstillSelfInstruct",
      dependencies: ["InstillCore", "InstillKit"],
      path: "Sources/Methods/SelfInstruct",
      swiftSettings: strict),
    // Evol-Instruct.
    .target(
      name: "InstillEvolInstruct",
      dependencies: ["InstillCore", "InstillKit"],
      path: "Sources/Methods/EvolInstruct",
      swiftSettings: strict),
    // Unnatural Instructions.
    .target(
      name: "InstillUnnatural",
      dependencies: ["InstillCore", "InstillKit", "InstillRouge"],
      path: "Sources/Methods/Unnatural",
      swiftSettings: strict),
    // Reverse instructions (LongForm, instruction backtranslation) and self-curation.
    .target(
      name: "InstillReverse",
      dependencies: ["InstillCore", "InstillKit", "InstillRouge", "CXML2", "CCurl"],
      path: "Sources/Methods/Reverse",
      swiftSettings: strict),
    // Built-in stages: read, filter, export, generate, dedup.
    .target(
      name: "InstillStages",
      dependencies: ["InstillCore", "InstillKit", "InstillRouge"],
      swiftSettings: strict),
    .executableTarget(
      name: "instill",
      dependencies: ["InstillCore", "InstillRunner", "InstillStages", "InstillLLM", "InstillRouge", "InstillKit", "InstillSelfInstruct",
                     "InstillEvolInstruct", "InstillUnnatural", "InstillReverse",
                     .product(name: "ArgumentParser", package: "swift-argument-parser"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    .executableTarget(
      name: "instill-bench",
      dependencies: ["InstillCore", "InstillRouge"],
      path: "Benchmarks/instill-bench",
      swiftSettings: strict),
    // Test helpers: the built binary, temporary folders, the fake endpoint, statistics.
    .target(
      name: "InstillTestSupport",
      dependencies: ["InstillCore",
                     .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "NIOPosix", package: "swift-nio"),
                     .product(name: "NIOHTTP1", package: "swift-nio")],
      path: "Tests/InstillTestSupport",
      swiftSettings: strict),
    .testTarget(
      name: "InstillTests",
      dependencies: ["InstillCore", "InstillRunner", "InstillStages", "InstillLLM", "InstillRouge", "InstillKit", "InstillSelfInstruct",
                     "InstillEvolInstruct", "InstillUnnatural", "InstillReverse", "InstillTestSupport",
                     .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "NIOPosix", package: "swift-nio"),
                     .product(name: "NIOHTTP1", package: "swift-nio")],
      exclude: ["Fixtures"],
      swiftSettings: strict),
  ]
)
