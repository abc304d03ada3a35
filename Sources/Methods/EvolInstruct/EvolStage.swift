import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: evol_instruct` — Evol-Instruct as the paper describes it: for each
/// record, `rounds` rounds; each round picks an operation (seeded by the
/// pipeline seed, the record's id and the round; weights configurable), asks for
/// the evolved instruction, checks it (empty, unchanged, copied prompt), asks a
/// judge whether it gained information over its parent, asks for its answer,
/// and checks the answer (a short apology, only stop words). A successful
/// evolution becomes the parent of the next round; a failed one leaves the
/// parent in place to be evolved again. A map stage: lineages are independent.
///
/// The paper's dataset merges the seeds (D0) with every round, so each input
/// record is passed on too (`include_roots`, default true; `meta.round` 0),
/// answered by the LLM when it has no output. Every record carries
/// `meta.root`, its lineage, for a `dedup` with `group: meta.root`.
///
/// Records in are evolution attempts (plus the root when `include_roots`), so
/// in = out + every rule's drops + `llm_failed:KIND` (+ `root_unanswered:REASON`,
/// + `not_last` with `emit: last`).
public struct EvolStage: RecordLLMStage {
  public enum Emit: String, Sendable, CaseIterable { case all, last }
  public enum JudgeFailure: String, Sendable, CaseIterable { case keep, drop }

  public var operations: OperationSet
  public var rounds = 4
  public var weights: [String: Double] = [:]
  public var emit = Emit.all
  public var includeRoots = true
  public var judgeFailure = JudgeFailure.drop
  /// The evolving request's decoding (the paper's: temperature 1, top_p 0.95, max_tokens 2048).
  public var llm = StageLLM(
    sampling: Sampling(temperature: 1, topP: 0.95, maxTokens: 2048),
    seedDrawnPer: "record and round")
  public var answerSampling = Sampling(temperature: 1, topP: 0.95, maxTokens: 2048)
  public var judgeSampling = Sampling(temperature: 0, maxTokens: 8)

  public init(operations: OperationSet) { self.operations = operations }

  public static let trail = FilterTrail(["truncated"] + EvolRules.filterNames)
  public var filterNames: [String] { Self.trail.names }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("evol_instruct") { params, context throws(InstillError) in
      let opsNode = params.node("operations")
      let opsName = try opsNode?.string() ?? "general"
      let set: OperationSet
      if OperationSet.builtinNames.contains(opsName) {
        set = try OperationSet.named(opsName)
      } else if let opsNode {
        set = try OperationSet.named(try context.inputFile(opsNode))
      } else {
        set = try OperationSet.named("general")
      }
      var s = EvolStage(operations: set)
      try s.llm.parse(params)
      s.rounds = try params.int("rounds", default: s.rounds, in: 1...100)
      if let map = try params.map("weights") {
        for key in map.keys {
          guard set.operations.contains(where: { $0.name == key }) else {
            throw (map.node(key) ?? map.owner).error(
              "no operation '\(key)' in the set (operations: "
                + set.operations.map(\.name).joined(separator: ", ") + ")")
          }
          s.weights[key] = try map.double(key, default: 1, in: 0...1_000_000)
        }
        try map.finish()
        if set.operations.allSatisfy({ (s.weights[$0.name] ?? $0.weight) == 0 }) {
          throw map.owner.error("every operation has weight 0")
        }
      }
      s.emit = try params.choice("emit", default: .all)
      s.includeRoots = try params.bool("include_roots", default: true)
      s.judgeFailure = try params.choice("judge_failure", default: .drop)
      if let map = try params.map("answer_sampling") {
        s.answerSampling = s.answerSampling.overridden(by: try Sampling.parse(map))
        try map.finish()
      }
      if let map = try params.map("judge_sampling") {
        s.judgeSampling = s.judgeSampling.overridden(by: try Sampling.parse(map))
        try map.finish()
      }
      return s
    }
  }

  public func work(on record: Record, _ call: RecordCall) async throws -> EvolWork {
    let rootID = record.id ?? "\(call.index)"
    var current = EvolPrompts.evolvable(instruction: record.instruction, input: record.input)
    var work = EvolWork()
    let defaults = call.session.backend.defaultSampling
    if includeRoots, Text.isBlank(record.output) {
      work.rootAnswer = try await call.send(
        call.request(
          .single(current), sampling: defaults.overridden(by: answerSampling),
          purpose: "answer"))
    }
    for round in 1...rounds {
      var random = call.random(key: rootID, item: UInt64(round))
      let operation = operations.pick(&random, weights: weights)
      var attempt = EvolAttempt(round: round, operation: operation.name, parent: current)
      attempt.outcome = try await evolveOnce(
        &attempt, operation: operation, seed: random.nextSeed(), call: call,
        defaults: defaults)
      if case .success = attempt.outcome, let evolved = attempt.evolved { current = evolved }
      work.attempts.append(attempt)
    }
    return work
  }

  /// Evolve, check, judge, answer, check: stops at the first failure.
  func evolveOnce(
    _ a: inout EvolAttempt, operation: EvolOperation, seed: Int, call: RecordCall,
    defaults: Sampling
  ) async throws -> EvolAttempt.Outcome {
    let prompt = operation.render(a.parent)
    let evolvedReply: LLMResponse
    // A failed round evolves the same parent again: the round keeps the requests apart.
    switch try await call.send(call.request(.single(prompt), draw: a.round, seed: seed)) {
    case .failure(let f): return .failed(kind: f.kind, before: "truncated")
    case .success(let r): evolvedReply = r
    }
    let evolved = evolvedReply.text.trimmingCharacters(in: .whitespacesAndNewlines)
    a.evolved = evolved
    a.evolvedReasoning = evolvedReply.reasoning
    if evolvedReply.truncated { return .dropped(filter: "truncated", reason: "cut_by_length_limit") }
    if let (filter, reason) = EvolRules.checkEvolved(evolved, parent: a.parent, markers: operations.markers) {
      return .dropped(filter: filter, reason: reason)
    }
    switch try await call.send(
      call.request(
        EvolPrompts.judge(first: a.parent, second: evolved),
        sampling: defaults.overridden(by: judgeSampling), purpose: "judge"))
    {
    case .failure(let f): return .failed(kind: f.kind, before: "no_information_gain")
    case .success(let r): a.judge = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    switch EvolRules.judgement(a.judge ?? "") {
    case .equal: return .dropped(filter: "no_information_gain", reason: "judged_equal")
    case .unparseable:
      a.judgeUnparseable = true
      if judgeFailure == .drop { return .dropped(filter: "no_information_gain", reason: "judge_unparseable") }
    case .notEqual: break
    }
    switch try await call.send(
      call.request(
        .single(evolved), sampling: defaults.overridden(by: answerSampling),
        purpose: "answer"))
    {
    case .failure(let f): return .failed(kind: f.kind, before: "sorry_short")
    case .success(let r):
      a.answer = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
      a.answerReasoning = r.reasoning
      a.answerTruncated = r.truncated
    }
    if let (filter, reason) = EvolRules.checkResponse(a.answer ?? "") {
      return .dropped(filter: filter, reason: reason)
    }
    return .success
  }

  public func finish(_ work: EvolWork, _ record: Record, _ sink: RecordSink) throws {
    let attempts = work.attempts
    let rootID = record.id ?? sink.fallbackID
    sink.inputs = attempts.count + (includeRoots ? 1 : 0)
    if includeRoots { try emitRoot(record, answer: work.rootAnswer, rootID: rootID, sink: sink) }
    let lastSuccess = attempts.lastIndex { if case .success = $0.outcome { true } else { false } }
    var parentID = rootID
    for (i, a) in attempts.enumerated() {
      sink.count("round.\(a.round).tried")
      sink.count("operation.\(a.operation).tried")
      switch a.outcome {
      case .failed(let kind, let stoppedBefore):
        Self.trail.passed(upTo: stoppedBefore, sink.stats)
        sink.count("round.\(a.round).llm_failed")
        sink.drop("llm_failed:\(kind)")
      case .dropped(let filter, let reason):
        let example: String
        switch filter {
        case "sorry_short", "stopwords_only": example = a.answer ?? ""
        case "no_information_gain": example = "judge: \(a.judge ?? "") | \(a.evolved ?? "")"
        default: example = a.evolved ?? ""
        }
        Self.trail.rejected(by: filter, reason: reason, example: example, sink.stats)
        sink.count("round.\(a.round).\(filter)")
      case .success:
        Self.trail.passedAll(sink.stats)
        sink.count("round.\(a.round).succeeded")
        sink.count("operation.\(a.operation).succeeded")
        if a.judgeUnparseable { sink.count("judge_unparseable_kept") }
        let id = "\(rootID)-e\(a.round)"
        defer { parentID = id }
        guard emit == .all || i == lastSuccess else {
          sink.drop("not_last")
          continue
        }
        var evolved = evolvedRecord(
          a, id: id, rootID: rootID, parentID: parentID, rootInput: record.input, model: sink.model)
        evolved.keepReasoning(a.evolvedReasoning, for: "instruction", sink.keepsReasoning)
        evolved.keepReasoning(a.answerReasoning, for: "output", sink.keepsReasoning)
        try sink.emit(evolved)
      }
    }
  }

  /// The seed itself (D0), with its own output or the LLM's answer to it.
  func emitRoot(_ record: Record, answer: Result<LLMResponse, LLMFailure>?, rootID: String, sink: RecordSink) throws {
    var root = record
    switch answer {
    case nil: break
    case .failure(let f)?:
      sink.drop("llm_failed:\(f.kind)")
      return
    case .success(let r)?:
      let text = r.text.trimmingCharacters(in: .whitespacesAndNewlines)
      if let (_, reason) = EvolRules.checkResponse(text) {
        sink.drop("root_unanswered:\(reason)")
        return
      }
      root["output"] = .string(text)
      root.keepReasoning(r.reasoning, for: "output", sink.keepsReasoning)
      root.updateMeta { meta in
        meta["model"] = .string(sink.model)
        if r.truncated { meta["truncated"] = .bool(true) }
      }
    }
    if root.id == nil { root.id = rootID }
    root.updateMeta { meta in
      meta["method"] = .string("evol_instruct")
      meta["root"] = .string(rootID)
      meta["round"] = .int(0)
    }
    try sink.emit(root)
  }

  func evolvedRecord(_ a: EvolAttempt, id: String, rootID: String, parentID: String, rootInput: String, model: String)
    -> Record
  {
    let (instruction, input) = EvolPrompts.split(a.evolved ?? "", rootInput: rootInput)
    var record = Record([
      "id": .string(id), "instruction": .string(instruction), "input": .string(input),
      "output": .string(a.answer ?? ""),
    ])
    var meta: JSONObject = [
      "method": .string("evol_instruct"), "root": .string(rootID), "parent": .string(parentID), "round": .int(a.round),
      "operation": .string(a.operation), "judge": .string(a.judge ?? ""), "model": .string(model),
    ]
    if a.answerTruncated { meta["truncated"] = .bool(true) }
    record.meta = meta
    return record
  }
}

/// What the LLM said about one input record: the root's answer (when it is
/// passed on without an output) and every round's attempt.
public struct EvolWork: Sendable {
  public var rootAnswer: Result<LLMResponse, LLMFailure>?
  public var attempts: [EvolAttempt] = []
}

/// One round of one lineage: what was asked and how it ended.
public struct EvolAttempt: Sendable {
  public enum Outcome: Sendable {
    case success
    /// An elimination rule (a filter) dropped it.
    case dropped(filter: String, reason: String)
    /// A request failed after its retries, before the check `before` (the
    /// checks ahead of it were passed).
    case failed(kind: String, before: String)
  }
  public var round: Int
  public var operation: String
  public var parent: String
  public var evolved: String?
  /// The thinking traces of the evolving reply and of the answer, when the model thought.
  public var evolvedReasoning: String?
  public var answerReasoning: String?
  public var judge: String?
  public var judgeUnparseable = false
  public var answer: String?
  public var answerTruncated = false
  public var outcome = Outcome.success

  public init(round: Int, operation: String, parent: String) {
    self.round = round
    self.operation = operation
    self.parent = parent
  }
}
