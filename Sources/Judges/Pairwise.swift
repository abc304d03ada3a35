import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// The prompt of a pairwise comparison: what to judge by (the rubric's
/// criteria, without their levels), then the instruction and the two answers.
struct PairwisePrompt: Sendable {
  let system: String

  init(rubric: Rubric) {
    var text = "You compare two answers to the same instruction and decide which one is better. Judge them by:\n"
    for criterion in rubric.criteria { text += "- \(criterion.label): \(criterion.question)\n" }
    text += "Ignore which answer comes first and how long each is, unless length matters to the instruction.\n"
    text += "First give your reasoning in a few sentences, then write the better answer on the last line as "
    text += "\"Better: A\" or \"Better: B\"."
    system = text
  }

  func prompt(instruction: String, a: String, b: String) -> FewShotPrompt {
    FewShotPrompt(
      system: system, query: "Instruction:\n\(instruction)\n\nAnswer A:\n\(a)\n\nAnswer B:\n\(b)",
      layout: .labelled("Reasoning:", separator: "\n\n"))
  }

  /// The position a reply prefers ("A" or "B"), from its last `Better: X` line.
  static func preferred(_ reply: String) -> String? {
    guard
      let match = reply.matches(of: /(?i)better(?:\s+answer)?\W{0,4}\s*(?:answer\s*)?\(?([AB])\)?(?![A-Za-z0-9])/)
        .last
    else { return nil }
    return String(match.output.1).uppercased()
  }

  /// The position most of the votes prefer; nil when none parses or on a tie.
  static func majority(_ replies: [Result<LLMResponse, LLMFailure>]) -> (choice: String?, parsed: Bool) {
    var counts: [String: Int] = [:]
    for case .success(let response) in replies {
      if let choice = preferred(response.text) { counts[choice, default: 0] += 1 }
    }
    guard !counts.isEmpty else { return (nil, false) }
    let (a, b) = (counts["A"] ?? 0, counts["B"] ?? 0)
    return (a == b ? nil : (a > b ? "A" : "B"), true)
  }
}

extension JudgeStage {
  func finishPairwise(_ work: Work, _ record: Record, _ sink: RecordSink) throws {
    guard work.answers.count >= 2 else { return sink.drop("fewer_than_two_responses") }
    let all = work.comparisons.flatMap { $0.inOrder + $0.swapped }
    if let failure = Rater.failure(all) { return sink.drop("llm_failed:\(failure.kind)") }
    var wins = [Int](repeating: 0, count: work.answers.count)
    var comparisons: [JSONValue] = []
    var unparseable = false
    for pair in work.comparisons {
      let (forward, forwardParsed) = PairwisePrompt.majority(pair.inOrder)
      let (backward, backwardParsed) = PairwisePrompt.majority(pair.swapped)
      sink.count("comparisons")
      var winner: Int?
      if !forwardParsed || !backwardParsed {
        unparseable = true
        sink.count("comparison_unparseable")
      } else if forward == "A" && backward == "B" {
        winner = pair.first
      } else if forward == "B" && backward == "A" {
        winner = pair.second
      } else if forward != nil && forward == backward {
        // The same position won both times: the judge preferred a place, not an answer.
        sink.count("position_inconsistent")
      } else {
        sink.count("comparison_tied")
      }
      if let winner {
        wins[winner] += 1
        sink.count("preferences")
      }
      comparisons.append(
        .object([
          "a": .int(pair.first), "b": .int(pair.second),
          "first_order": forward.map(JSONValue.string) ?? .null,
          "swapped_order": backward.map(JSONValue.string) ?? .null,
          "winner": winner.map(JSONValue.int) ?? .null,
        ]))
    }
    if unparseable {
      let reply = all.compactMap { try? $0.get().text }.first { PairwisePrompt.preferred($0) == nil } ?? ""
      sink.filter("unparseable", kept: onUnparseable == .keep, reason: "no_preference", example: reply)
      guard onUnparseable == .keep else { return }
      sink.count("unparseable_kept")
    } else {
      sink.filter("unparseable", kept: true)
    }
    let best = wins.indices.max { wins[$0] < wins[$1] || (wins[$0] == wins[$1] && $0 > $1) } ?? 0
    var out = record
    out["responses"] = .array(
      work.answers.enumerated().map { i, answer in
        var response = answer.response ?? [:]
        response["score"] = .int(wins[i])
        return .object(response)
      })
    out.choose(work.answers[best])
    out.updateMeta {
      $0[metaKey] = .object([
        "mode": .string("pairwise"), "rubric": .string(rater.rubric.name), "comparisons": .array(comparisons),
        "model": .string(sink.model),
      ])
    }
    try sink.emit(out)
  }
}
