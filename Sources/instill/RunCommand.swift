import ArgumentParser
import Dispatch
import Foundation
import InstillCore
import InstillEndpoints
import InstillLLM
import InstillRunner
import Logging

struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run or resume a pipeline in a run directory.",
    discussion: "Re-running the same command after any interruption continues where it stopped.")

  @Argument(help: "The pipeline file (YAML).")
  var pipeline: String

  @Option(help: "The run directory (created if missing).")
  var runDir: String

  @Option(name: .customLong("max-requests"), help: "Stop cleanly (exit 3) after this many LLM requests.")
  var maxRequests: Int?

  @Option(
    name: .customLong("max-cost"),
    help:
      "Stop cleanly (exit 3) before a request that could take the run directory's spending (all invocations) past AMOUNT, in the currency of the pipeline's prices."
  )
  var maxCost: Double?

  @Option(name: .customLong("max-time"), help: "Stop cleanly (exit 3) after this many seconds.")
  var maxTime: Double?

  @Option(
    name: .customLong("shard-index"), help: "With --shard-count: process only shards where shard % count == index.")
  var shardIndex: Int?

  @Option(name: .customLong("shard-count"), help: "The number of tasks sharing this run (job arrays).")
  var shardCount: Int?

  @Option(
    name: .customLong("stage"),
    help: "Run only this stage; repeat for several (run in pipeline order). The stages before them must be complete.")
  var stage: [String] = []

  @Option(
    name: .customLong("base-url"),
    help:
      "Send requests to this OpenAI-compatible endpoint (e.g. http://127.0.0.1:8000/v1) instead of the pipeline's; a pipeline of the embedded model (provider local) then needs --model."
  )
  var baseURL: String?

  @Option(name: .customLong("model"), help: "The model to ask (replaces llm.model; a stage's own model still wins).")
  var model: String?

  @Option(
    name: .customLong("api-key-env"),
    help: "The environment variable holding the endpoint's API key (replaces llm.api_key_env).")
  var apiKeyEnv: String?

  @Option(
    name: .customLong("reasoning"),
    help:
      "drop or keep the thinking traces of reasoning models (sets reasoning in llm and every endpoint; a stage's own reasoning still wins; joins the fingerprints)."
  )
  var reasoning: ReasoningMode?

  @Flag(name: .customLong("force-config"), help: "Accept a changed pipeline file; recompute the stages it affects.")
  var forceConfig = false

  @Option(name: .customLong("stats-interval"), help: "Seconds between updates of DIR/stats.json.")
  var statsInterval: Double = 5

  @Option(
    name: .customLong("metrics-file"),
    help:
      "Write Prometheus text-format metrics here when the run ends (atomically; for node_exporter's textfile collector)."
  )
  var metricsFile: String?

  @OptionGroup var log: LogOptions

  func validate() throws {
    if (shardIndex == nil) != (shardCount == nil) {
      throw ValidationError("--shard-index and --shard-count go together")
    }
    if let shardCount, let shardIndex, shardCount < 1 || shardIndex < 0 || shardIndex >= shardCount {
      throw ValidationError("--shard-index must be in 0..<--shard-count")
    }
    if let maxRequests, maxRequests < 0 { throw ValidationError("--max-requests must be zero or more") }
    if let maxCost, maxCost < 0 || !maxCost.isFinite { throw ValidationError("--max-cost must be zero or more") }
    if let maxTime, maxTime <= 0 { throw ValidationError("--max-time must be positive") }
    if statsInterval <= 0 || statsInterval > 10 { throw ValidationError("--stats-interval must be in (0, 10]") }
  }

  func run() async throws {
    let logger = log.bootstrap()
    let control = RunControl(maxTime: maxTime, maxRequests: maxRequests)
    let signals = SignalWatcher(control: control, logger: logger)
    defer { withExtendedLifetime(signals) {} }
    defer {
      if let spent = control.costSpent {
        logger.info("the run directory has spent \(String(format: "%.6g", spent)) of --max-cost \(maxCost ?? 0)")
      }
    }
    do {
      try await runPipeline(logger: logger, control: control)
      writeMetrics(exitCode: 0, logger: logger)
    } catch let exit as ExitCode {
      writeMetrics(exitCode: exit.rawValue, logger: logger)
      throw exit
    }
  }

  private func writeMetrics(exitCode: Int32, logger: Logger) {
    guard let metricsFile else { return }
    do {
      try MetricsFile.write(to: metricsFile, directory: RunDirectory(runDir), pipeline: nil, exitCode: exitCode)
    } catch {
      logger.error("cannot write the metrics file: \(error)")
    }
  }

  private func runPipeline(logger: Logger, control: RunControl) async throws {
    try await withExitCodes {
      let overrides = reasoning.map {
        [Pipeline.LLMOverride(key: "reasoning", value: $0.rawValue, isDefault: $0 == .drop)]
      }
      let loaded = try Pipeline.load(file: pipeline, catalog: stageCatalog(), llmOverrides: overrides ?? [])
      try loaded.validate()
      if let maxCost {
        guard let prices = loaded.prices else {
          throw InstillError.input(
            "--max-cost needs prices: add a prices section (or prices: FILE) for the models this pipeline asks",
            file: pipeline, field: "prices")
        }
        // The budget is the run directory's: what earlier invocations paid for counts.
        let directory = RunDirectory(runDir)
        let spent = loaded.stages.reduce(0.0) {
          $0 + (StageCost.of(directory.diskStats($1.folder).llm, prices: prices)?.amount ?? 0)
        }
        control.limitCost(maxCost, prices: prices, alreadySpent: spent)
      }
      var settings = try LLMSettings.parse(loaded.llm)
      if baseURL != nil || model != nil || apiKeyEnv != nil {
        try settings.override(baseURL: baseURL, model: model, apiKeyEnv: apiKeyEnv, pipelineFile: pipeline)
      }
      let backend =
        loaded.usesLLM ? try LLMBackends.make(settings, serverLog: RunDirectory(runDir).serverLog, logger: logger) : nil
      var endpoints: [String: any ShutdownableBackend] = [:]
      for (name, endpointSettings) in try LLMSettings.parseEndpoints(loaded) {
        endpoints[name] = try LLMBackends.make(endpointSettings, serverLog: "", logger: logger)
      }
      var options = RunOptions()
      options.stages = stage
      options.shardIndex = shardIndex
      options.shardCount = shardCount
      options.forceConfig = forceConfig
      options.statsInterval = statsInterval
      if TerminalStatus.stderrIsTerminal && !log.quiet {
        options.liveProgress = { TerminalStatus.shared.show($0) }
      }
      let runner = Runner(
        pipeline: loaded, directory: runDir, options: options, control: control, logger: logger, llm: backend,
        endpoints: endpoints.mapValues { $0 })
      let outcome: RunOutcome
      do {
        outcome = try await runner.run()
      } catch {
        await backend?.shutdown()
        for (_, endpoint) in endpoints { await endpoint.shutdown() }
        throw error
      }
      await backend?.shutdown()
      for (_, endpoint) in endpoints { await endpoint.shutdown() }
      switch outcome {
      case .complete:
        logger.info("done: \(runDir)")
      case .waiting(let why):
        logger.info("this task's share is done; \(why)")
      }
    }
  }
}

/// Turns SIGINT and SIGTERM into a clean stop at the next safe point.
final class SignalWatcher {
  private let sources: [any DispatchSourceSignal]

  init(control: RunControl, logger: Logger) {
    sources = [(SIGINT, "SIGINT"), (SIGTERM, "SIGTERM")].map { signalNumber, name in
      signal(signalNumber, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
      source.setEventHandler {
        logger.warning("\(name) received: stopping at the next safe point")
        control.requestStop(name)
      }
      source.resume()
      return source
    }
  }

  deinit { sources.forEach { $0.cancel() } }
}

extension ReasoningMode: ExpressibleByArgument {}
