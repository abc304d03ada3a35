import Logging

/// How a stage consumes its input.
public enum StageShape: String, Sendable {
  /// Input shard i becomes output shard i, independently of other shards. Such
  /// stages run shard by shard, can be split across `--shard-index` tasks, and
  /// resume at shard granularity.
  case map
  /// The stage needs all of its input at once (reading seeds, global dedup,
  /// bootstrapping, export). It runs when every input shard is complete.
  case global
}

/// A step of a pipeline. Concrete stages adopt `MapStage` or `GlobalStage`.
public protocol Stage: Sendable {
  var shape: StageShape { get }
  /// Checks everything that can be checked without running: seed files parse,
  /// parameters agree. Called by `instill validate` and before every run.
  func validate() throws(InstillError)
  /// Shard size of a global stage's output.
  var outputRecordsPerShard: Int { get }
  /// How many shards of a map stage may be processed at once (LLM stages use
  /// more than one so the server stays busy across shard boundaries).
  var shardParallelism: Int { get }
  /// True when the stage calls the LLM (the embedded server is started for it).
  var usesLLM: Bool { get }
  /// The number of output records the stage works towards, when it has one
  /// (a growth stage's `target`); the progress display shows an ETA from it.
  var progressTarget: Int? { get }
  /// True when the stage can send each record cheapest endpoint first
  /// (`cascade:`): per-record LLM stages.
  var acceptsCascade: Bool { get }
}

extension Stage {
  public var acceptsCascade: Bool { false }
  public func validate() throws(InstillError) {}
  public var outputRecordsPerShard: Int { 1000 }
  public var shardParallelism: Int { 1 }
  public var usesLLM: Bool { false }
  public var progressTarget: Int? { nil }
}

public protocol MapStage: Stage {
  /// Reads one input shard and writes its output shard. Must be deterministic in
  /// (input, configuration, seed, shard index, LLM responses).
  func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws
}

extension MapStage {
  public var shape: StageShape { .map }
}

public protocol GlobalStage: Stage {
  /// Consumes all input shards (in order) and writes output shards through `output`.
  func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws
}

extension GlobalStage {
  public var shape: StageShape { .global }
}

/// Everything a stage may use while it runs.
public struct StageContext: Sendable {
  public let stageName: String
  public let stageIndex: Int
  /// The pipeline's `seed`.
  public let seed: UInt64
  /// The shard being processed (map stages), or nil (global stages).
  public let shard: Int?
  public let stats: StatsRecorder
  public let control: RunControl
  public let logger: Logger
  /// What the runner provides beyond files and statistics (the LLM endpoint, as
  /// `context.llm`, when the pipeline has one).
  public let services: Services
  /// Where this shard's (or global stage's) LLM responses are journaled.
  public let journalPath: String
  /// The exported dataset's folder, published by the runner when the stage
  /// succeeds (global stages only).
  public let dataset: PublishedFolder?

  public init(
    stageName: String, stageIndex: Int, seed: UInt64, shard: Int?,
    stats: StatsRecorder, control: RunControl, logger: Logger, services: Services, journalPath: String,
    dataset: PublishedFolder?
  ) {
    self.services = services
    self.stageName = stageName
    self.stageIndex = stageIndex
    self.journalPath = journalPath
    self.dataset = dataset
    self.seed = seed
    self.shard = shard
    self.stats = stats
    self.control = control
    self.logger = logger
  }

  /// Throws `StoppedEarly` when a budget is spent or a stop signal arrived.
  public func checkStop() throws(StoppedEarly) { try control.check() }

  /// A generator for random choices that depends only on the pipeline seed, this
  /// stage, and `item` (a position), never on time or arrival order.
  public func random(item: UInt64 = 0) -> SeededRandom {
    SeededRandom(seed: seed, stream: "\(stageName)/\(shard ?? -1)", item: item)
  }
}

/// The input of a global stage: the previous stage's shards, in order.
public struct StageInput: Sendable {
  public let shardPaths: [String]
  public init(shardPaths: [String]) { self.shardPaths = shardPaths }

  /// Visits every record of every shard in order, counting each as stage input.
  public func forEach(_ body: (Record) throws -> Void) throws {
    for path in shardPaths {
      let reader = try RecordReader(path: path)
      defer { reader.close() }
      while let record = try reader.read() { try body(record) }
    }
  }
}
