import Foundation
import Histogram
import Synchronization

/// Counts of one filter: how many records it saw and kept, how many it dropped
/// for each reason, and a few dropped examples per reason.
public struct FilterStats: Codable, Sendable, Equatable {
  public var name: String
  public var seen = 0
  public var kept = 0
  public var dropped: [String: Int] = [:]
  public var examples: [String: [String]] = [:]
  /// How many examples are kept per reason (the pipeline's `examples_per_reason`).
  public var exampleLimit: Int?

  enum CodingKeys: String, CodingKey {
    case name, seen, kept, dropped, examples, exampleLimit = "example_limit"
  }

  public static let defaultExampleLimit = 5
  public static let maxExampleLength = 2000

  /// An example cut to `maxExampleLength` characters.
  static func shortened(_ example: String) -> String {
    example.count > maxExampleLength ? String(example.prefix(maxExampleLength)) + "…" : example
  }

  public init(name: String, exampleLimit: Int? = nil) {
    self.name = name
    self.exampleLimit = exampleLimit
  }

  public var droppedTotal: Int { dropped.values.reduce(0, +) }

  public var limit: Int { exampleLimit ?? Self.defaultExampleLimit }

  public mutating func merge(_ other: FilterStats) {
    seen += other.seen
    kept += other.kept
    for (reason, n) in other.dropped { dropped[reason, default: 0] += n }
    if let theirs = other.exampleLimit { exampleLimit = max(exampleLimit ?? theirs, theirs) }
    for (reason, list) in other.examples {
      var mine = examples[reason] ?? []
      for example in list where mine.count < limit && !mine.contains(example) { mine.append(example) }
      examples[reason] = mine
    }
  }
}

/// What one model was paid for: requests sent and their tokens as the server
/// reported them (cached prompt tokens only where it reported them).
public struct ModelUsage: Codable, Sendable, Equatable {
  public var requests = 0
  public var promptTokens = 0
  public var cachedPromptTokens = 0
  public var completionTokens = 0
  /// The part of the completion tokens the server says went to thinking (billed as completion tokens).
  public var reasoningTokens = 0

  enum CodingKeys: String, CodingKey {
    case requests, promptTokens = "prompt_tokens", cachedPromptTokens = "cached_prompt_tokens"
    case completionTokens = "completion_tokens", reasoningTokens = "reasoning_tokens"
  }

  public init(
    requests: Int = 0, promptTokens: Int = 0, cachedPromptTokens: Int = 0, completionTokens: Int = 0,
    reasoningTokens: Int = 0
  ) {
    self.requests = requests
    self.promptTokens = promptTokens
    self.cachedPromptTokens = cachedPromptTokens
    self.completionTokens = completionTokens
    self.reasoningTokens = reasoningTokens
  }

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    requests = try c.decodeIfPresent(Int.self, forKey: .requests) ?? 0
    promptTokens = try c.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
    cachedPromptTokens = try c.decodeIfPresent(Int.self, forKey: .cachedPromptTokens) ?? 0
    completionTokens = try c.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
    // Statistics written before reasoning tokens were counted have none.
    reasoningTokens = try c.decodeIfPresent(Int.self, forKey: .reasoningTokens) ?? 0
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(requests, forKey: .requests)
    try c.encode(promptTokens, forKey: .promptTokens)
    try c.encode(cachedPromptTokens, forKey: .cachedPromptTokens)
    try c.encode(completionTokens, forKey: .completionTokens)
    if reasoningTokens > 0 { try c.encode(reasoningTokens, forKey: .reasoningTokens) }
  }

  public mutating func merge(_ other: ModelUsage) {
    requests += other.requests
    promptTokens += other.promptTokens
    cachedPromptTokens += other.cachedPromptTokens
    completionTokens += other.completionTokens
    reasoningTokens += other.reasoningTokens
  }
}

/// What a stage's replies spent on thinking: replies read, those with a trace, the characters of traces and
/// of answers, and replies whose thinking never closed (dropped as `reasoning_truncated`).
public struct ThinkingStats: Codable, Sendable, Equatable {
  public var replies = 0
  public var thinkingReplies = 0
  public var reasoningCharacters = 0
  public var answerCharacters = 0
  public var unclosed = 0

