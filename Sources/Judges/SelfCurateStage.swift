import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: self_curate` — Humpback's self-curation, usable after any method: the
/// LLM rates each (instruction, output) pair on a 5-point scale (our wording of
/// the rubric), with brief reasoning and a last line `Score: n`. Pairs scoring
/// at least `min_score` are kept (filter `score`); a reply without a score is
/// `unparseable` and kept or dropped by `on_unparseable`. Scores may have
/// decimals ("Score: 4.5"), and so may `min_score`; `min_score: a5` is the
/// paper's main, stricter set (score ≥ 4.5), `a4` its larger one (≥ 4). The
/// score and the reasoning go to `meta.curation`.
public struct SelfCurateStage: OneRequestStage {
  public enum OnUnparseable: String, Sendable, CaseIterable { case keep, drop }

  public var llm = StageLLM(sampling: Sampling(temperature: 0, maxTokens: 256))
  public var minScore = 4.0
  public var onUnparseable = OnUnparseable.drop

  public init() {}

  public var filterNames: [String] { ["unparseable", "score"] }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("self_curate") { params, _ throws(InstillError) in
      var s = SelfCurateStage()
      try s.llm.parse(params)
      s.minScore = try Self.parseMinScore(params)
      s.onUnparseable = try params.choice("on_unparseable", default: .drop)
      return s
    }
  }

  /// The paper's named sets: A5 (its main setting, "score ≥ 4.5") and A4 (≥ 4).
  public static let namedSets: [String: Double] = ["a5": 4.5, "a4": 4]

  static func parseMinScore(_ params: ConfigMap) throws(InstillError) -> Double {
    guard let node = params.node("min_score") else { return 4 }
    if let text = try? node.string(), let named = namedSets[text.lowercased()] { return named }
    return try params.double("min_score", default: 4, in: 1...5)
  }

  /// Our wording of the 5-point rubric (Prompts/self-curate-rubric.txt).
  static let rubric = PromptText.embedded(PackageResources.self_curate_rubric_txt)

  public static func prompt(_ record: Record) -> String {
    let instruction = record.input.isEmpty ? record.instruction : record.instruction + "\n\n" + record.input
    return prompt(instruction: instruction, answer: record.output)
  }

  static func prompt(instruction: String, answer: String) -> String {
    "Instruction:\n\(instruction)\n\nAnswer:\n\(answer)"
  }

  /// Two rated pairs shown before the pair to rate: small models only keep to
  /// the "reasoning, then Score: n" format when they have seen it.
  static let demonstrations: [(instruction: String, answer: String, rating: String)] = [
    (
      "How do I keep cut basil from wilting?",
      "Treat it like cut flowers: trim the stems, stand them in a glass of water at room temperature and loosely "
        + "cover the leaves with a plastic bag. Change the water every day or two. Avoid the refrigerator, where "
        + "the cold turns the leaves black.",
      "The answer addresses the question directly, as an assistant would, with clear and complete steps. "
        + "It could mention how long basil keeps this way.\nScore: 4"
    ),
    (
      "What is a good beginner telescope?",
      "Last summer my uncle took me camping and we looked at the stars all night. It was the best trip ever and "
        + "I still remember the smell of the campfire. Click here to read more stories from our travel blog!",
      "The text is a personal story and an advertisement; it never answers the question.\nScore: 1"
    ),
  ]

  /// The rating prompt: the rubric, the rated demonstrations, then the pair to
  /// rate (`Reasoning:` before each rating as text).
  static func prompt(rating record: Record) -> FewShotPrompt {
    FewShotPrompt(
      system: rubric,
      shots: demonstrations.map { .init(prompt(instruction: $0.instruction, answer: $0.answer), $0.rating) },
      query: prompt(record), layout: .labelled("Reasoning:", separator: "\n\n"))
  }

  /// The last `Score: n` (n from 1 to 5, decimals allowed: "Score: 4.5") of a
  /// reply, and the text before it.
  public static func score(_ reply: String) -> (score: Double, reasoning: String)? {
    guard
      let match = reply.matches(of: /(?i)score\W{0,4}\s*([1-5](?:\.[0-9]+)?)(?![0-9])/).last(where: {
        (Double($0.output.1) ?? 9) <= 5
      }), let n = Double(match.output.1)
    else { return nil }
    // Markdown around the score line ("**Score:** 4") is not part of the reasoning.
    let reasoning = reply[..<match.range.lowerBound].trimmingCharacters(
      in: CharacterSet.whitespacesAndNewlines
        .union(CharacterSet(charactersIn: "*_#")))
    return (n, reasoning)
  }

  public func request(for record: Record, _ call: RecordCall) -> RecordRequest {
    .send(call.request(Self.prompt(rating: record)))
  }

  public func handle(_ response: LLMResponse, _ record: Record, _ sink: RecordSink) throws {
    var out = record
    guard let (score, reasoning) = Self.score(response.text) else {
      sink.filter("unparseable", kept: onUnparseable == .keep, reason: "no_score", example: response.text)
      guard onUnparseable == .keep else { return }
      out.updateMeta {
        $0["curation"] = .object(["score": .null, "reasoning": .string(response.text), "model": .string(sink.model)])
      }
      return try sink.emit(out)
    }
    sink.filter("unparseable", kept: true)
    sink.count("score_\(Text.number(score))")
    let keep = score >= minScore
    sink.filter(
      "score", kept: keep, reason: "below_\(Text.number(minScore))",
      example: "\(Text.number(score)): \(record.instruction)")
    guard keep else { return }
    let value: JSONValue = score == score.rounded() ? .int(Int(score)) : .double(score)
    out.updateMeta {
      $0["curation"] = .object(["score": value, "reasoning": .string(reasoning), "model": .string(sink.model)])
    }
    try sink.emit(out)
  }
}
