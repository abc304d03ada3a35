import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: judge` — rates each record by a rubric and keeps, drops or annotates it.
///
/// Pointwise (the default) rates the record's answer, or each of its
/// `responses` (written by `candidates:` on an answering stage), with `votes`
/// seeded samples aggregated per criterion. Scores and reasoning go to
/// `meta.judge` (and, for responses, into each response, whose best becomes
/// the output); `keep:` drops records whose (best) scores fail it.
///
/// Pairwise compares every two responses, asking twice with their positions
/// swapped, and counts a preference only when both orders agree; a response's
/// score is its number of such wins.
public struct JudgeStage: RecordLLMStage {
  public enum Mode: String, Sendable, CaseIterable { case pointwise, pairwise }
  public enum OnUnparseable: String, Sendable, CaseIterable { case keep, drop }
  /// What is rated: the output, the `responses`, or `auto` (responses when the record has them).
  public enum Target: String, Sendable, CaseIterable { case auto, output, responses }
  /// How the meta entry is written: the judge's, or self-curation's `{score, reasoning, model}`.
  public enum MetaStyle: Sendable { case judge, curation }

  public var llm: StageLLM
  public var rater: Rater
  public var mode = Mode.pointwise
  public var target = Target.auto
  public var keep: KeepRule?
  public var rankBy = KeepRule.Term.mean
  public var onUnparseable = OnUnparseable.drop
  public var metaKey = "judge"
  public var metaStyle = MetaStyle.judge
  /// The filter that `keep` reports and its drop reason.
  public var keepFilter = (name: "keep", reason: "")

  public init(rubric: Rubric) {
    rater = Rater(rubric: rubric)
    llm = StageLLM(sampling: Rater.sampling(votes: 1, rubric: rubric))
  }

  public var filterNames: [String] { ["unparseable"] + (keep == nil ? [] : [keepFilter.name]) }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("judge") { params, context throws(InstillError) in
      var rubric = try Rubric.named(params.node("rubric"), default: "overall", context: context)
      // The stage may ask another reply format than the rubric's (json: schema-constrained where supported).
      if params.has("format") { rubric.format = try params.choice("format", default: rubric.format) }
      var s = JudgeStage(rubric: rubric)
      s.mode = try params.choice("mode", default: .pointwise)
      s.target = try params.choice("target", default: .auto)
      s.rater.votes = try params.int("votes", default: 1, in: 1...15)
      s.rater.aggregate = try params.choice("aggregate", default: .mean)
      s.llm = StageLLM(sampling: Rater.sampling(votes: s.rater.votes, rubric: rubric))
      try s.llm.parse(params)
      if s.llm.extraBody["response_format"] == nil {
        for (key, value) in rubric.responseFormat { s.llm.extraBody[key] = value }
      }
      if let node = params.node("keep") {
        guard s.mode == .pointwise else {
          throw node.error("keep is for pointwise judging; pairwise keeps every record")
        }
        let rule = try KeepRule(node, rubric: rubric)
        s.keep = rule
        s.keepFilter.reason = "not(\(rule.description))"
      }
      if let node = params.node("rank_by") {
        s.rankBy = try KeepRule.term(node, rubric: rubric)
      }
      s.onUnparseable = try params.choice("on_unparseable", default: .drop)
      s.metaKey = try params.string("meta_key", default: "judge")
      if s.mode == .pairwise, s.target == .output {
        throw try params.require("target").error("pairwise judging compares responses; use target: responses")
      }
      return s
    }
  }

  /// The judge's work on one record: the answers rated, and every reply.
  public struct Work: Sendable {
    var answers: [Answer]
    /// Pointwise: per answer, the replies of its votes.
    var ratings: [[Result<LLMResponse, LLMFailure>]] = []
    /// Pairwise: per pair, the replies with the first answer shown first, then shown second.
    var comparisons: [PairReplies] = []
  }

  public struct Answer: Sendable {
    var text: String
    /// The response object it came from, when rating `responses`.
    var response: JSONObject?
  }

  struct PairReplies: Sendable {
    var first: Int
    var second: Int
    var inOrder: [Result<LLMResponse, LLMFailure>]
    var swapped: [Result<LLMResponse, LLMFailure>]
  }

  func answers(of record: Record) -> [Answer] {
    if target != .output, case .array(let list)? = record["responses"] {
      let found = list.compactMap { item -> Answer? in
        guard case .object(let object) = item, let text = object["text"]?.stringValue else { return nil }
        return Answer(text: text, response: object)
      }
      if !found.isEmpty || target == .responses { return found }
    }
    return target == .responses ? [] : [Answer(text: record.output, response: nil)]
  }

  public func work(on record: Record, _ call: RecordCall) async throws -> Work {
    var work = Work(answers: answers(of: record))
    let instruction = record.prompt
    switch mode {
    case .pointwise:
      for (i, answer) in work.answers.enumerated() {
        let purpose = answer.response == nil ? "" : "rate/\(i)"
        work.ratings.append(try await rater.ask(instruction: instruction, answer: answer.text, purpose: purpose, call))
      }
    case .pairwise:
      let pairwise = PairwisePrompt(rubric: rater.rubric)
      for i in work.answers.indices {
        for j in work.answers.indices where j > i {
          let (a, b) = (work.answers[i].text, work.answers[j].text)
          var replies = PairReplies(first: i, second: j, inOrder: [], swapped: [])
          for vote in 0..<rater.votes {
            let forward = pairwise.prompt(instruction: instruction, a: a, b: b)
            replies.inOrder.append(try await call.send(call.request(forward, purpose: "pair/\(i)/\(j)", draw: vote)))
            let backward = pairwise.prompt(instruction: instruction, a: b, b: a)
            replies.swapped.append(try await call.send(call.request(backward, purpose: "pair/\(j)/\(i)", draw: vote)))
          }
          work.comparisons.append(replies)
        }
      }
    }
    return work
  }

  public func finish(_ work: Work, _ record: Record, _ sink: RecordSink) throws {
    switch mode {
    case .pointwise: try finishPointwise(work, record, sink)
    case .pairwise: try finishPairwise(work, record, sink)
    }
  }
}

extension JudgeStage {
  func finishPointwise(_ work: Work, _ record: Record, _ sink: RecordSink) throws {
    if work.answers.isEmpty { return sink.drop("no_responses") }
    // A record none of whose ratings got a reply failed like any other request.
    let failures = work.ratings.map(Rater.failure)
    if let failure = failures.first(where: { $0 != nil }) ?? nil, failures.allSatisfy({ $0 != nil }) {
      return sink.drop("llm_failed:\(failure.kind)")
    }
    let ratings = work.ratings.map(rater.rating)
    if let missing = ratings.firstIndex(where: { $0 == nil }) {
      let reply = work.ratings[missing].compactMap { try? $0.get().text }.first ?? ""
      sink.filter("unparseable", kept: onUnparseable == .keep, reason: "no_score", example: reply)
      guard onUnparseable == .keep else { return }
      sink.count("unparseable_kept")
      if work.answers.count == 1 { return try sink.emit(unscored(record, reply: reply, sink)) }
    } else {
      sink.filter("unparseable", kept: true)
    }
    let instruction = record.instruction
    for rating in ratings.compactMap({ $0 }) {
      for (name, score) in rating.scores.sorted(by: { $0.key < $1.key }) {
        sink.count("\(name)_\(Text.number(score))")
        sink.stats.score(name, Text.number(score), example: instruction)
      }
    }
    // The best rated answer decides; unrated ones rank below every rated one.
    let ranks = ratings.map { $0.map { Rater.value(rankBy, $0.scores) } ?? -.infinity }
    let best = ranks.indices.max { ranks[$0] < ranks[$1] || (ranks[$0] == ranks[$1] && $0 > $1) } ?? 0
    guard let bestRating = ratings[best] else {
      // No answer's rating parsed (and unparseable records are kept): the responses go on unscored.
      var out = unscored(record, reply: "", sink)
      out["responses"] = .array(
        work.answers.map { answer in
          var response = answer.response ?? [:]
          response["score"] = .null
          return .object(response)
        })
      return try sink.emit(out)
    }
    if let keep {
      let kept = keep.passes(bestRating.scores)
      let shown = rater.rubric.criteria.map { "\($0.name) \(Text.number(bestRating.scores[$0.name] ?? 0))" }
      sink.filter(
        keepFilter.name, kept: kept, reason: keepFilter.reason,
        example: shown.joined(separator: ", ") + ": " + instruction)
      guard kept else { return }
    }
    var out = record
    if work.answers.count > 1 || work.answers[0].response != nil {
      out["responses"] = .array(
        work.answers.enumerated().map { i, answer in
          var response = answer.response ?? [:]
          if let rating = ratings[i] {
            response["scores"] = scoreObject(rating.scores)
            response["score"] = Rubric.value(Rater.value(rankBy, rating.scores))
            response["reasoning"] = .string(rating.reasoning)
          } else {
            response["score"] = .null
          }
          return .object(response)
        })
      out.choose(work.answers[best])
    }
    out.updateMeta { $0[metaKey] = meta(bestRating, best: work.answers.count > 1 ? best : nil, sink) }
    try sink.emit(out)
  }

  func scoreObject(_ scores: [String: Double]) -> JSONValue {
    .object(JSONObject(rater.rubric.criteria.map { ($0.name, Rubric.value(scores[$0.name] ?? 0)) }))
  }

  func meta(_ rating: Rater.Rating, best: Int?, _ sink: RecordSink) -> JSONValue {
    switch metaStyle {
    case .curation:
      let score = rating.scores[rater.rubric.criteria[0].name] ?? 0
      return .object([
        "score": Rubric.value(score), "reasoning": .string(rating.reasoning), "model": .string(sink.model),
      ])
    case .judge:
      var object: JSONObject = [
        "rubric": .string(rater.rubric.name), "scores": scoreObject(rating.scores),
        "reasoning": .string(rating.reasoning), "model": .string(sink.model),
      ]
      if rater.votes > 1 { object["votes"] = .array(rating.votes.map(scoreObject)) }
      if let best { object["best"] = .int(best) }
      return .object(object)
    }
  }

  /// A kept record whose rating did not parse: no scores, the reply as reasoning.
  func unscored(_ record: Record, reply: String, _ sink: RecordSink) -> Record {
    var out = record
    out.updateMeta {
      switch metaStyle {
      case .curation:
        $0[metaKey] = .object(["score": .null, "reasoning": .string(reply), "model": .string(sink.model)])
      case .judge:
        $0[metaKey] = .object([
          "rubric": .string(rater.rubric.name), "scores": .null, "reasoning": .string(reply),
          "model": .string(sink.model),
        ])
      }
    }
    return out
  }
}

extension KeepRule {
  /// A rank term (`rank_by:`): a criterion, or min, mean or max over all criteria.
  public static func term(_ node: ConfigNode, rubric: Rubric) throws(InstillError) -> Term {
    let name = try node.string()
    switch name {
    case "min": return .min
    case "mean": return .mean
    case "max": return .max
    default:
      guard rubric.criterion(name) != nil else {
        throw node.error(
          "unknown criterion '\(name)' (the rubric has \(rubric.criteria.map(\.name).joined(separator: ", ")); "
            + "or min, mean, max)")
      }
      return .criterion(name)
    }
  }
}

extension Record {
  /// A judged response as the record's output, with its thinking trace (`text_reasoning`) when it kept one.
  mutating func choose(_ answer: JudgeStage.Answer) {
    self["output"] = .string(answer.text)
    self[Record.reasoningField(for: "output")] = answer.response?[Record.reasoningField(for: "text")]
  }
}
