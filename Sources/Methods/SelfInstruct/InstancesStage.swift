import Foundation
import InstillCore
import InstillKit
import InstillLLM

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
public struct InstancesStage: OneRequestStage {
  /// The original's decoding; `max_tokens` is 300 for classification tasks and
  /// 350 for others unless set.
  public var llm = StageLLM(
    sampling: Sampling(
      temperature: 0, stop: ["Example 6", "Task:"], presencePenalty: 1.5,
      frequencyPenalty: 0),
    perRequest: ["max_tokens": "300 for classification tasks, 350 for others"])
  public var maxInstances = 5

  public init() {}

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("instances") { params, _ throws(InstillError) in
      var s = InstancesStage()
      try s.llm.parse(params)
      s.maxInstances = try params.int("max_instances", default: s.maxInstances, in: 1...1000)
      // The original stops at "Example 6" for its 5 instances: one past the limit.
      s.llm.methodSampling.stop = Self.stops(maxInstances: s.maxInstances)
      return s
    }
  }

  /// Stop sequences: the example after the last one kept, or a new task.
  public static func stops(maxInstances: Int) -> [String] { ["Example \(maxInstances + 1)", "Task:"] }

  public static let filterNames = ["truncated", "invalid", "conflicting_outputs", "duplicate", "max_instances"]
  public var filterNames: [String] { Self.filterNames }

  /// The filters of one task's parsed instances, in the original order; `random`
  /// chooses which to keep when there are more than `maxInstances`.
  public static func select(
    _ parsed: [Instance], truncated: Bool, maxInstances: Int, random: inout SeededRandom,
    stats: StatsRecorder
  ) -> [Instance] {
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

  /// The instances a record already carries (seed tasks read with `format: self_instruct`).
  static func ownInstances(_ record: Record) -> [Instance]? {
    guard case .array(let items)? = record["instances"], !items.isEmpty else { return nil }
    return items.map {
      Instance(input: $0.objectValue?["input"]?.stringValue ?? "", output: $0.objectValue?["output"]?.stringValue ?? "")
    }
  }

  static func describe(_ instance: Instance) -> String {
    instance.input.isEmpty ? "→ \(instance.output)" : "\(instance.input) → \(instance.output)"
  }

  static func isClassification(_ record: Record) -> Bool { record["is_classification"]?.boolValue ?? false }

  public func request(for record: Record, _ call: RecordCall) -> RecordRequest {
    // A seed task passed on by `self_instruct` (include_seeds) keeps its own instances.
    if Self.ownInstances(record) != nil { return .skip("seed_tasks") }
    let classification = Self.isClassification(record)
    var sampling = call.sampling
    sampling.maxTokens = llm.sampling.maxTokens ?? (classification ? 300 : 350)
    return .send(
      call.request(
        InstancePrompts.prompt(record.instruction, classification: classification),
        sampling: sampling))
  }

  public func skipped(_ reason: String, _ task: Record, _ sink: RecordSink) throws {
    let own = Self.ownInstances(task) ?? []
    sink.count(reason)
    sink.inputs = own.count
    try write(own, of: task, meta: [:], reasoning: nil, into: sink)
  }

  public func handle(_ response: LLMResponse, _ task: Record, _ sink: RecordSink) throws {
    sink.count("tasks")
    if task["is_classification"]?.boolValue == nil { sink.count("tasks_unlabelled") }
    let parsed =
      Self.isClassification(task)
      ? InstanceParsing.classification(response.text)
      : InstanceParsing.generation(response.text)
    sink.inputs = parsed.count
    var random = sink.random()
    let kept = Self.select(
      parsed, truncated: response.truncated, maxInstances: maxInstances, random: &random,
      stats: sink.stats)
    if kept.isEmpty { sink.count("tasks_without_instances") }
    try write(
      kept, of: task, meta: ["instances_model": .string(sink.model)],
      reasoning: response.reasoning, into: sink)
  }

  /// One record per instance: `{instruction, input, output}` with the task's id as parent.
  /// `reasoning` is the trace of the reply the instances came from (`instances_reasoning`);
  /// the task's own trace (`instruction_reasoning`) goes along.
  func write(
    _ instances: [Instance], of task: Record, meta extra: JSONObject, reasoning: String?, into sink: RecordSink
  ) throws {
    let taskID = task.id ?? sink.fallbackID
    let instruction = task.instruction.trimmingCharacters(in: .whitespacesAndNewlines)
    for (n, instance) in instances.enumerated() {
      var record = Record([
        "id": .string("\(taskID)-\(n)"), "instruction": .string(instruction),
        "input": .string(instance.input), "output": .string(instance.output),
      ])
      record["is_classification"] = .bool(Self.isClassification(task))
      let instructionReasoning = Record.reasoningField(for: "instruction")
      record[instructionReasoning] = task[instructionReasoning]
      record.keepReasoning(reasoning, for: "instances", sink.keepsReasoning)
      record.meta = task.meta
      record.updateMeta { meta in
        meta["parent"] = .string(taskID)
        for (key, value) in extra { meta[key] = value }
      }
      try sink.emit(record)
    }
  }
}
