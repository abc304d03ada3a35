import Foundation
import InstillCore
import InstillLLM
import Logging
import Synchronization

public struct RunOptions: Sendable {
  /// Run only these stages, in pipeline order (`--stage`, repeatable); empty: all.
  public var stages: [String] = []
  public var shardIndex: Int?
  public var shardCount: Int?
  /// Accept a changed pipeline file and recompute the stages it affects.
  public var forceConfig = false
  /// Seconds between rewrites of `DIR/stats.json` during a run.
  public var statsInterval: Double = 5
  /// Seconds between plain progress lines on stderr.
  public var progressInterval: Double = 10
  /// Receives the live progress line about once a second (nil clears it); when
  /// set, the plain progress lines are not logged. Set when stderr is a terminal.
  public var liveProgress: (@Sendable (String?) -> Void)?

  public init() {}

  func owns(shard: Int) -> Bool {
    guard let shardIndex, let shardCount else { return true }
    return shard % shardCount == shardIndex
  }

  var isSharded: Bool { shardCount != nil }
}

public enum RunOutcome: Sendable, Equatable {
  /// Every stage asked for is complete.
  case complete
  /// This task did its share; the rest waits for other tasks (job arrays).
  case waiting(String)
}

/// Runs a pipeline's stages in order inside a run directory, resuming from what
/// is already on disk: finished shards are skipped, unfinished ones are redone.
public final class Runner: Sendable {
  public let pipeline: Pipeline
  public let directory: RunDirectory
  public let options: RunOptions
  public let control: RunControl
  let logger: Logger
  let board = LiveBoard()
  let llm: (any LLMBackend)?
  /// The pipeline's named endpoints, by name.
  let endpoints: [String: any LLMBackend]

  public init(
    pipeline: Pipeline, directory: String, options: RunOptions, control: RunControl, logger: Logger,
    llm: (any LLMBackend)? = nil, endpoints: [String: any LLMBackend] = [:]
  ) {
    self.llm = llm.map { InFlightBackend($0) }
    self.endpoints = endpoints.mapValues { InFlightBackend($0) }
    self.pipeline = pipeline
    self.directory = RunDirectory(directory)
    self.options = options
    self.control = control
    self.logger = logger
  }

  public func run() async throws -> RunOutcome {
    try FileSystem.createDirectory(directory.path)
    let lock = RunLock(directory: directory.path)
    try lock.acquire(shardIndex: options.shardIndex, shardCount: options.shardCount)
    defer { lock.release() }
    try FileSystem.createDirectory(directory.stagesDirectory)
    try reconcileConfiguration()

    let selected = try selectedStages()

    let reporter = Task { [self] in await reportPeriodically() }
    defer { reporter.cancel() }
    do {
      var outcome = RunOutcome.complete
      for (offset, stage) in selected.enumerated() {
        let result = try await runStage(stage)
        guard case .waiting = result else { continue }
        outcome = result
        // A job-array task goes on with its own shards through a chain of map
        // stages (shard i of one feeds shard i of the next) and stops at the
        // first stage that needs every task's shards.
        guard let next = selected.dropFirst(offset + 1).first, next.shape == .map, next.index == stage.index + 1 else {
          break
        }
      }
      writeStats(final: true)
      return outcome
    } catch {
      writeStats(final: true)
      throw error
    }
  }

  /// The stages named by `--stage`, in pipeline order; all stages when none is named.
  func selectedStages() throws(InstillError) -> [PlannedStage] {
    guard !options.stages.isEmpty else { return pipeline.stages }
    for name in options.stages where !pipeline.stages.contains(where: { $0.name == name }) {
      throw InstillError.input(
        "no stage named '\(name)' (stages: \(pipeline.stages.map(\.name).joined(separator: ", ")))", field: "--stage")
    }
    return pipeline.stages.filter { options.stages.contains($0.name) }
  }

  // MARK: Configuration check

