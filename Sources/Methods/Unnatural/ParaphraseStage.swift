import InstillCore
import InstillFilters
import InstillKit
import InstillLLM
import InstillRouge

/// `kind: unnatural_paraphrase` — Unnatural Instructions' template expansion:
/// `paraphrases` alternative formulations of each instruction (few-shot, our
/// demonstrations), each with an `{INPUT}` placeholder where the input goes.
/// A paraphrase is dropped when it lacks the placeholder or has it more than
/// once (`placeholder`), equals the original (`identical`) or is a near copy of
/// it (`near_copy`, ROUGE-L F above `rouge_threshold`). A kept one becomes a
/// record whose instruction is the paraphrase with the input put in (the
/// `instruction_with_input`), input empty, the same output; `meta.parent` is the
/// core example's id. Records in are paraphrase attempts (+ the core example
/// with `include_core`).
public struct ParaphraseStage: RecordLLMStage {
  public var llm = StageLLM(
    sampling: Sampling(temperature: 1, topP: 0.99, maxTokens: 128),
    seedDrawnPer: "record and paraphrase")
  public var paraphrases = 2
  public var rougeThreshold = 0.9
  public var includeCore = false

  public init() {}

  public static let trail = FilterTrail(["truncated", "placeholder", "identical", "near_copy"])
  public var filterNames: [String] { Self.trail.names }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("unnatural_paraphrase") { params, _ throws(InstillError) in
      var s = ParaphraseStage()
      try s.llm.parse(params)
      s.paraphrases = try params.int("paraphrases", default: s.paraphrases, in: 1...50)
      s.rougeThreshold = try params.double("rouge_threshold", default: s.rougeThreshold, in: 0...1)
      s.includeCore = try params.bool("include_core", default: false)
      return s
    }
  }

  /// Our demonstrations: (instruction, a rephrasing with `{INPUT}`).
  static let demonstrations: [(String, String)] = [
    (
      "Classify the sentiment of the review as positive or negative.",
      "Is this review positive or negative? {INPUT}"
    ),
    ("Translate the sentence into German.", "How would you say \"{INPUT}\" in German?"),
    ("Find the largest number in the list.", "{INPUT} — which of these numbers is the biggest?"),
  ]

  static let header = "Rephrase each instruction in another way. Write {INPUT} exactly once, where the input goes."

  /// The prompt: the header, the demonstrations, then the instruction to
  /// rephrase (as text: `Instruction: …` and `Rephrased: …` lines).
  public static func prompt(_ instruction: String) -> FewShotPrompt {
    FewShotPrompt(
      system: header, shots: demonstrations.map { .init($0.0, $0.1) }, query: instruction,
      layout: .labelled("Rephrased:", queryLabel: "Instruction: "))
  }

  public func work(on record: Record, _ call: RecordCall) async throws -> [Result<LLMResponse, LLMFailure>] {
    var replies: [Result<LLMResponse, LLMFailure>] = []
    var random = call.random(key: record.id ?? "\(call.index)", item: 0)
    for n in 0..<paraphrases {
      replies.append(
        try await call.send(call.request(Self.prompt(record.instruction), draw: n, seed: random.nextSeed())))
    }
    return replies
  }

  /// Why a paraphrase is dropped, or nil.
  public func check(_ paraphrase: String, original: String) -> (filter: String, reason: String)? {
    let count = UnnaturalParsing.placeholderCount(paraphrase)
    if count != 1 { return ("placeholder", count == 0 ? "no_placeholder" : "placeholder_repeated") }
    let bare = paraphrase.replacingOccurrences(of: UnnaturalParsing.placeholder, with: " ")
    if Text.collapsingWhitespace(bare).lowercased() == Text.collapsingWhitespace(original).lowercased() {
      return ("identical", "same_as_original")
    }
    let tokenizer = RougeTokenizer.rougeScore
    if RougeL.fmeasure(tokenizer.tokens(original), tokenizer.tokens(bare)) > rougeThreshold {
      return ("near_copy", "rouge_l>\(rougeThreshold)")
    }
    return nil
  }

  public func finish(_ replies: [Result<LLMResponse, LLMFailure>], _ record: Record, _ sink: RecordSink) throws {
    let coreID = record.id ?? sink.fallbackID
    sink.inputs = replies.count + (includeCore ? 1 : 0)
    if includeCore { try sink.emit(record) }
    for (n, reply) in replies.enumerated() {
      guard case .success(let response) = reply else {
        if case .failure(let f) = reply { sink.drop("llm_failed:\(f.kind)") }
        continue
      }
      let paraphrase = UnnaturalParsing.paraphrase(response.text)
      if response.truncated {
        Self.trail.rejected(by: "truncated", reason: "cut_by_length_limit", example: response.text, sink.stats)
        continue
      }
      if let (filter, reason) = check(paraphrase, original: record.instruction) {
        Self.trail.rejected(by: filter, reason: reason, example: paraphrase, sink.stats)
        continue
      }
      Self.trail.passedAll(sink.stats)
      let filled = paraphrase.replacingOccurrences(of: UnnaturalParsing.placeholder, with: record.input)
      var out = Record([
        "id": .string("\(coreID)-p\(n)"), "instruction": .string(filled), "input": .string(""),
        "output": .string(record.output),
      ])
      out["instruction_with_input"] = .string(filled)
      out["constraints"] = record["constraints"] ?? .string("None")
      // The answer is the core example's, and so is its trace.
      out[Record.reasoningField(for: "output")] = record[Record.reasoningField(for: "output")]
      out.keepReasoning(response.reasoning, for: "instruction", sink.keepsReasoning)
      out.meta = record.meta
      out.updateMeta { meta in
        meta["parent"] = .string(coreID)
        meta["template"] = .string(paraphrase)
        meta["method"] = .string("unnatural_paraphrase")
      }
      try sink.emit(out)
    }
  }
}
