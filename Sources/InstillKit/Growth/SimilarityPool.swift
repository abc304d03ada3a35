import InstillCore
import InstillRouge

/// The ROUGE-L pool of Self-Instruct and Alpaca: the seed instructions plus every
/// accepted one. A candidate is rejected when its F against any pool text is
/// above the threshold; an accepted one is added and, like the originals,
/// described by its most similar pool texts and its mean similarity.
public final class SimilarityPool {
  private let dedup: GreedyDedup
  private let threshold: Double
  public private(set) var texts: [String]

  public struct Verdict {
    public var kept: Bool
    /// The pool text the candidate is too close to (rejected candidates).
    public var nearest: String?
    /// The ten most similar pool texts with their F, most similar first (accepted candidates).
    public var mostSimilar: JSONObject = [:]
    /// The mean F over the pool (accepted candidates).
    public var average = 0.0
  }

  public init(seeds: [String], threshold: Double) {
    dedup = GreedyDedup(threshold: threshold, reportFloor: 0, threads: 1)
    dedup.seed(seeds)
    texts = seeds
    self.threshold = threshold
  }

  /// Decides on `text`, recording the decision as filter `rouge_l` (a drop's
  /// example shows the pool text it is too close to).
  public func admit(_ text: String, stats: StatsRecorder) -> Verdict {
    let verdict = admit(text)
    stats.filter(
      "rouge_l", kept: verdict.kept, reason: "rouge_l>\(threshold)",
      example: verdict.kept ? nil : text + (verdict.nearest.map { "  ≈  " + $0 } ?? ""))
    return verdict
  }

  public func admit(_ text: String) -> Verdict {
    let tokens = dedup.tokens(text)
    let decision = dedup.process(tokens: [tokens])[0]
    guard decision.kept else { return Verdict(kept: false, nearest: decision.nearest.item.map { texts[$0] }) }
    // Scored against every earlier pool text (the candidate itself is now last).
    let matcher = LCSMatcher(tokens)
    var scores: [(String, Double)] = []
    var sum = 0.0
    for (i, other) in dedup.pool.tokens.dropLast().enumerated() {
      let f = RougeL.fmeasure(lcs: matcher.lcs(other), targetCount: other.count, predictionCount: tokens.count)
      sum += f
      scores.append((texts[i], f))
    }
    scores.sort { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
    texts.append(text)
    return Verdict(
      kept: true, mostSimilar: JSONObject(scores.prefix(10).map { ($0.0, JSONValue.double($0.1)) }),
      average: scores.isEmpty ? 0 : sum / Double(scores.count))
  }
}
