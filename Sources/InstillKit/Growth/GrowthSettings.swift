import InstillCore

/// How a growth stage grows its set: `target` new records in rounds of
/// `prompts_per_round` concurrent prompts, at most `max_rounds` rounds, screened
/// by a ROUGE-L pool (`rouge_threshold`) of the seeds and everything accepted.
public struct GrowthSettings: Sendable {
  public var target = 100
  public var promptsPerRound = 5
  public var maxRounds: Int?
  public var rougeThreshold = 0.7
  public var recordsPerShard = 1000

  public init() {}

  public mutating func parse(_ params: ConfigMap) throws(InstillError) {
    target = try params.int("target", default: target, in: 1...10_000_000)
    promptsPerRound = try params.int("prompts_per_round", default: promptsPerRound, in: 1...10_000)
    maxRounds = try params.optionalInt("max_rounds", in: 1...100_000_000)
    rougeThreshold = try params.double("rouge_threshold", default: rougeThreshold, in: 0...1)
    recordsPerShard = try params.int("records_per_shard", default: recordsPerShard, in: 1...10_000_000)
  }

  /// The bound on rounds, for models that rarely produce acceptable candidates.
  public var rounds: Int { maxRounds ?? max(50, target * 4 / max(1, promptsPerRound)) }

  /// The random choices of prompt `k` in `round` depend on the pipeline seed, the
  /// round and the prompt index only.
  public static func item(round: Int, prompt k: Int) -> UInt64 { UInt64(round) << 20 | UInt64(k) }
}