  enum CodingKeys: String, CodingKey {
    case replies, thinkingReplies = "thinking_replies", reasoningCharacters = "reasoning_chars"
    case answerCharacters = "answer_chars", unclosed
  }

  public init() {}

  public mutating func merge(_ other: ThinkingStats) {
    replies += other.replies
    thinkingReplies += other.thinkingReplies
    reasoningCharacters += other.reasoningCharacters
    answerCharacters += other.answerCharacters
    unclosed += other.unclosed
  }

  /// True once a reply thought (only then do the statistics show thinking).
  public var thought: Bool { thinkingReplies > 0 || unclosed > 0 }

  /// The share of reply text that was thinking.
  public var reasoningShare: Double {
    let all = reasoningCharacters + answerCharacters
    return all == 0 ? 0 : Double(reasoningCharacters) / Double(all)
  }
}

/// Requests and tokens spent by a stage on the LLM.
public struct LLMStats: Codable, Sendable, Equatable {
  public var requestsSent = 0
  public var answeredFromJournal = 0
  public var retried = 0
  public var failed: [String: Int] = [:]
  public var promptTokens = 0
  public var completionTokens = 0
  /// Requests sent and tokens per model name (as sent): what prices apply to.
  public var byModel: [String: ModelUsage] = [:]
  /// Request latencies in milliseconds, as an HDR histogram kept sparse: each
  /// key is the lowest value equivalent to the recorded one at two significant
  /// digits (HdrHistogram's bucketing), so shards merge exactly and percentiles
  /// are within 1 %.
  public var latencyMilliseconds: [String: Int] = [:]
  /// Replies split into trace and answer; written to the statistics only once a reply thought.
  public var thinking = ThinkingStats()

  enum CodingKeys: String, CodingKey {
    case requestsSent = "requests_sent", answeredFromJournal = "answered_from_journal", retried, failed
    case promptTokens = "prompt_tokens", completionTokens = "completion_tokens", latencyMilliseconds = "latency_ms"
    case byModel = "by_model", thinking
  }

  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    requestsSent = try c.decodeIfPresent(Int.self, forKey: .requestsSent) ?? 0
    answeredFromJournal = try c.decodeIfPresent(Int.self, forKey: .answeredFromJournal) ?? 0
    retried = try c.decodeIfPresent(Int.self, forKey: .retried) ?? 0
    failed = try c.decodeIfPresent([String: Int].self, forKey: .failed) ?? [:]
    promptTokens = try c.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
    completionTokens = try c.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
    // Statistics written before the HDR histogram (power-of-two buckets) have no latencies here.
    latencyMilliseconds = try c.decodeIfPresent([String: Int].self, forKey: .latencyMilliseconds) ?? [:]
    // Statistics written before prices have no per-model usage.
    byModel = try c.decodeIfPresent([String: ModelUsage].self, forKey: .byModel) ?? [:]
    thinking = try c.decodeIfPresent(ThinkingStats.self, forKey: .thinking) ?? ThinkingStats()
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(requestsSent, forKey: .requestsSent)
    try c.encode(answeredFromJournal, forKey: .answeredFromJournal)
    try c.encode(retried, forKey: .retried)
    try c.encode(failed, forKey: .failed)
    try c.encode(promptTokens, forKey: .promptTokens)
    try c.encode(completionTokens, forKey: .completionTokens)
    try c.encode(latencyMilliseconds, forKey: .latencyMilliseconds)
    try c.encode(byModel, forKey: .byModel)
    if thinking.thought { try c.encode(thinking, forKey: .thinking) }
  }

  public var isEmpty: Bool { self == LLMStats() }

  /// Counts one reply the stage read (from the server or the journal), split into trace and answer.
  public mutating func read(reasoningCharacters: Int, answerCharacters: Int, unclosed: Int) {
    thinking.replies += 1
    if reasoningCharacters > 0 || unclosed > 0 { thinking.thinkingReplies += 1 }
    thinking.reasoningCharacters += reasoningCharacters
    thinking.answerCharacters += answerCharacters
    thinking.unclosed += unclosed
  }

  /// Completion tokens the servers said went to thinking, over every model.
  public var reasoningTokens: Int { byModel.values.reduce(0) { $0 + $1.reasoningTokens } }

  public mutating func merge(_ other: LLMStats) {
    requestsSent += other.requestsSent
    answeredFromJournal += other.answeredFromJournal
    retried += other.retried
    for (k, v) in other.failed { failed[k, default: 0] += v }
    promptTokens += other.promptTokens
    completionTokens += other.completionTokens
    for (k, v) in other.latencyMilliseconds { latencyMilliseconds[k, default: 0] += v }
    for (k, v) in other.byModel { byModel[k, default: ModelUsage()].merge(v) }
    thinking.merge(other.thinking)
  }

  /// Counts one paid response of `model`.
  public mutating func paid(model: String, _ usage: ModelUsage) {
    promptTokens += usage.promptTokens
    completionTokens += usage.completionTokens
    byModel[model, default: ModelUsage()].merge(usage)
  }

  /// Latencies up to 10 hours, two significant digits.
  static func emptyHistogram() -> Histogram<UInt64> {
    Histogram<UInt64>(highestTrackableValue: 36_000_000, numberOfSignificantValueDigits: .two)
  }

  private static let template = emptyHistogram()

  public mutating func recordLatency(milliseconds: Double) {
    let value = UInt64(min(36_000_000, max(0, milliseconds.rounded())))
    latencyMilliseconds[String(Self.template.lowestEquivalentForValue(value)), default: 0] += 1
  }

  /// The latency (ms) at or below which `fraction` of requests fell, from the HDR histogram.
  public func latencyPercentile(_ fraction: Double) -> Double? {
    guard !latencyMilliseconds.isEmpty else { return nil }
    var histogram = Self.emptyHistogram()
    for (key, count) in latencyMilliseconds {
      guard let value = UInt64(key), count > 0 else { continue }
      _ = histogram.record(value, count: UInt64(count))
    }
    guard histogram.totalCount > 0 else { return nil }
    return Double(histogram.valueAtPercentile(fraction * 100))
  }
}

