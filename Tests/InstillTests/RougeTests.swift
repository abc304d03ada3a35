import Foundation
import InstillCore
import InstillRouge
import InstillTestSupport
import Testing

/// ROUGE-L against fixtures produced by the real rouge-score 0.1.2
/// (Scripts/make-rouge-fixtures), and properties checked against brute force.
struct RougeTests {
  static func fixture(_ name: String) throws -> [JSONObject] {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)")
      .path
    return try RecordReader.readAll(path: path).map(\.fields)
  }

  @Test func tokenizerMatchesRougeScore() throws {
    let rows = try Self.fixture("rouge-tokens.jsonl")
    #expect(rows.count > 300)
    for row in rows {
      let text = row["text"]?.stringValue ?? ""
      let expected = row["tokens"]?.arrayValue?.compactMap(\.stringValue) ?? []
      #expect(RougeTokenizer.rougeScore.tokens(text) == expected, "\(text)")
    }
  }

  @Test func pairScoresMatchRougeScore() throws {
    let rows = try Self.fixture("rouge-pairs.jsonl")
    #expect(rows.count >= 1500)
    let vocabulary = Vocabulary()
    for row in rows {
      let target = vocabulary.ids(row["target"]?.stringValue ?? "", tokenizer: .rougeScore)
      let prediction = vocabulary.ids(row["prediction"]?.stringValue ?? "", tokenizer: .rougeScore)
      let lcs = LCSMatcher(prediction).lcs(target)
      #expect(lcs == RougeL.lcsLength(target, prediction))
      let f = RougeL.fmeasure(lcs: lcs, targetCount: target.count, predictionCount: prediction.count)
      let p = prediction.isEmpty || target.isEmpty ? 0 : Double(lcs) / Double(prediction.count)
      let r = prediction.isEmpty || target.isEmpty ? 0 : Double(lcs) / Double(target.count)
      #expect(abs(f - (row["f"]?.doubleValue ?? -1)) <= 1e-12, "\(row)")
      #expect(abs(p - (row["p"]?.doubleValue ?? -1)) <= 1e-12)
      #expect(abs(r - (row["r"]?.doubleValue ?? -1)) <= 1e-12)
    }
  }

  @Test(arguments: [1, 7, 512], [1, 2])
  func greedyDecisionsMatchTheAlpacaLoop(batchSize: Int, threads: Int) throws {
    let rows = try Self.fixture("rouge-greedy.jsonl")
    #expect(rows.count >= 2000)
    for floor in [0.5, 0.0] {
      let dedup = GreedyDedup(threshold: 0.7, reportFloor: floor, threads: threads)
      var decisions: [GreedyDedup.Decision] = []
      var start = 0
      while start < rows.count {
        let texts = rows[start..<min(rows.count, start + batchSize)].map { $0["text"]?.stringValue ?? "" }
        decisions += dedup.process(texts)
        start += batchSize
      }
      var mismatches = 0
      for (row, decision) in zip(rows, decisions) {
        let kept = row["kept"]?.boolValue ?? false
        let maxF = row["max_f"]?.doubleValue ?? 0
        if decision.kept != kept { mismatches += 1 }
        if let item = decision.nearest.item {
          #expect(abs(decision.nearest.score - maxF) <= 1e-12, "\(row)")
          if kept, let nearest = row["nearest"]?.intValue { #expect(item == nearest, "\(row)") }
        } else {
          #expect(maxF < max(floor, 1e-300) || maxF == 0, "a neighbour at \(maxF) was not reported (floor \(floor))")
        }
      }
      #expect(mismatches == 0)
    }
    let keptCount = rows.filter { $0["kept"]?.boolValue == true }.count
    #expect(keptCount > 100 && keptCount < rows.count, "the fixture must exercise both decisions")
  }

  @Test func fIsSymmetricAndOneForIdenticalLists() {
    var random = SeededRandom(seed: 9)
    for _ in 0..<500 {
      let a = (0..<random.below(30)).map { _ in UInt32(random.below(8)) }
      let b = (0..<random.below(30)).map { _ in UInt32(random.below(8)) }
      #expect(RougeL.fmeasure(a, b) == RougeL.fmeasure(b, a))
      if !a.isEmpty { #expect(RougeL.fmeasure(a, a) == 1) }
    }
    #expect(RougeL.fmeasure([UInt32](), [1, 2]) == 0)
  }

  @Test func bitParallelLCSEqualsDynamicProgramming() {
    var random = SeededRandom(seed: 10)
    for _ in 0..<400 {
      let a = (0..<random.below(260)).map { _ in UInt32(random.below(12)) }
      let b = (0..<random.below(260)).map { _ in UInt32(random.below(12)) }
      #expect(LCSMatcher(a).lcs(b) == RougeL.lcsLength(a, b), "\(a.count)×\(b.count)")
    }
  }

  /// The filters (length, overlap, prefix index) never prune a pair whose true F
  /// exceeds the threshold: decisions and reported neighbours equal brute force.
  @Test(arguments: [0.3, 0.5, 0.7, 0.9])
  func pruningNeverChangesADecision(threshold: Double) {
    var random = SeededRandom(seed: UInt64(threshold * 100))
    let base = (0..<40).map { _ in (0..<(3 + random.below(20))).map { _ in UInt32(random.below(25)) } }
    var items: [[UInt32]] = []
    for _ in 0..<600 {
      var t = base[random.below(base.count)]
      for _ in 0..<random.below(6) {
        switch random.below(3) {
        case 0 where !t.isEmpty: t.remove(at: random.below(t.count))
        case 1: t.insert(UInt32(random.below(25)), at: random.below(t.count + 1))
        default: if t.count > 1 { t.swapAt(random.below(t.count), random.below(t.count)) }
        }
      }
      items.append(t)
    }
    let dedup = GreedyDedup(threshold: threshold, reportFloor: 0, threads: 2)
    var decisions: [GreedyDedup.Decision] = []
    for chunk in stride(from: 0, to: items.count, by: 64) {
      decisions += dedup.process(tokens: Array(items[chunk..<min(items.count, chunk + 64)]))
    }
    var kept: [[UInt32]] = []
    for (t, decision) in zip(items, decisions) {
      let best = kept.map { RougeL.fmeasure($0, t) }.max() ?? 0
      #expect(decision.kept == (best <= threshold))
      if best > 0 { #expect(abs(decision.nearest.score - best) < 1e-12) }
      if best <= threshold { kept.append(t) }
    }
  }

  /// With groups (lineages), a text is compared only with kept texts of other
  /// groups; texts without a group meet every kept text. Decisions and
  /// reported neighbours equal brute force, at any batch size.
  @Test(arguments: [1, 37, 512])
  func groupedDecisionsEqualBruteForce(batchSize: Int) {
    var random = SeededRandom(seed: 77)
    let base = (0..<30).map { _ in (0..<(4 + random.below(16))).map { _ in UInt32(random.below(30)) } }
    var items: [(tokens: [UInt32], group: Int32)] = []
    for _ in 0..<500 {
      var t = base[random.below(base.count)]
      for _ in 0..<random.below(4) { t.insert(UInt32(random.below(30)), at: random.below(t.count + 1)) }
      // 12 lineages, and some texts with none.
      let group = random.below(5) == 0 ? RougePool.noGroup : Int32(random.below(12))
      items.append((t, group))
    }
    let dedup = GreedyDedup(threshold: 0.7, reportFloor: 0, threads: 2)
    var decisions: [GreedyDedup.Decision] = []
    for chunk in stride(from: 0, to: items.count, by: batchSize) {
      let slice = items[chunk..<min(items.count, chunk + batchSize)]
      decisions += dedup.process(tokens: slice.map(\.tokens), groups: slice.map(\.group))
    }
    var kept: [(tokens: [UInt32], group: Int32)] = []
    var keptInOwnGroup = 0
    for (item, decision) in zip(items, decisions) {
      let others = kept.filter { $0.group == RougePool.noGroup || $0.group != item.group }
      let best = others.map { RougeL.fmeasure($0.tokens, item.tokens) }.max() ?? 0
      #expect(decision.kept == (best <= 0.7))
      if best > 0 { #expect(abs(decision.nearest.score - best) < 1e-12) }
      if best <= 0.7 {
        if kept.contains(where: {
          $0.group == item.group && item.group != RougePool.noGroup
            && RougeL.fmeasure($0.tokens, item.tokens) > 0.7
        }) {
          keptInOwnGroup += 1
        }
        kept.append(item)
      }
    }
    // The groups mattered: some texts were kept only because their near twin is of their own lineage.
    #expect(keptInOwnGroup > 10)
  }

  @Test func unicodeTokenizerSplitsCJKAndKeepsAccents() {
    #expect(RougeTokenizer.unicode.tokens("Café naïve 日本語 test") == ["café", "naïve", "日", "本", "語", "test"])
    #expect(RougeTokenizer.rougeScore.tokens("Café naïve 日本語 test") == ["caf", "na", "ve", "test"])
  }
}
