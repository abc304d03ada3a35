import InstillCore
import InstillKit
import InstillLLM

/// `kind: unnatural_outputs` — the output of each generated example, asked
/// greedily with the instruction, the input and the constraints. The
/// constraints guide the answer but are not part of the training input; they
/// stay in the record. An empty output is dropped (`empty_output`).
public struct OutputsStage: OneRequestStage {
  public var llm = StageLLM(sampling: Sampling(temperature: 0, maxTokens: 512))

  public init() {}

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("unnatural_outputs") { params, _ throws(InstillError) in
      var s = OutputsStage()
      try s.llm.parse(params)
      return s
    }
  }

  static let system =
    "Carry out the instruction on the input. Keep to the constraints on the output. "
    + "Reply with the output only."

  public static func prompt(_ record: Record) -> FewShotPrompt {
    let constraints = record.string("constraints") ?? "None"
    return FewShotPrompt(
      system: system,
      query: "Instruction: \(record.instruction)\nInput: \(record.input)\n"
        + "Constraints: \(constraints)\nOutput:")
  }

  public func request(for record: Record, _ call: RecordCall) -> RecordRequest {
    .send(call.request(Self.prompt(record)))
  }

  public func handle(_ response: LLMResponse, _ record: Record, _ sink: RecordSink) throws {
    let text = response.text.trimmingCharacters(in: .whitespacesAndNewlines)
    if text.isEmpty { return sink.drop("empty_output") }
    var out = record
    out["output"] = .string(text)
    out.keepReasoning(response.reasoning, for: "output", sink.keepsReasoning)
    out.updateMeta { meta in
      meta["outputs_model"] = .string(sink.model)
      if response.truncated { meta["truncated"] = .bool(true) }
    }
    try sink.emit(out)
  }
}
