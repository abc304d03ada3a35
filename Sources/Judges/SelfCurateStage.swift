import Foundation
import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// `kind: self_curate` — Humpback's self-curation, usable after any method: the
/// `judge` stage with the built-in `humpback` rubric (a 5-point scale in our
/// wording, two rated demonstrations, a last line `Score: n`). Pairs scoring at
/// least `min_score` are kept (filter `score`); a reply without a score is
/// `unparseable` and kept or dropped by `on_unparseable`. Scores may have
/// decimals ("Score: 4.5"), and so may `min_score`; `min_score: a5` is the
/// paper's main, stricter set (score ≥ 4.5), `a4` its larger one (≥ 4). The
/// score and the reasoning go to `meta.curation`; counters `score_N` count each score.
public enum SelfCurateStage {
  public static func register(in catalog: inout StageCatalog) {
    catalog.register("self_curate") { params, _ throws(InstillError) in
      var s = try judge(minScore: parseMinScore(params))
      try s.llm.parse(params)
      s.onUnparseable = try params.choice("on_unparseable", default: .drop)
      return s
    }
  }

  /// The judge that self-curation is: the humpback rubric, keeping scores of at least `minScore`.
  public static func judge(minScore: Double) throws(InstillError) -> JudgeStage {
    var s = JudgeStage(rubric: try Rubric.builtin("humpback"))
    s.target = .output
    s.keep = KeepRule(criterion: "score", atLeast: minScore)
    s.keepFilter = ("score", "below_\(Text.number(minScore))")
    s.metaKey = "curation"
    s.metaStyle = .curation
    return s
  }

  /// The paper's named sets: A5 (its main setting, "score ≥ 4.5") and A4 (≥ 4).
  public static let namedSets: [String: Double] = ["a5": 4.5, "a4": 4]

  static func parseMinScore(_ params: ConfigMap) throws(InstillError) -> Double {
    guard let node = params.node("min_score") else { return 4 }
    if let text = try? node.string(), let named = namedSets[text.lowercased()] { return named }
    return try params.double("min_score", default: 4, in: 1...5)
  }

  /// The score (1 to 5, decimals allowed) of a self-curation reply's last
  /// `Score: n` line, and the text before it.
  public static func score(_ reply: String) -> (score: Double, reasoning: String)? {
    guard let rubric = try? Rubric.builtin("humpback"), let parsed = rubric.parse(reply),
      let score = parsed.scores["score"]
    else { return nil }
    return (score, parsed.reasoning)
  }
}
