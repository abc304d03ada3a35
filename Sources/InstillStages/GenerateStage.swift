import Foundation
import InstillCore
import InstillKit
import InstillLLM

/// `kind: generate` — one LLM response per record from a prompt template with
/// `{field}` placeholders; the reply goes into `output_field`.
public struct GenerateStage: OneRequestStage {
  public let template: PromptTemplate
  public let system: String?
  public let outputField: String
  public let llm: StageLLM
  public let dropTruncated: Bool

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

  public func request(for record: Record, _ call: RecordCall) -> RecordRequest {
    switch template.render(record) {
    case .failure(let missing):
      return .skip("missing_field:\(missing.name)")
    case .success(let prompt):
      return .send(call.request(FewShotPrompt(system: system, query: prompt)))
    }
  }

  public func handle(_ response: LLMResponse, _ record: Record, _ sink: RecordSink) throws {
    let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
    if text.isEmpty { return sink.drop("empty_reply") }
    if response.truncated && dropTruncated { return sink.drop("truncated_reply") }
    var record = record
    record[outputField] = .string(text)
    record.updateMeta { meta in
      meta["model"] = .string(sink.model)
      if response.truncated { meta["truncated"] = .bool(true) }
    }
    try sink.emit(record)
  }
}
