import InstillCore
import InstillLLM
import Synchronization

/// Adds up the usage of the replies one record got from one tier.
final class UsageTally: Sendable {
  private let total = Mutex(ModelUsage())
  func add(_ usage: ModelUsage) { total.withLock { $0.merge(usage) } }
  var usage: ModelUsage { total.withLock { $0 } }
}

/// One tier: its endpoint's session and the stage's model and sampling resolved on it.
struct CascadeStep: Sendable {
  let name: String
  let session: LLMSession
  let model: String
  let sampling: Sampling
  let extraBody: JSONObject
}

/// A record's outcome at the tier that settled it.
struct CascadeOutcome: Sendable {
  /// The tier whose work the record's output (or drop) comes from.
  let tier: Int
  let records: [Record]
  let inputs: Int
  /// What `finish` counted, to be merged in input order.
  let stats: StageStats
  /// The usage of each tier tried, in order.
  let usages: [ModelUsage]
}

/// A cheap-first cascade (`cascade: [cheap, …, strong]`) on a per-record
/// stage. Each record is worked on by the cheapest tier first, and the
/// stage's own `finish` judges the result: a tier whose work yields no record
/// (a parse failure, a method filter, a judge's threshold, a failed request) passes
/// the record on to the next tier, and only the last tier's rejection is a
/// drop. The accepted tier's records carry `meta.answered_by`; every tier's
/// answered and escalated records and its tokens are counted in the stage's
/// `cascade` statistics. All tiers share the stage's journal.
extension RecordLLMStage {
  func processCascade(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    let endpoint: (String) -> String? = { $0 == "llm" ? nil : $0 }
    let first = try context.llmSession(endpoint: endpoint(llm.cascade[0])).batching(llm.batch)
    defer { first.close() }
    var steps: [CascadeStep] = []
    for name in llm.cascade {
      let session =
        steps.isEmpty ? first : try first.on(try context.llmBackend(endpoint: endpoint(name))).batching(llm.batch)
      let (model, sampling, extraBody) = llm.resolved(for: session)
      steps.append(CascadeStep(name: name, session: session, model: model, sampling: sampling, extraBody: extraBody))
    }
    context.stats.declareFilters(filterNames)
    context.stats.update { stats in
      for (i, step) in steps.enumerated() where stats.cascade[step.name] == nil {
        stats.cascade[step.name] = CascadeTier(position: i, model: step.model)
      }
    }
    let tiers = steps
    var deferred = RequestsDeferred(stage: context.stageName, kinds: [:])
    try await forEachInOrder(
      next: { try input.read() }, limit: first.concurrency,
      control: context.control
    ) { record, index in
      (record, try await RequestsDeferred.catching { try await self.settle(record, index: index, tiers, context) })
    } consume: { item, index in
      guard let outcome = deferred.unwrap(item.1), deferred.count == 0 else { return }
      for record in outcome.records { try output.write(record) }
      context.stats.merge(outcome.stats)
      context.stats.recordIn(outcome.inputs)
      context.stats.update { stats in
        for (i, usage) in outcome.usages.enumerated() {
          let name = tiers[i].name
          stats.cascade[name, default: CascadeTier(position: i, model: tiers[i].model)].usage.merge(usage)
          if i < outcome.tier {
            stats.cascade[name]?.escalated += 1
          } else if !outcome.records.isEmpty {
            stats.cascade[name]?.answered += 1
            stats.cascade[name]?.answeredUsage.merge(usage)
          }
        }
      }
    }
    if deferred.count > 0 { throw deferred }
  }

  /// Works on `record` tier by tier until one yields a record (or the last has tried).
  func settle(_ record: Record, index: Int, _ tiers: [CascadeStep], _ context: StageContext) async throws
    -> CascadeOutcome
  {
    var usages: [ModelUsage] = []
    for (i, tier) in tiers.enumerated() {
      let tally = UsageTally()
      let keeps = llm.keepsReasoning(on: tier.session)
      let call = RecordCall(
        index: index, key: record.id ?? "#\(index)", session: tier.session, llm: llm, model: tier.model,
        sampling: tier.sampling, extraBody: tier.extraBody, keepsReasoning: keeps, context: context, tally: tally)
      let work = try await self.work(on: record, call)
      let scratch = StatsRecorder(examplesPerReason: context.stats.examplesPerReason)
      let sink = RecordSink(
        index: index, model: tier.model, keepsReasoning: keeps, output: nil, stats: scratch, context: context)
      try finish(work, record, sink)
      usages.append(tally.usage)
      if !sink.held.isEmpty || i == tiers.count - 1 {
        let records = sink.held.map { held in
          var out = held
          out.updateMeta { $0["answered_by"] = .string(tier.name) }
          return out
        }
        return CascadeOutcome(tier: i, records: records, inputs: sink.inputs, stats: scratch.snapshot, usages: usages)
      }
    }
    fatalError("a cascade has at least two tiers")
  }
}
