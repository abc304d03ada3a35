import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: classify` — Self-Instruct's second step: asks, few-shot and greedy,
/// whether each instruction is a classification task (a small, fixed set of
/// possible answers), and stores the answer in `is_classification`.
public struct ClassifyStage: OneRequestStage {
  public var llm = StageLLM(
    sampling: Sampling(
      temperature: 0, maxTokens: 3, stop: ["\n", "Task"], presencePenalty: 0,
      frequencyPenalty: 0))
  public var overwrite = false

  public init() {}

  /// Our demonstrations: (task, is it classification?).
  public static let demonstrations: [(String, Bool)] = [
    ("Label the sentiment of the review as positive or negative.", true),
    ("Write a short story about a dragon who is afraid of heights.", false),
    ("Is the following email spam? Answer Yes or No.", true),
    ("Summarize the article in three sentences.", false),
    ("Decide which of the four answer choices is correct: A, B, C or D.", true),
    ("Explain how a bicycle gear system works.", false),
    ("Tell whether the statement is true or false.", true),
    ("Translate the sentence into German.", false),
    ("Classify the animal as a mammal, bird, reptile, amphibian or fish.", true),
    ("Suggest five names for a coffee shop.", false),
    ("Does the sentence contain a grammatical error?", true),
    ("Write a Python function that reverses a string.", false),
    ("Rate the urgency of the support ticket as low, medium or high.", true),
    ("Give three tips for staying focused while studying.", false),
    ("Identify the language of the sentence.", true),
    ("Describe your ideal weekend in a paragraph.", false),
  ]

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("classify") { params, _ throws(InstillError) in
      var s = ClassifyStage()
      try s.llm.parse(params)
      s.overwrite = try params.bool("overwrite", default: false)
      return s
    }
  }

  static let header =
    "For each task, say whether it is a classification task: one whose answer is a label "
    + "chosen from a small, fixed set of options. Answer Yes or No."

  /// The few-shot prompt: the question, then each demonstration answered Yes
  /// or No. As text it keeps the original's shape (`Is it classification? Yes`);
  /// as chat turns the model answers the label (asked to continue one long
  /// message, chat models tend to echo "Task:").
  public static func prompt(_ instruction: String) -> FewShotPrompt {
    FewShotPrompt(
      system: header, shots: demonstrations.map { .init("Task: \($0.0)", $0.1 ? "Yes" : "No") },
      query: "Task: \(Text.collapsingWhitespace(instruction))", layout: .labelled("Is it classification?"))
  }

  /// The original accepted exactly "Yes", "yes" or "YES"; chat models add
  /// punctuation or words, so the reply's first word decides.
  public static func isYes(_ reply: String) -> Bool {
    let word = reply.split(whereSeparator: { !$0.isLetter }).first.map { $0.lowercased() }
    return word == "yes"
  }

  public func request(for record: Record, _ call: RecordCall) -> RecordRequest {
    if !overwrite, case .bool = record["is_classification"] { return .skip("already_labelled") }
    return .send(call.request(Self.prompt(record.instruction)))
  }

  public func skipped(_ reason: String, _ record: Record, _ sink: RecordSink) throws {
    sink.count(reason)
    try sink.emit(record)
  }

  public func handle(_ response: LLMResponse, _ record: Record, _ sink: RecordSink) throws {
    let yes = Self.isYes(response.text)
    var record = record
    record["is_classification"] = .bool(yes)
    record.updateMeta { $0["classification_reply"] = .string(response.text) }
    sink.count(yes ? "classification" : "not_classification")
    try sink.emit(record)
  }
}
