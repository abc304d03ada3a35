import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// Rates one answer by a rubric: builds the rating prompt (rubric first, then
/// its demonstrations, then the pair: a byte-stable prefix for prompt caches),
/// asks `votes` times and aggregates what parses. Shared by `judge`,
/// `self_curate` and critique-revise's `stop_when`.
public struct Rater: Sendable {
  public enum Aggregate: String, Sendable, CaseIterable { case mean, median, majority }

  public var rubric: Rubric
  public var votes = 1
  public var aggregate = Aggregate.mean

  public init(rubric: Rubric, votes: Int = 1, aggregate: Aggregate = .mean) {
    self.rubric = rubric
    self.votes = votes
    self.aggregate = aggregate
  }

  /// A rating: aggregated scores, the first parsed vote's reasoning, and each parsed vote's scores.
  public struct Rating: Sendable {
    public var scores: [String: Double]
    public var reasoning: String
    public var votes: [[String: Double]]
  }

  /// The judge's decoding: greedy for one vote, sampled (each vote with its own seed) for several.
  public static func sampling(votes: Int, rubric: Rubric) -> Sampling {
    Sampling(temperature: votes > 1 ? 0.8 : 0, maxTokens: rubric.criteria.count > 1 ? 384 : 256)
  }

  static func pair(instruction: String, answer: String) -> String {
    "Instruction:\n\(instruction)\n\nAnswer:\n\(answer)"
  }

  /// The rating prompt for one answer.
  public func prompt(instruction: String, answer: String) -> FewShotPrompt {
    FewShotPrompt(
      system: rubric.instructions,
      shots: rubric.demonstrations.map {
        .init(
          Self.pair(instruction: $0.instruction, answer: $0.answer),
          rubric.rating(reasoning: $0.reasoning, scores: $0.scores))
      },
      query: Self.pair(instruction: instruction, answer: answer),
      layout: .labelled(rubric.format == .json ? "Rating:" : "Reasoning:", separator: "\n\n"))
  }

  /// Asks for every vote on one answer, in order. `purpose` tells apart the
  /// answers of one record (it seeds sampled votes); vote `v` is draw `v`.
  public func ask(instruction: String, answer: String, purpose: String, _ call: RecordCall) async throws
    -> [Result<LLMResponse, LLMFailure>]
  {
    let prompt = prompt(instruction: instruction, answer: answer)
    var replies: [Result<LLMResponse, LLMFailure>] = []
    for vote in 0..<votes {
      replies.append(try await call.send(call.request(prompt, purpose: purpose, draw: vote)))
    }
    return replies
  }

  /// The rating from the replies of the votes, or nil when none parses.
  public func rating(_ replies: [Result<LLMResponse, LLMFailure>]) -> Rating? {
    var parsed: [(scores: [String: Double], reasoning: String)] = []
    for case .success(let response) in replies {
      if let one = rubric.parse(response.text) { parsed.append(one) }
    }
    guard let first = parsed.first else { return nil }
    var scores: [String: Double] = [:]
    for criterion in rubric.criteria {
      scores[criterion.name] = Self.aggregate(parsed.compactMap { $0.scores[criterion.name] }, aggregate)
    }
    return Rating(scores: scores, reasoning: first.reasoning, votes: parsed.map(\.scores))
  }

  /// Votes on one criterion combined; the mean is rounded to two decimals, a
  /// majority tie goes to the lower score.
  public static func aggregate(_ values: [Double], _ how: Aggregate) -> Double {
    guard values.count > 1 else { return values.first ?? 0 }
    switch how {
    case .mean:
      return (values.reduce(0, +) / Double(values.count) * 100).rounded() / 100
    case .median:
      let sorted = values.sorted()
      let mid = sorted.count / 2
      return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    case .majority:
      var counts: [Double: Int] = [:]
      for v in values { counts[v, default: 0] += 1 }
      let top = counts.values.max() ?? 0
      return counts.filter { $0.value == top }.keys.min() ?? 0
    }
  }

  /// The first final failure among the replies, when no reply succeeded.
  static func failure(_ replies: [Result<LLMResponse, LLMFailure>]) -> LLMFailure? {
    var failure: LLMFailure?
    for reply in replies {
      switch reply {
      case .success: return nil
      case .failure(let f): failure = failure ?? f
      }
    }
    return failure
  }

  /// A score of one criterion, or a rank value (`min`, `mean`, `max`) over all of them; a mean is
  /// rounded to two decimals, a missing value is 0.
  public static func value(_ term: KeepRule.Term, _ scores: [String: Double]) -> Double {
    let x = term.value(in: scores) ?? 0
    return term == .mean ? (x * 100).rounded() / 100 : x
  }
}
