import Foundation
import InstillCore
import InstillJudges
import InstillReverse
import InstillTestSupport
import Testing

/// Humpback's self-curation: reading scores from replies, and the stage against
/// a scripted endpoint.
struct SelfCurateTests {
  @Test(
    arguments: [
      ("The answer is complete and clear.\nScore: 5", 5), ("Reasoning… Score: 4/5", 4), ("**Score:** 3", 3),
      ("score: 2", 2), ("It mentions score 1 first.\nFinal verdict.\nScore: 4", 4), ("Score: 9", nil),
      ("I would rate it highly.", nil), ("Score: 4.5", 4.5), ("Score: 4.", 4), ("Score: 3.75/5", 3.75),
      ("Score: 5.5", nil), ("", nil),
    ] as [(String, Double?)])
  func scoresAreReadFromTheLastScoreLine(reply: String, expected: Double?) {
    #expect(SelfCurateStage.score(reply)?.score == expected, "\(reply)")
  }

  @Test func pairsBelowTheMinimumAndUnparseableRepliesAreDroppedAndCounted() async throws {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, body in
      guard let (chat, text) = FakeModel.promptText(body) else { return .respond(status: 400, headers: [], body: []) }
      let reply: String
      if text.contains("great") {
        reply = "Focused and expert.\nScore: 5"
      } else if text.contains("fine") {
        reply = "Complete, could be shorter.\n**Score:** 4"
      } else if text.contains("meh") {
        reply = "Indirect.\nScore: 2"
      } else if text.contains("almost") {
        reply = "Nearly perfect.\nScore: 4.5"
      } else {
        reply = "I like it."
      }
      return FakeModel.respond(reply, chat: chat)
    }
    defer { server.stop() }
    dir.write(
      "pairs.jsonl",
      ["great", "fine", "meh", "odd", "great too", "almost"].enumerated().map { i, w in
        "{\"id\": \"p\(i)\", \"instruction\": \"Tell me something \(w).\", \"output\": \"Here it is.\"}\n"
      }.joined())
    func pipeline(_ onUnparseable: String, minScore: String = "4") -> String {
      dir.write(
        "p-\(onUnparseable)-\(minScore).yaml",
        """
        name: curate
        llm: {provider: openai, base_url: \(server.baseURL), model: fake}
        stages:
          - kind: read
            path: pairs.jsonl
          - kind: self_curate
            on_unparseable: \(onUnparseable)
            min_score: \(minScore)
        """)
    }
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline("drop"), "--run-dir", run)
    let kept = try stageRecords(run, "02-self_curate")
    #expect(kept.compactMap(\.id) == ["p0", "p1", "p4", "p5"])
    #expect(kept[3].meta["curation"]?.objectValue?["score"] == .double(4.5))
    let curation = kept[1].meta["curation"]?.objectValue
    #expect(curation?["score"] == .int(4))
    #expect(curation?["reasoning"] == .string("Complete, could be shorter."))
    let stats = try await stageStats(run, "self_curate")
    #expect(filterDrops(stats)["score"] == ["below_4": 1])
    #expect(filterDrops(stats)["unparseable"] == ["no_score": 1])
    #expect(stats["counters"]?.objectValue?["score_5"] == .int(2))
    #expect(stats["counters"]?.objectValue?["score_4.5"] == .int(1))
    #expect(stats["records_in"]?.intValue == 6)

    let keepRun = dir.file("keep")
    try await instill(expect: 0, "run", pipeline("keep"), "--run-dir", keepRun)
    let withOdd = try stageRecords(keepRun, "02-self_curate")
    #expect(withOdd.compactMap(\.id) == ["p0", "p1", "p3", "p4", "p5"])
    #expect(withOdd[2].meta["curation"]?.objectValue?["score"] == .null)

    // The paper's stricter set (A5: score ≥ 4.5) keeps the 5s and the 4.5.
    let strict = dir.file("strict")
    try await instill(expect: 0, "run", pipeline("drop", minScore: "a5"), "--run-dir", strict)
    let a5 = try stageRecords(strict, "02-self_curate")
    #expect(a5.compactMap(\.id) == ["p0", "p4", "p5"])
    #expect(filterDrops(try await stageStats(strict, "self_curate"))["score"] == ["below_4.5": 2])
  }
}