/// What one stage (or one shard of it) did: records in and out, every filter's
/// counts, other drops, LLM use and time. Invariant, checked by the runner and
/// tests: `recordsIn == recordsOut + droppedTotal` for stages that only remove
/// records (generating stages declare `generates`).
public struct StageStats: Codable, Sendable, Equatable {
  public var recordsIn = 0
  public var recordsOut = 0
  /// Drops that are not a filter's (e.g. `llm_failed`, `unparseable_reply`).
  public var dropped: [String: Int] = [:]
  public var filters: [FilterStats] = []
  public var llm = LLMStats()
  /// Stage-specific counters (e.g. `bootstrap_rounds`).
  public var counters: [String: Int] = [:]
  /// Score distributions of judging stages, by criterion (written only when there are some).
  public var scores: [String: ScoreHistogram] = [:]
  /// Steering mix of generating stages: per kind (`topic`, `persona`) and value,
  /// the prompts that carried it and the records they yielded (written only when there are some).
  public var steering: [String: [String: SteeringCount]] = [:]
  /// Per tier of a `cascade` (by endpoint name): records it answered, records
  /// it passed on, and the tokens of its replies (written only for cascades).
  public var cascade: [String: CascadeTier] = [:]
  /// Elapsed time of the stage (summed over the runs that worked on it).
  public var wallSeconds = 0.0
  /// Processing time summed over shards; larger than `wallSeconds` when shards run in parallel.
  public var shardSeconds = 0.0

  enum CodingKeys: String, CodingKey {
    case recordsIn = "records_in", recordsOut = "records_out", dropped, filters, llm, counters, scores, steering,
      cascade
    case wallSeconds = "wall_seconds", shardSeconds = "shard_seconds"
  }

