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
  /// `max_same_opening`: the largest share of `target` one opening may take (none: no cap).
  public var maxSameOpening: Double?
  /// `topics` / `personas` (stages that read them call `parseSteering`).
  public var steering = Steering()

  public init() {}

  public mutating func parse(_ params: ConfigMap) throws(InstillError) {
    target = try params.int("target", default: target, in: 1...10_000_000)
    promptsPerRound = try params.int("prompts_per_round", default: promptsPerRound, in: 1...10_000)
    maxRounds = try params.optionalInt("max_rounds", in: 1...100_000_000)
    rougeThreshold = try params.double("rouge_threshold", default: rougeThreshold, in: 0...1)
    recordsPerShard = try params.int("records_per_shard", default: recordsPerShard, in: 1...10_000_000)
    maxSameOpening = try params.optionalDouble("max_same_opening", in: 0.000_001...1) ?? maxSameOpening
  }

  /// Reads `topics`, `personas` and their templates.
  public mutating func parseSteering(
    _ params: ConfigMap, context: StageBuildContext, topicTemplate: String = Steering.defaultTopicTemplate,
    personaTemplate: String = Steering.defaultPersonaTemplate
  ) throws(InstillError) {
    steering = try Steering.parse(
      params, context: context, topicTemplate: topicTemplate, personaTemplate: personaTemplate)
  }

  /// The bound on rounds, for models that rarely produce acceptable candidates.
  public var rounds: Int { maxRounds ?? max(50, target * 4 / max(1, promptsPerRound)) }

  /// The random choices of prompt `k` in `round` depend on the pipeline seed, the
  /// round and the prompt index only.
  public static func item(round: Int, prompt k: Int) -> UInt64 { UInt64(round) << 20 | UInt64(k) }

  /// Marks the item of a prompt's steering stream.
  public static let steeringStream: UInt64 = 1 << 62
}