  /// Freezes the pipeline on the first run; on later runs refuses a changed
  /// pipeline unless `--force-config`, which recomputes only the stages whose
  /// fingerprint changed (and those after them). Journals are kept.
  func reconcileConfiguration() throws(InstillError) {
    let plan = pipeline.plan
    // Prices are in no fingerprint: updating them reprices the statistics and recomputes nothing.
    defer { try? directory.writePrices(pipeline.prices) }
    guard let old = directory.readPlan() else {
      try FileSystem.writeAtomically(pipeline.text, to: directory.frozenPipeline)
      try directory.writePlan(plan)
      return
    }
    let firstChange =
      (0..<min(old.count, plan.count)).first { old[$0] != plan[$0] }
      ?? (old.count == plan.count ? nil : min(old.count, plan.count))
    guard let firstChange else { return }
    let changed = plan.dropFirst(firstChange).map(\.name)
    guard options.forceConfig else {
      let what =
        changed.isEmpty ? "stages were removed" : "stages \(changed.joined(separator: ", ")) would be recomputed"
      throw InstillError.input(
        "the pipeline differs from the one this run directory was started with (\(directory.frozenPipeline)): \(what). "
          + "Re-run with --force-config to accept the change, or use a new --run-dir",
        file: pipeline.file)
    }
    logger.warning(
      "pipeline changed: recomputing \(changed.isEmpty ? "nothing (stages removed)" : changed.joined(separator: ", ")); LLM journals are kept"
    )
    let keep = Set(plan.prefix(firstChange).map(\.folder))
    for folder in FileSystem.list(directory.stagesDirectory) where !keep.contains(folder) {
      let stageDir = directory.stageDirectory(folder)
      for entry in FileSystem.list(stageDir) where entry != "journal" {
        FileSystem.remove(stageDir + "/" + entry)
      }
    }
    FileSystem.remove(directory.dataDirectory)
    try FileSystem.writeAtomically(pipeline.text, to: directory.frozenPipeline)
    try directory.writePlan(plan)
  }

  // MARK: Stages

  /// The number of shards a stage produces, once known: from its manifest, or for
  /// a map stage from the stage it reads.
  func shardCount(of position: Int) -> Int? {
    let stage = pipeline.stages[position]
    if let manifest = directory.manifest(stage.folder), manifest.fingerprint == stage.fingerprint {
      return manifest.shards
    }
    if stage.shape == .map, position > 0 { return shardCount(of: position - 1) }
    return nil
  }

  func isComplete(_ stage: PlannedStage) -> Bool {
    directory.manifest(stage.folder)?.fingerprint == stage.fingerprint
  }

  func runStage(_ stage: PlannedStage) async throws -> RunOutcome {
    if isComplete(stage) {
      logger.debug("stage \(stage.name): complete, skipped")
      return .complete
    }
    try control.check()
    try FileSystem.createDirectory(directory.stageDirectory(stage.folder))
    switch stage.shape {
    case .map: return try await runMapStage(stage)
    case .global: return try await runGlobalStage(stage)
    }
  }

  func notReady(_ stage: PlannedStage, _ what: String) throws -> RunOutcome {
    if options.isSharded && options.stages.isEmpty {
      let message = "stage \(stage.name) waits for \(what); the other tasks of this job array finish it"
      logger.info("\(message)")
      return .waiting(message)
    }
    throw InstillError.failure("stage \(stage.name) cannot run yet: it needs \(what). Run the stages before it first")
  }

  func runGlobalStage(_ stage: PlannedStage) async throws -> RunOutcome {
    let position = stage.index - 1
    var inputs: [String] = []
    if position > 0 {
      let previous = pipeline.stages[position - 1]
      guard isComplete(previous), let shards = shardCount(of: position - 1) else {
        return try notReady(stage, "stage \(previous.name) to complete")
      }
      inputs = (0..<shards).map { directory.shardPath(previous.folder, $0) }
    }
    guard let globalStage = stage.stage as? any GlobalStage else {
      throw InstillError.failure("stage \(stage.name) is not a global stage")
    }
    let stageDir = directory.stageDirectory(stage.folder)
    let stageLock = try StageLock(directory: stageDir)
    defer { withExtendedLifetime(stageLock) {} }
    if isComplete(stage) { return .complete }
    // Leftovers of an interrupted attempt are recomputed.
    for name in FileSystem.list(stageDir) where name.hasPrefix("shard-") || name == ShardFiles.stageStats {
      FileSystem.remove(stageDir + "/" + name)
    }
    logger.info("stage \(stage.name): running")
    let recorder = board.start(stage.folder, shard: -1, examplesPerReason: pipeline.examplesPerReason)
    defer { board.finish(stage.folder, shard: -1) }
    let started = ContinuousClock.now
    let output = ShardedOutput(directory: stageDir, recordsPerShard: stage.recordsPerShard)
    let dataset = PublishedFolder(target: directory.dataDirectory)
    let spentPath = directory.spendingPath(stage.folder, shard: nil)
    do {
      try await globalStage.run(
        StageInput(shardPaths: inputs), into: output,
        context: makeContext(stage, shard: nil, stats: recorder, dataset: dataset))
      let shards = try output.finish()
      recorder.update {
        $0.wallSeconds = seconds(since: started)
        $0.shardSeconds = $0.wallSeconds
      }
      let stats = try finalStats(
        stage, recorder, spentPath: spentPath, shard: nil, to: directory.stageStatsPath(stage.folder))
      try dataset.publish()
      try directory.writeManifest(
        StageManifest(shards: shards, records: output.recordCount, fingerprint: stage.fingerprint), folder: stage.folder
      )
      measureDiversity(stage)
      FileSystem.remove(spentPath)
      logger.info("stage \(stage.name): complete (\(stats.recordsIn) in, \(stats.recordsOut) out, \(shards) shards)")
    } catch {
      output.abandon()
      dataset.discard()
      rememberSpending(spentPath, recorder.snapshot.llm)
      throw error
    }
    return .complete
  }