  public init() {}

  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    recordsIn = try c.decode(Int.self, forKey: .recordsIn)
    recordsOut = try c.decode(Int.self, forKey: .recordsOut)
    dropped = try c.decode([String: Int].self, forKey: .dropped)
    filters = try c.decode([FilterStats].self, forKey: .filters)
    llm = try c.decode(LLMStats.self, forKey: .llm)
    counters = try c.decode([String: Int].self, forKey: .counters)
    // Statistics written before judges had score distributions have none.
    scores = try c.decodeIfPresent([String: ScoreHistogram].self, forKey: .scores) ?? [:]
    steering = try c.decodeIfPresent([String: [String: SteeringCount]].self, forKey: .steering) ?? [:]
    cascade = try c.decodeIfPresent([String: CascadeTier].self, forKey: .cascade) ?? [:]
    wallSeconds = try c.decode(Double.self, forKey: .wallSeconds)
    shardSeconds = try c.decode(Double.self, forKey: .shardSeconds)
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(recordsIn, forKey: .recordsIn)
    try c.encode(recordsOut, forKey: .recordsOut)
    try c.encode(dropped, forKey: .dropped)
    try c.encode(filters, forKey: .filters)
    try c.encode(llm, forKey: .llm)
    try c.encode(counters, forKey: .counters)
    if !scores.isEmpty { try c.encode(scores, forKey: .scores) }
    if !steering.isEmpty { try c.encode(steering, forKey: .steering) }
    if !cascade.isEmpty { try c.encode(cascade, forKey: .cascade) }
    try c.encode(wallSeconds, forKey: .wallSeconds)
    try c.encode(shardSeconds, forKey: .shardSeconds)
  }

  public var droppedTotal: Int { dropped.values.reduce(0, +) + filters.reduce(0) { $0 + $1.droppedTotal } }

  public mutating func merge(_ other: StageStats) {
    recordsIn += other.recordsIn
    recordsOut += other.recordsOut
    for (k, v) in other.dropped { dropped[k, default: 0] += v }
    for filter in other.filters {
      if let i = filters.firstIndex(where: { $0.name == filter.name }) {
        filters[i].merge(filter)
      } else {
        filters.append(filter)
      }
    }
    llm.merge(other.llm)
    for (k, v) in other.counters { counters[k, default: 0] += v }
    for (k, v) in other.scores { scores[k, default: ScoreHistogram()].merge(v) }
    for (kind, values) in other.steering {
      for (value, count) in values {
        steering[kind, default: [:]][value, default: SteeringCount()].prompts += count.prompts
        steering[kind, default: [:]][value, default: SteeringCount()].kept += count.kept
      }
    }
    for (tier, counts) in other.cascade { cascade[tier, default: CascadeTier(position: counts.position)].merge(counts) }
    wallSeconds += other.wallSeconds
    shardSeconds += other.shardSeconds
  }

  public func encoded() -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    return (try? [UInt8](encoder.encode(self))) ?? []
  }

  public static func decode(_ bytes: [UInt8]) -> StageStats? {
    try? JSONDecoder().decode(StageStats.self, from: Data(bytes))
  }
}

/// Thread-safe, live counters of a stage or shard while it runs.
public final class StatsRecorder: Sendable {
  private let state = Mutex(StageStats())
  /// Dropped examples kept per filter and reason.
  public let examplesPerReason: Int

  public init(examplesPerReason: Int = FilterStats.defaultExampleLimit) {
    self.examplesPerReason = examplesPerReason
  }

  public var snapshot: StageStats { state.withLock { $0 } }

  public func update(_ body: (inout StageStats) -> Void) {
    state.withLock { body(&$0) }
  }

  public func recordIn(_ n: Int = 1) { state.withLock { $0.recordsIn += n } }
  public func recordOut(_ n: Int = 1) { state.withLock { $0.recordsOut += n } }
  public func drop(_ reason: String, _ n: Int = 1) { state.withLock { $0.dropped[reason, default: 0] += n } }
  public func count(_ counter: String, _ n: Int = 1) { state.withLock { $0.counters[counter, default: 0] += n } }

  /// Declares filters up front so that they appear in order, even with zero counts.
  public func declareFilters(_ names: [String]) {
    state.withLock { stats in
      for name in names where !stats.filters.contains(where: { $0.name == name }) {
        stats.filters.append(FilterStats(name: name, exampleLimit: examplesPerReason))
      }
    }
  }

