import Foundation
import InstillCore
import InstillKit
import InstillLLM

/// `kind: generate` — an LLM response per record from a prompt template with
/// `{field}` placeholders; the reply goes into `output_field`.
///
/// With `candidates: N` (and/or `models: [a, b]`: that many from each model)
/// the stage asks for several answers, each with its own seed, and keeps them
/// all as `responses` (`text`, `model`, `draw`) for a judge to rank; the first
/// usable one is the output until a judge picks the best.
public struct GenerateStage: RecordLLMStage {
  public let template: PromptTemplate
  public let system: String?
  public let outputField: String
  public let llm: StageLLM
  public let dropTruncated: Bool
  public var candidates = 1
  /// Models to ask in turn (`candidates` answers each); empty means the stage's model.
  public var models: [String] = []

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("generate") { params, _ throws(InstillError) in
      let promptNode = try params.require("prompt")
      let source = try promptNode.string()
      let template: PromptTemplate
      do throws(InstillError) { template = try PromptTemplate(source) } catch { throw promptNode.error(error.message) }
      var llm = StageLLM()
      try llm.parse(params)
      var s = GenerateStage(
        template: template, system: try params.optionalString("system"),
        outputField: try params.string("output_field", default: "output"),
        llm: llm,
        dropTruncated: try params.bool("drop_truncated", default: false))
      s.candidates = try params.int("candidates", default: 1, in: 1...32)
      if let node = params.node("models") {
        s.models = try params.stringList("models") ?? []
        guard !s.models.isEmpty, Set(s.models).count == s.models.count else {
          throw node.error("models is a list of distinct model names")
        }
        guard !params.has("model") else { throw node.error("give either model or models, not both") }
      }
      return s
    }
  }

  /// Several answers are kept as `responses`.
  var keepsResponses: Bool { candidates > 1 || !models.isEmpty }

  public enum Work: Sendable {
    case skipped(String)
    /// Per candidate: the model asked (nil: the stage's), the draw and the reply.
    case answered([(model: String?, draw: Int, reply: Result<LLMResponse, LLMFailure>)])
  }

  public func work(on record: Record, _ call: RecordCall) async throws -> Work {
    let prompt: String
    switch template.render(record) {
    case .failure(let missing): return .skipped("missing_field:\(missing.name)")
    case .success(let text): prompt = text
    }
    let few = FewShotPrompt(system: system, query: prompt)
    var replies: [(model: String?, draw: Int, reply: Result<LLMResponse, LLMFailure>)] = []
    for model in models.isEmpty ? [nil] : models.map(Optional.some) {
      for draw in 0..<candidates {
        replies.append((model, draw, try await call.send(call.request(few, draw: draw, model: model))))
      }
    }
    return .answered(replies)
  }

  public func finish(_ work: Work, _ record: Record, _ sink: RecordSink) throws {
    guard case .answered(let replies) = work else {
      if case .skipped(let reason) = work { sink.drop(reason) }
      return
    }
    var responses: [JSONValue] = []
    var firstFailure: LLMFailure?
    var first: LLMResponse?
    var truncated = 0
    var empty = 0
    for (model, draw, reply) in replies {
      switch reply {
      case .failure(let failure):
        firstFailure = firstFailure ?? failure
        if keepsResponses { sink.count("candidate_failed:\(failure.kind)") }
      case .success(let response):
        let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty {
          empty += 1
          continue
        }
        if response.truncated && dropTruncated {
          truncated += 1
          continue
        }
        first = first ?? response
        var object: JSONObject = ["text": .string(text), "model": .string(model ?? sink.model), "draw": .int(draw)]
        if response.truncated { object["truncated"] = .bool(true) }
        if sink.keepsReasoning, let trace = response.reasoning {
          object[Record.reasoningField(for: "text")] = .string(trace)
        }
        responses.append(.object(object))
      }
    }
    if keepsResponses {
      if empty > 0 { sink.count("candidate_empty", empty) }
      if truncated > 0 { sink.count("candidate_truncated", truncated) }
    }
    guard let first, case .object(let chosen) = responses[0] else {
      if truncated > 0 { return sink.drop("truncated_reply") }
      if empty > 0 { return sink.drop("empty_reply") }
      return sink.drop("llm_failed:\(firstFailure?.kind ?? "unknown")")
    }
    var record = record
    record[outputField] = chosen["text"] ?? .string("")
    record.keepReasoning(first.reasoning, for: outputField, sink.keepsReasoning)
    if keepsResponses { record["responses"] = .array(responses) }
    record.updateMeta { meta in
      meta["model"] = chosen["model"] ?? .string(sink.model)
      if first.truncated { meta["truncated"] = .bool(true) }
    }
    try sink.emit(record)
  }
}
