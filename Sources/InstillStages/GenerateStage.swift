import Foundation
import InstillCore

/// `kind: generate` — one LLM response per record from a prompt template with
/// `{field}` placeholders; the reply goes into `output_field`.
public struct GenerateStage: MapStage {
  public let template: PromptTemplate
  public let system: String?
  public let outputField: String
  public let llm: StageLLM
  public let dropTruncated: Bool

  public var shardParallelism: Int { 2 }
  public var usesLLM: Bool { true }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("generate") { params, _ throws(InstillError) in
      let promptNode = try params.require("prompt")
      let source = try promptNode.string()
      let template: PromptTemplate
      do throws(InstillError) { template = try PromptTemplate(source) } catch { throw promptNode.error(error.message) }
      var llm = StageLLM()
      try llm.parse(params)
      return GenerateStage(
        template: template, system: try params.optionalString("system"),
        outputField: try params.string("output_field", default: "output"),
        llm: llm,
        dropTruncated: try params.bool("drop_truncated", default: false))
    }
  }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    let session = try context.llmSession()
    defer { session.close() }
    let (model, sampling) = llm.resolved(for: session)
    let stats = context.stats
    let (template, system, llm) = (self.template, self.system, self.llm)
    try await forEachInOrder(input, limit: session.backend.maxConcurrency, control: context.control) {
      record, _ -> (Record, Result<LLMResponse, LLMFailure>?, String?) in
      switch template.render(record) {
      case .failure(let missing):
        return (record, nil, "missing_field:\(missing.name)")
      case .success(let prompt):
        let request = llm.request(chat: (system.map { [ChatMessage.system($0)] } ?? []) + [.user(prompt)],
                                  completion: (system.map { $0 + "\n\n" } ?? "") + prompt, model: model, sampling: sampling)
        return (record, try await session.send(request), nil)
      }
    } consume: { item, _ in
      var (record, result, problem) = item
      stats.recordIn()
      if let problem { stats.drop(problem); return }
      switch result {
      case .success(let response)?:
        let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.isEmpty { stats.drop("empty_reply"); return }
        if response.truncated && dropTruncated { stats.drop("truncated_reply"); return }
        record[outputField] = .string(text)
        var meta = record.meta
        meta["model"] = .string(model)
        if response.truncated { meta["truncated"] = .bool(true) }
        record.meta = meta
        try output.write(record)
        stats.recordOut()
      case .failure(let failure)?:
        stats.drop("llm_failed:\(failure.kind)")
      case nil:
        stats.drop("no_response")
      }
    }
    if let error = input.error { throw error }
  }
}