  /// Measures a complete stage's diversity once, where it completes (stats and reports then read it).
  func measureDiversity(_ stage: PlannedStage) {
    guard let manifest = directory.manifest(stage.folder) else { return }
    Diversity.measured(directory: directory, folder: stage.folder, manifest: manifest)
  }

  /// An interrupted attempt's LLM spending (requests, tokens, failures) is kept
  /// beside the journal, so the finished shard's statistics count every request
  /// paid for, not only the last attempt's. (A kill -9 loses this tally, never
  /// the responses: those are in the journal.)
  func rememberSpending(_ path: String, _ llm: LLMStats) {
    var spent = llm
    spent.answeredFromJournal = 0
    guard spent.requestsSent > 0 || !spent.failed.isEmpty else { return }
    if let bytes = try? FileSystem.read(path), let earlier = try? JSONDecoder().decode(LLMStats.self, from: Data(bytes))
    {
      spent.merge(earlier)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try? FileSystem.createDirectory((path as NSString).deletingLastPathComponent)
    if let data = try? encoder.encode(spent) { try? FileSystem.writeAtomically([UInt8](data), to: path) }
  }

  /// A finished shard's or stage's statistics: this attempt's counts plus the
  /// spending of interrupted earlier attempts, checked and written to `path`.
  func finalStats(
    _ stage: PlannedStage, _ recorder: StatsRecorder, spentPath: String, shard: Int?,
    to path: String
  ) throws(InstillError) -> StageStats {
    if let bytes = try? FileSystem.read(spentPath),
      let earlier = try? JSONDecoder().decode(LLMStats.self, from: Data(bytes))
    {
      recorder.update { $0.llm.merge(earlier) }
    }
    let stats = recorder.snapshot
    try checkInvariant(stage, stats, shard: shard)
    try FileSystem.writeAtomically(stats.encoded(), to: path)
    return stats
  }

  func checkInvariant(_ stage: PlannedStage, _ stats: StageStats, shard: Int?) throws(InstillError) {
    if stats.recordsIn != stats.recordsOut + stats.droppedTotal {
      throw InstillError.failure(
        "stage \(stage.name)\(shard.map { " shard \($0)" } ?? ""): counts do not add up: \(stats.recordsIn) in, \(stats.recordsOut) out, \(stats.droppedTotal) dropped"
      )
    }
  }

  func makeContext(
    _ stage: PlannedStage, shard: Int?, stats: StatsRecorder,
    dataset: PublishedFolder? = nil
  ) -> StageContext {
    var stageLogger = logger
    stageLogger[metadataKey: "stage"] = "\(stage.name)"
    var services = Services()
    services.llm = llm
    services.namedLLMs = endpoints
    return StageContext(
      stageName: stage.name, stageIndex: stage.index, seed: pipeline.seed, shard: shard, stats: stats, control: control,
      logger: stageLogger, services: services, journalPath: directory.journalPath(stage.folder, shard: shard),
      dataset: dataset)
  }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
  let d = ContinuousClock.now - start
  return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

extension PlannedStage {
  public var shape: StageShape { stage.shape }
  var recordsPerShard: Int { stage.outputRecordsPerShard }
}

extension Pipeline {
  var plan: [PlanEntry] {
    stages.map {
      PlanEntry(
        index: $0.index, name: $0.name, kind: $0.kind, shape: $0.shape.rawValue, folder: $0.folder,
        fingerprint: $0.fingerprint)
    }
  }
}
