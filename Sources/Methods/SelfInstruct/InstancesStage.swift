import Foundation
import InstillCore

/// `kind: instances` — Self-Instruct's third step: for each task, one greedy
/// few-shot request writes examples — input-first for generation tasks,
/// output-first (label first) for classification tasks (`is_classification`,
/// from a `classify` stage; missing means generation). The reply is parsed into
/// instances, which pass the original's filters; each surviving instance becomes
/// one record `{instruction, input, output}`.
///
/// Statistics count parsed instances as records in, so in = out + the drops of
/// the filters `truncated`, `invalid`, `conflicting_outputs`, `duplicate` and
/// `max_instances`.
public struct InstancesStage: MapStage {
  /// The original's decoding; `max_tokens` is 300 for classification tasks and
  /// 350 for others unless set.
  public var llm = StageLLM(sampling: Sampling(temperature: 0, stop: ["Example 6", "Task:"], presencePenalty: 1.5,
                                               frequencyPenalty: 0))
  public var maxInstances = 5

  public var shardParallelism: Int { 2 }
  public var usesLLM: Bool { true }

  public init() {}

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("instances") { params, _ throws(InstillError) in
      var s = InstancesStage()
      try s.llm.parse(params)
      s.maxInstances = try params.int("max_instances", default: s.maxInstances, in: 1...1000)
      return s
    }
  }

  public static let filterNames = ["truncated", "invalid", "conflicting_outputs", "duplicate", "max_instances"]

  /// The filters of one task's parsed instances, in the original order; `random`
  /// chooses which to keep when there are more than `maxInstances`.
  public static func select(_ parsed: [Instance], truncated: Bool, maxInstances: Int, random: inout SeededRandom,
                            stats: StatsRecorder) -> [Instance] {
    var instances = parsed
    if truncated, let last = instances.popLast() {
      stats.filter("truncated", kept: false, reason: "cut_by_length_limit", example: describe(last))
    }
    for _ in instances { stats.filter("truncated", kept: true) }
    instances = instances.filter { instance in
      let reason = InstanceFilters.invalidReason(instance)
      stats.filter("invalid", kept: reason == nil, reason: reason, example: describe(instance))
      return reason == nil
    }
    if InstanceFilters.hasConflict(instances) {
      for instance in instances {
        stats.filter("conflicting_outputs", kept: false, reason: "same_input_other_output", example: describe(instance))
      }
      return []
    }
    for _ in instances { stats.filter("conflicting_outputs", kept: true) }
    let unique = InstanceFilters.unique(instances)
    for _ in unique { stats.filter("duplicate", kept: true) }
    for _ in unique.count..<instances.count { stats.filter("duplicate", kept: false, reason: "exact_duplicate") }
    guard unique.count > maxInstances else {
      for _ in unique { stats.filter("max_instances", kept: true) }
      return unique
    }
    // A seeded sample, kept in the reply's order.
    let chosen = Set(random.sample(Array(unique.indices), count: maxInstances))
    var kept: [Instance] = []
    for (i, instance) in unique.enumerated() {
      let keep = chosen.contains(i)
      stats.filter("max_instances", kept: keep, reason: "over_\(maxInstances)_per_task", example: describe(instance))
      if keep { kept.append(instance) }
    }
    return kept
  }

  /// What a task gets: the instances it already carries, or the endpoint's reply.
  enum Answer: Sendable {
    case own([Instance])
    case reply(Result<LLMResponse, LLMFailure>)
  }

  /// The instances a record already carries (seed tasks read with `format: self_instruct`).
  static func ownInstances(_ record: Record) -> [Instance]? {
    guard case .array(let items)? = record["instances"], !items.isEmpty else { return nil }
    return items.map { Instance(input: $0.objectValue?["input"]?.stringValue ?? "", output: $0.objectValue?["output"]?.stringValue ?? "") }
  }

  static func describe(_ instance: Instance) -> String {
    instance.input.isEmpty ? "→ \(instance.output)" : "\(instance.input) → \(instance.output)"
  }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    let session = try context.llmSession()
    defer { session.close() }
    let (model, base) = llm.resolved(for: session)
    let (llm, maxInstances, stats) = (self.llm, self.maxInstances, context.stats)
    stats.declareFilters(Self.filterNames)
    try await forEachInOrder(input, limit: session.backend.maxConcurrency, control: context.control) {
      record, _ -> (Record, Bool, Answer) in
      let isClassification = record["is_classification"]?.boolValue ?? false
      if let own = Self.ownInstances(record) { return (record, isClassification, .own(own)) }
      var sampling = base
      sampling.maxTokens = llm.sampling.maxTokens ?? (isClassification ? 300 : 350)
      let request = llm.request(
        chat: InstancePrompts.chatMessages(record.instruction, classification: isClassification),
        completion: InstancePrompts.completionPrompt(record.instruction, classification: isClassification),
        model: model, sampling: sampling)
      return (record, isClassification, .reply(try await session.send(request)))
    } consume: { item, index in
      let (task, isClassification, answer) = item
      let taskID = task.id ?? "\(context.shard ?? 0)-\(index)"
      let instruction = task.instruction.trimmingCharacters(in: .whitespacesAndNewlines)
      func write(_ instances: [Instance], meta extra: JSONObject) throws {
        for (n, instance) in instances.enumerated() {
          var record = Record(["id": .string("\(taskID)-\(n)"), "instruction": .string(instruction),
                               "input": .string(instance.input), "output": .string(instance.output)])
          record["is_classification"] = .bool(isClassification)
          var meta = task.meta
          meta["parent"] = .string(taskID)
          for (key, value) in extra { meta[key] = value }
          record.meta = meta
          try output.write(record)
          stats.recordOut()
        }
      }
      let result: Result<LLMResponse, LLMFailure>
      switch answer {
      case .own(let own):
        // A seed task passed on by `self_instruct` (include_seeds): its instances as they are.
        stats.count("seed_tasks")
        stats.recordIn(own.count)
        try write(own, meta: [:])
        return
      case .reply(let reply):
        result = reply
      }
      stats.count("tasks")
      if task["is_classification"]?.boolValue == nil { stats.count("tasks_unlabelled") }
      guard case .success(let response) = result else {
        stats.count("tasks_llm_failed")
        return
      }
      let parsed = isClassification
        ? InstanceParsing.classification(response.text)
        : InstanceParsing.generation(response.text)
      stats.recordIn(parsed.count)
      var random = context.random(item: UInt64(index))
      let kept = Self.select(parsed, truncated: response.truncated, maxInstances: maxInstances, random: &random,
                             stats: stats)
      if kept.isEmpty { stats.count("tasks_without_instances") }
      try write(kept, meta: ["instances_model": .string(model)])
    }
    if let error = input.error { throw error }
  }
}