  /// Records one filter decision; `example` is kept (shortened) for the first few drops.
  public func filter(_ name: String, kept: Bool, reason: String? = nil, example: String? = nil) {
    state.withLock { stats in
      let i: Int
      if let found = stats.filters.firstIndex(where: { $0.name == name }) {
        i = found
      } else {
        stats.filters.append(FilterStats(name: name, exampleLimit: examplesPerReason))
        i = stats.filters.count - 1
      }
      stats.filters[i].seen += 1
      if kept {
        stats.filters[i].kept += 1
      } else {
        let reason = reason ?? "dropped"
        stats.filters[i].dropped[reason, default: 0] += 1
        if let example, stats.filters[i].examples[reason, default: []].count < stats.filters[i].limit {
          stats.filters[i].examples[reason, default: []].append(FilterStats.shortened(example))
        }
      }
    }
  }

  /// Records one judged score of a criterion (`score` as text, e.g. "4" or
  /// "4.5"); `example` is kept (shortened) for the first few of each score.
  public func score(_ criterion: String, _ score: String, example: String? = nil) {
    state.withLock { stats in
      stats.scores[criterion, default: ScoreHistogram()].add(score, example: example, limit: examplesPerReason)
    }
  }

  /// Counts prompts that carried a steering value (`kind` topic or persona) and the records they yielded.
  public func steered(_ kind: String, _ value: String, prompts: Int = 0, kept: Int = 0) {
    state.withLock { stats in
      stats.steering[kind, default: [:]][value, default: SteeringCount()].prompts += prompts
      stats.steering[kind, default: [:]][value, default: SteeringCount()].kept += kept
    }
  }

  public func merge(_ other: StageStats) { state.withLock { $0.merge(other) } }
}

/// One tier of a cascade in a stage's statistics. Its tokens are those of the
/// replies the tier gave (from the journal too): the work, not the bill.
public struct CascadeTier: Codable, Sendable, Equatable {
  /// 0 for the cheapest tier; the last is the strongest.
  public var position: Int
  /// The model the tier asked.
  public var model = ""
  /// Records whose output this tier's replies made.
  public var answered = 0
  /// Records the stage's own checks rejected at this tier, sent on to the next.
  public var escalated = 0
  /// Every reply of this tier.
  public var usage = ModelUsage()
  /// The replies of the records it answered.
  public var answeredUsage = ModelUsage()

  enum CodingKeys: String, CodingKey {
    case position, model, answered, escalated, usage, answeredUsage = "answered_usage"
  }

  public init(position: Int, model: String = "") {
    self.position = position
    self.model = model
  }

  public mutating func merge(_ other: CascadeTier) {
    if model.isEmpty { model = other.model }
    answered += other.answered
    escalated += other.escalated
    usage.merge(other.usage)
    answeredUsage.merge(other.answeredUsage)
  }
}

/// Prompts that carried one topic or persona, and the records they yielded.
public struct SteeringCount: Codable, Sendable, Equatable {
  public var prompts = 0
  public var kept = 0
  public init() {}
}

/// How often each score of one criterion was given, with a few examples per score.
public struct ScoreHistogram: Codable, Sendable, Equatable {
  public var counts: [String: Int] = [:]
  public var examples: [String: [String]] = [:]

  public init() {}

  mutating func add(_ score: String, example: String?, limit: Int) {
    counts[score, default: 0] += 1
    if let example, examples[score, default: []].count < limit {
      examples[score, default: []].append(FilterStats.shortened(example))
    }
  }

  public mutating func merge(_ other: ScoreHistogram) {
    for (k, v) in other.counts { counts[k, default: 0] += v }
    for (score, list) in other.examples {
      var mine = examples[score] ?? []
      for example in list where mine.count < FilterStats.defaultExampleLimit && !mine.contains(example) {
        mine.append(example)
      }
      examples[score] = mine
    }
  }

  /// The scores in numeric order.
  public var orderedScores: [String] {
    counts.keys.sorted { (Double($0) ?? 0, $0) < (Double($1) ?? 0, $1) }
  }
}
