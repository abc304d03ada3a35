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
    // The ground floor: records, JSON, gzip JSONL I/O, pipeline configuration and
    // the stage catalog, the stage protocol, errors, statistics. Knows no method,
    // filter or endpoint.
    .target(
      name: "InstillCore",
      dependencies: ["CZlib", "CBzip2", .product(name: "Yams", package: "Yams"),
                     .product(name: "Histogram", package: "hdrhistogram-swift"),
                     .product(name: "Crypto", package: "swift-crypto"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    // Quality filters (one file each under Filters/) and the text utilities they
    // share (Text/): adding a filter is a file here and a line in FilterCatalog.
    .target(
      name: "InstillFilters",
      dependencies: ["InstillCore"],
      swiftSettings: strict),
    // Talking to an LLM, independent of transport: requests and sampling, the
    // backend protocol, the journaled session, transient-failure bookkeeping,
    // prompt values (templates, few-shot prompts).
    .target(
      name: "InstillLLM",
      dependencies: ["InstillCore", .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    // Spawning a child that dies with its parent (the embedded llama-server).
    .target(name: "CSpawn"),
    // Concrete endpoints: the OpenAI-compatible HTTP client, rate limits, the
    // embedded llama-server, and the `llm` section's settings.
    .target(
      name: "InstillEndpoints",
      dependencies: ["InstillCore", "InstillLLM", "CSpawn",
                     .product(name: "AsyncHTTPClient", package: "async-http-client"),
                     .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "NIOHTTP1", package: "swift-nio"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    // Exact ROUGE-L (rouge-score semantics) and fast greedy near-duplicate removal.
    .target(name: "InstillRouge", swiftSettings: strict),
    // Run directory, locking, the stage runner, status and stats reports.
    .target(
      name: "InstillRunner",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillRouge", .product(name: "Logging", package: "swift-log"),
                     .product(name: "Prometheus", package: "swift-prometheus"),
                     .product(name: "Plot", package: "Plot")],
      swiftSettings: strict),
    // The method kit: per-record LLM stages, the growth loop, stage LLM settings,
    // filter trails and typed parameters. Only the kit touches sessions and concurrency.
    .target(
      name: "InstillKit",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillRouge"],
      swiftSettings: strict),
    // Document ingestion, a source any method can use: the `documents` stage,
    // the URL fetcher (libcurl), HTML and XML (libxml2), Wikipedia dumps and markup.
    .target(
      name: "InstillDocuments",
      dependencies: ["InstillCore", "InstillFilters", "InstillRouge", "CXML2", "CCurl"],
      swiftSettings: strict),
    // Built-in stages: read, filter, export, generate, dedup.
    .target(
      name: "InstillStages",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit", "InstillRouge"],
      swiftSettings: strict),
    // LLM judges that rate or improve any method's records (`judge`, `self_curate`, `critique_revise`).
    .target(
      name: "InstillJudges",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit"],
      path: "Sources/Judges",
      resources: [
        .embedInCode("Rubrics/overall.yaml"), .embedInCode("Rubrics/ultrafeedback.yaml"),
        .embedInCode("Rubrics/humpback.yaml"), .embedInCode("Principles/principles.yaml"),
      ],
      swiftSettings: strict),
    // The generation methods, one folder each (prompts, parser, stages, registration).
    // Self-Instruct and its Alpaca variant.
    .target(
      name: "InstillSelfInstruct",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit"],
      path: "Sources/Methods/SelfInstruct",
      swiftSettings: strict),
    // Evol-Instruct.
    .target(
      name: "InstillEvolInstruct",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit"],
      path: "Sources/Methods/EvolInstruct",
      resources: [.embedInCode("Prompts/general.yaml"), .embedInCode("Prompts/code.yaml")],
      swiftSettings: strict),
    // Unnatural Instructions.
    .target(
      name: "InstillUnnatural",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit", "InstillRouge"],
      path: "Sources/Methods/Unnatural",
      swiftSettings: strict),
    // Reverse instructions (LongForm, instruction backtranslation).
    .target(
      name: "InstillReverse",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit", "InstillRouge"],
      path: "Sources/Methods/Reverse",
      swiftSettings: strict),
    // Magpie: seedless instructions from the chat template's pre-query.
    .target(
      name: "InstillMagpie",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillKit"],
      path: "Sources/Methods/Magpie",
      swiftSettings: strict),
    .executableTarget(
      name: "instill",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillEndpoints", "InstillRunner", "InstillStages",
                     "InstillRouge", "InstillKit", "InstillDocuments", "InstillJudges", "InstillSelfInstruct",
                     "InstillEvolInstruct", "InstillUnnatural", "InstillReverse", "InstillMagpie",
                     .product(name: "ArgumentParser", package: "swift-argument-parser"),
                     .product(name: "Logging", package: "swift-log")],
      swiftSettings: strict),
    .executableTarget(
      name: "instill-bench",
      dependencies: ["InstillCore", "InstillRouge", "InstillStages"],
      path: "Benchmarks/instill-bench",
      swiftSettings: strict),
    // Test helpers, one file per concern: temporary folders, running the built
    // binary, run files and statistics, kill-and-resume, the scripted endpoint
    // and the ideal model, test tags (`live` marks tests beyond the package).
    .target(
      name: "InstillTestSupport",
      dependencies: ["InstillCore", "InstillRunner",
                     .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "NIOPosix", package: "swift-nio"),
                     .product(name: "NIOHTTP1", package: "swift-nio")],
      path: "Tests/InstillTestSupport",
      swiftSettings: strict),
    // Unit and end-to-end tests against scripted endpoints: `Scripts/test --fast`.
    .testTarget(
      name: "InstillTests",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillRunner", "InstillStages",
                     "InstillRouge", "InstillKit", "InstillDocuments", "InstillJudges", "InstillSelfInstruct",
                     "InstillEvolInstruct", "InstillUnnatural", "InstillReverse", "InstillMagpie", "InstillTestSupport",
                     .product(name: "Logging", package: "swift-log"),
                     .product(name: "NIOHTTP1", package: "swift-nio")],
      exclude: ["Fixtures"],
      swiftSettings: strict),
    // Tests against things beyond the package (`Scripts/test` runs them, `--fast`
    // does not): the embedded llama-server and model, Slurm, Chromium, Python's
    // `datasets`, a minute of rate limiting.
    .testTarget(
      name: "InstillLiveTests",
      dependencies: ["InstillCore", "InstillFilters", "InstillLLM", "InstillEndpoints", "InstillRunner", "InstillTestSupport",
                     .product(name: "AsyncHTTPClient", package: "async-http-client"),
                     .product(name: "Logging", package: "swift-log"),
                     .product(name: "NIOCore", package: "swift-nio"),
                     .product(name: "NIOHTTP1", package: "swift-nio")],
      swiftSettings: strict),
  ]
)
