import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: critique_revise` — improves each record's answer, as in Constitutional
/// AI's supervised phase and Self-Refine. Each pass draws a principle (seeded,
/// from `principles`), asks for a critique of the answer on that point, then
/// for a revision that addresses the critique. Up to `passes` passes; with
/// `stop_when` (a keep rule over `rubric`) the revision is judged after each
/// pass and the passes stop once it passes.
///
/// The final revision replaces the output; the original and every critique go
/// to `meta.critique_revise`. With `keep_original: true` the record also gets
/// `responses` (revision scored 1, original 0), which the preference export
/// turns into a pair with the revision chosen. Filter `critique_revise` drops a
/// record whose first critique is empty (`critique_empty`) or whose first
/// revision is empty or the answer unchanged (`revision_empty`, `unchanged_revision`);
/// a later pass that stalls so, or returns to an earlier answer, just ends the passes.
public struct CritiqueReviseStage: RecordLLMStage {
  public var llm = StageLLM(sampling: Sampling(temperature: 0.7, maxTokens: 512))
  public var principles: PrincipleSet
  public var passes = 1
  public var stopWhen: KeepRule?
  public var rater: Rater?
  public var keepOriginal = false

  public init(principles: PrincipleSet) { self.principles = principles }

  public var filterNames: [String] { ["critique_revise"] }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("critique_revise") { params, context throws(InstillError) in
      var s = CritiqueReviseStage(principles: try PrincipleSet.named(params.node("principles"), context: context))
      try s.llm.parse(params)
      s.passes = try params.int("passes", default: 1, in: 1...16)
      s.keepOriginal = try params.bool("keep_original", default: false)
      let rubricNode = params.node("rubric")
      if let node = params.node("stop_when") {
        let rubric = try Rubric.named(rubricNode, default: "overall", context: context)
        s.stopWhen = try KeepRule(node, rubric: rubric)
        s.rater = Rater(rubric: rubric)
      } else if let rubricNode {
        throw rubricNode.error("rubric is the scale of stop_when; add stop_when, e.g. \"overall >= 8\"")
      }
      return s
    }
  }

  static let critiqueSystem =
    "You review answers written by an AI assistant. You are given an instruction, the assistant's answer and a "
    + "critique request. Write a short critique of this answer, a few sentences, that does what the request asks. "
    + "Do not rewrite the answer."
  static let revisionSystem =
    "You improve answers written by an AI assistant. You are given an instruction, the answer, a critique of it "
    + "and a revision request. Reply with the improved answer only, as the assistant would give it, "
    + "without any preface, heading or note."

  static func critiquePrompt(instruction: String, answer: String, principle: Principle) -> FewShotPrompt {
    FewShotPrompt(
      system: critiqueSystem,
      query: "Instruction:\n\(instruction)\n\nAnswer:\n\(answer)\n\nCritique request: \(principle.critique)",
      layout: .labelled("Critique:", separator: "\n\n"))
  }

  static func revisionPrompt(instruction: String, answer: String, critique: String, principle: Principle)
    -> FewShotPrompt
  {
    FewShotPrompt(
      system: revisionSystem,
      query: "Instruction:\n\(instruction)\n\nAnswer:\n\(answer)\n\nCritique:\n\(critique)\n\n"
        + "Revision request: \(principle.revision)",
      layout: .labelled("Improved answer:", separator: "\n\n"))
  }

  /// A revision without a leading label the model may add ("Improved answer:", "Revision:").
  static func cleaned(_ reply: String) -> String {
    var text = reply.trimmingCharacters(in: .whitespacesAndNewlines)
    if let match = text.prefixMatch(of: /(?i)\**(improved answer|revised answer|revision)\**\s*:\**\s*/) {
      text = String(text[match.range.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    return text
  }

  public struct Pass: Sendable {
    var principle: String
    var critique: String
    var revision: String
    var scores: [String: Double]?
    /// The revising reply's thinking, when the model thought.
    var reasoning: String?
  }

  public enum Stop: String, Sendable {
    case passes, judge
    case critiqueEmpty = "critique_empty", revisionEmpty = "revision_empty", unchanged = "unchanged_revision"
    case failed
  }

  public struct Work: Sendable {
    var passes: [Pass] = []
    var stop = Stop.passes
    var failure: LLMFailure?
    var example = ""
  }

  public func work(on record: Record, _ call: RecordCall) async throws -> Work {
    let instruction = record.prompt
    var answer = record.output.trimmingCharacters(in: .whitespacesAndNewlines)
    // Every answer so far: a revision that returns to one of them (a later pass
    // undoing an earlier one) is a stall, not progress.
    var earlier: Set<String> = [answer]
    var work = Work()
    for pass in 0..<passes {
      var random = call.random(key: call.key, item: UInt64(pass))
      let principle = principles.pick(&random)
      let critiqueRequest = call.request(
        Self.critiquePrompt(instruction: instruction, answer: answer, principle: principle), purpose: "critique",
        draw: pass)
      let critique: String
      switch try await call.send(critiqueRequest) {
      case .failure(let failure): return work.stopped(.failed, failure: failure)
      case .success(let response): critique = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
      }
      guard !critique.isEmpty else { return work.stopped(.critiqueEmpty, example: instruction) }
      let revisionRequest = call.request(
        Self.revisionPrompt(instruction: instruction, answer: answer, critique: critique, principle: principle),
        purpose: "revise", draw: pass)
      let revision: String
      let revisionReasoning: String?
      switch try await call.send(revisionRequest) {
      case .failure(let failure): return work.stopped(.failed, failure: failure)
      case .success(let response):
        revision = Self.cleaned(response.text)
        revisionReasoning = response.reasoning
      }
      guard !revision.isEmpty else { return work.stopped(.revisionEmpty, example: instruction) }
      guard earlier.insert(revision).inserted else { return work.stopped(.unchanged, example: critique) }
      answer = revision
      var done = Pass(principle: principle.name, critique: critique, revision: revision)
      done.reasoning = revisionReasoning
      if let rater, let stopWhen {
        let replies = try await rater.ask(instruction: instruction, answer: revision, purpose: "stop/\(pass)", call)
        done.scores = rater.rating(replies)?.scores
        work.passes.append(done)
        if let scores = done.scores, stopWhen.passes(scores) { return work.stopped(.judge) }
      } else {
        work.passes.append(done)
      }
    }
    return work
  }

  public func finish(_ work: Work, _ record: Record, _ sink: RecordSink) throws {
    guard let last = work.passes.last else {
      switch work.stop {
      case .failed: sink.drop("llm_failed:\(work.failure?.kind ?? "unknown")")
      default: sink.filter("critique_revise", kept: false, reason: work.stop.rawValue, example: work.example)
      }
      return
    }
    sink.filter("critique_revise", kept: true)
    sink.count("passes_\(work.passes.count)")
    sink.count("stopped_\(work.stop == .failed ? "llm_failed:\(work.failure?.kind ?? "unknown")" : work.stop.rawValue)")
    let original = record.output
    var out = record
    let originalReasoning = record[Record.reasoningField(for: "output")]
    out["output"] = .string(last.revision)
    // The original's trace explains the original, not the revision.
    out[Record.reasoningField(for: "output")] = nil
    out.keepReasoning(last.reasoning, for: "output", sink.keepsReasoning)
    if keepOriginal {
      let textReasoning = Record.reasoningField(for: "text")
      var revised: JSONObject = ["text": .string(last.revision), "origin": .string("revision"), "score": .int(1)]
      revised[textReasoning] = out[Record.reasoningField(for: "output")]
      var kept: JSONObject = ["text": .string(original), "origin": .string("original"), "score": .int(0)]
      kept[textReasoning] = originalReasoning
      out["responses"] = .array([.object(revised), .object(kept)])
    }
    out.updateMeta {
      $0["critique_revise"] = .object([
        "original": .string(original),
        "passes": .array(
          work.passes.map { pass in
            var object: JSONObject = ["principle": .string(pass.principle), "critique": .string(pass.critique)]
            if let scores = pass.scores {
              object["scores"] = .object(
                JSONObject(scores.sorted { $0.key < $1.key }.map { ($0.key, Rubric.value($0.value)) }))
            }
            return .object(object)
          }),
        "stopped": .string(work.stop == .failed ? "llm_failed" : work.stop.rawValue),
        "model": .string(sink.model),
      ])
    }
    try sink.emit(out)
  }
}

extension CritiqueReviseStage.Work {
  func stopped(_ stop: CritiqueReviseStage.Stop, failure: LLMFailure? = nil, example: String = "") -> Self {
    var work = self
    work.stop = stop
    work.failure = failure
    work.example = example
    return work
  }
}
