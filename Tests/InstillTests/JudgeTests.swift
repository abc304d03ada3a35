import Foundation
import InstillCore
import InstillJudges
import InstillTestSupport
import Testing

/// A scripted endpoint whose reply is a function of the prompt text and the request body.
func scriptedServer(_ reply: @escaping @Sendable (_ prompt: String, _ body: JSONObject) -> String) throws
  -> TestHTTPServer
{
  try TestHTTPServer { _, _, body in
    guard let (chat, text) = FakeModel.promptText(body), let object = try? JSONParser.parse(body).objectValue else {
      return .respond(status: 400, headers: [], body: [])
    }
    return FakeModel.respond(reply(text, object), chat: chat)
  }
}

/// The last `Answer:` block of a rating prompt (the answer being rated).
func ratedAnswer(_ prompt: String) -> String {
  prompt.components(separatedBy: "Answer:\n").last ?? ""
}

/// The LLM judge: rubrics as data, keep rules, votes, pairwise comparisons,
/// candidates and the preference export, against scripted endpoints.
struct JudgeTests {
  @Test func builtInRubricsParseAndRenderEveryLevel() throws {
    for name in Rubric.builtinNames {
      let rubric = try Rubric.builtin(name)
      #expect(!rubric.criteria.isEmpty)
      for criterion in rubric.criteria {
        for (level, description) in criterion.levels {
          #expect(rubric.instructions.contains("\(level): \(description)"))
        }
      }
      // Every demonstration's rating parses back to its scores.
      for demo in rubric.demonstrations {
        #expect(rubric.parse(rubric.rating(reasoning: demo.reasoning, scores: demo.scores))?.scores == demo.scores)
      }
    }
    let uf = try Rubric.builtin("ultrafeedback")
    #expect(uf.criteria.map(\.name) == ["instruction_following", "helpfulness", "truthfulness", "honesty"])
    let reply = "Fine.\n**Instruction following:** 5\nHelpfulness: 4\nTruthfulness: 4/5\nHonesty: 3"
    #expect(
      uf.parse(reply)?.scores == ["instruction_following": 5, "helpfulness": 4, "truthfulness": 4, "honesty": 3])
    #expect(uf.parse(reply)?.reasoning == "Fine.")
    #expect(uf.parse("Helpfulness: 4\nTruthfulness: 4\nHonesty: 3") == nil, "a missing criterion is unparseable")
    #expect(uf.parse("Instruction following: 9\nHelpfulness: 4\nTruthfulness: 4\nHonesty: 3") == nil)
  }

  @Test func keepRulesCompareCriteriaAndAggregates() throws {
    let rubric = try Rubric.builtin("ultrafeedback")
    func rule(_ text: String) throws -> KeepRule {
      try KeepRule(ConfigNode.parse(yaml: "\"\(text)\"", file: "p.yaml", what: "test"), rubric: rubric)
    }
    let scores: [String: Double] = ["instruction_following": 5, "helpfulness": 4, "truthfulness": 2, "honesty": 3]
    #expect(try rule("helpfulness >= 4").passes(scores))
    #expect(try !rule("min >= 3").passes(scores))
    #expect(try rule("mean>=3.5").passes(scores))
    #expect(try rule("truthfulness >= 4 or max == 5").passes(scores))
    #expect(try !rule("truthfulness >= 4 or max == 5 and min > 2").passes(scores))
    for bad in ["overall >= 4", "helpfulness >=", "helpfulness => 4", "min >= 3 and", "mean 4"] {
      #expect(throws: InstillError.self, "\(bad)") { try rule(bad) }
    }
  }

  @Test func rubricAndKeepMistakesExitTwoNamingFileAndLine() async throws {
    let dir = TempDir()
    dir.write("r.jsonl", "{\"instruction\": \"Say hi.\", \"output\": \"Hi.\"}\n")
    let good = """
      name: mine
      criteria:
        - name: clarity
          question: How clear is the answer?
          scale: [1, 5]
          levels: {1: muddled., 5: crystal clear.}
      """
    let mistakes: [(String, String, String)] = [
      ("level", good.replacingOccurrences(of: "5: crystal", with: "7: crystal"), "bad.yaml:6"),
      ("scale", good.replacingOccurrences(of: "[1, 5]", with: "[5, 1]"), "bad.yaml:5"),
      ("key", good + "\n    weight: 2", "bad.yaml:7"),
      (
        "demo",
        good + "\ndemonstrations:\n  - {instruction: a, answer: b, reasoning: c, scores: {helpfulness: 3}}",
        "bad.yaml:8"
      ),
    ]
    for (what, text, location) in mistakes {
      dir.write("bad.yaml", text)
      let pipeline = dir.write(
        "p-\(what).yaml",
        """
        name: judge
        llm: {provider: openai, base_url: http://127.0.0.1:9/v1, model: m}
        stages:
          - {kind: read, path: r.jsonl}
          - {kind: judge, rubric: bad.yaml}
        """)
      let result = try await instill(expect: 2, "validate", pipeline)
      #expect(result.stderr.contains(location), "\(what): \(result.stderr)")
    }
    dir.write("bad.yaml", good)
    let badKeep = dir.write(
      "p-keep.yaml",
      """
      name: judge
      llm: {provider: openai, base_url: http://127.0.0.1:9/v1, model: m}
      stages:
        - {kind: read, path: r.jsonl}
        - kind: judge
          rubric: bad.yaml
          keep: "helpfulness >= 4"
      """)
    let result = try await instill(expect: 2, "validate", badKeep)
    #expect(result.stderr.contains("p-keep.yaml:7") && result.stderr.contains("unknown criterion 'helpfulness'"))
  }

  @Test func pointwiseJudgeScoresKeepsByRuleCountsLevelsAndAggregatesVotes() async throws {
    let dir = TempDir()
    // Good answers get 5s, bad ones 2s, odd ones no score; with votes, the
    // seed decides a vote's helpfulness (4, 5 or 3) so aggregation shows.
    let server = try scriptedServer { prompt, body in
      let answer = ratedAnswer(prompt)
      let seed = body["seed"]?.intValue
      let helpfulness = seed.map { [4, 5, 3][$0 % 3] } ?? 5
      if answer.contains("good") {
        return "Clear.\nInstruction following: 5\nHelpfulness: \(helpfulness)\nTruthfulness: 5\nHonesty: 5"
      }
      if answer.contains("bad") {
        return "Weak.\nInstruction following: 2\nHelpfulness: 2\nTruthfulness: 3\nHonesty: 2"
      }
      return "I cannot say."
    }
    defer { server.stop() }
    dir.write(
      "r.jsonl",
      ["good one", "bad one", "odd one", "good two"].enumerated().map { i, w in
        "{\"id\": \"r\(i)\", \"instruction\": \"Task \(i).\", \"output\": \"A \(w).\"}\n"
      }.joined())
    func run(_ name: String, _ extra: String) async throws -> String {
      let pipeline = dir.write(
        "\(name).yaml",
        """
        name: judge
        seed: 3
        llm: {provider: openai, base_url: \(server.baseURL), model: judge-model}
        stages:
          - {kind: read, path: r.jsonl}
          - kind: judge
            rubric: ultrafeedback
        \(extra)
        """)
      let run = dir.file(name)
      try await instill(expect: 0, "run", pipeline, "--run-dir", run)
      return run
    }
    let plain = try await run("plain", "    keep: \"min >= 3\"")
    let kept = try stageRecords(plain, "02-judge")
    #expect(kept.compactMap(\.id) == ["r0", "r3"])
    let judge = kept[0].meta["judge"]?.objectValue
    #expect(judge?["rubric"] == .string("ultrafeedback"))
    #expect(judge?["scores"]?.objectValue?["helpfulness"] == .int(5))
    #expect(judge?["reasoning"] == .string("Clear."))
    #expect(judge?["model"] == .string("judge-model"))
    let stats = try await stageStats(plain, "judge")
    #expect(filterDrops(stats)["unparseable"] == ["no_score": 1])
    #expect(filterDrops(stats)["keep"] == ["not(min >= 3)": 1])
    // The distribution of each criterion, with examples at each level.
    let helpfulness = stats["scores"]?.objectValue?["helpfulness"]?.objectValue
    #expect(
      helpfulness?["counts"]?.objectValue?["5"] == .int(2) && helpfulness?["counts"]?.objectValue?["2"] == .int(1))
    #expect(helpfulness?["examples"]?.objectValue?["2"]?.arrayValue == [.string("Task 1.")])
    let text = try await instill(expect: 0, "stats", plain).stdout
    #expect(text.contains("scores helpfulness: 2×1 5×2"), "\(text)")
    // The report shows each criterion's distribution and the records at each score.
    try await instill(expect: 0, "report", plain)
    let html = try String(contentsOfFile: plain + "/report.html", encoding: .utf8)
    #expect(html.contains("Scores: helpfulness") && html.contains("helpfulness 2: 1 records, examples"))
    #expect(html.contains("<pre>Task 1.</pre>"))

    // Unparseable replies kept when asked, without scores.
    let keepOdd = try stageRecords(try await run("keepodd", "    on_unparseable: keep"), "02-judge")
    #expect(keepOdd.compactMap(\.id) == ["r0", "r1", "r2", "r3"])
    #expect(keepOdd[2].meta["judge"]?.objectValue?["scores"] == .null)

    // Three seeded votes per record: the median of helpfulness 4, 5, 3 (one per seed) … whatever the seeds
    // drew, the aggregate is the median of the recorded votes.
    let voted = try stageRecords(try await run("votes", "    votes: 3\n    aggregate: median"), "02-judge")
    for record in voted where record.output.contains("good") {
      let judge = record.meta["judge"]?.objectValue
      let votes = judge?["votes"]?.arrayValue?.compactMap { $0.objectValue?["helpfulness"]?.doubleValue } ?? []
      #expect(votes.count == 3)
      #expect(judge?["scores"]?.objectValue?["helpfulness"]?.doubleValue == votes.sorted()[1])
    }
    let sent = try await stageStats(dir.file("votes"), "judge")["llm"]?.objectValue?["requests_sent"]?.intValue
    #expect(sent == 12)
  }

  /// Four candidates of two prompts: a judge that always prefers the answer
  /// shown first yields no preference at all; one that prefers the longer answer
  /// in either position yields pairs, and the export writes them.
  @Test func pairwiseAsksBothOrdersAndCountsPositionBias() async throws {
    let dir = TempDir()
    // Candidate answers: their length grows with the seed's last digit.
    let server = try scriptedServer { prompt, body in
      if prompt.contains("Answer A:") {
        if prompt.contains("BIASED") { return "Both fine.\nBetter: A" }
        let a = prompt.components(separatedBy: "Answer A:\n").last?.components(separatedBy: "\n\nAnswer B:\n") ?? []
        guard a.count == 2 else { return "?" }
        return a[0].count >= a[1].count ? "A is fuller.\nBetter: A" : "B is fuller.\nBetter: B"
      }
      let n = (body["seed"]?.intValue ?? 0) % 50 + 1
      return String(repeating: "word ", count: n) + "end"
    }
    defer { server.stop() }
    dir.write(
      "q.jsonl",
      "{\"id\": \"q0\", \"instruction\": \"Say a lot.\"}\n{\"id\": \"q1\", \"instruction\": \"BIASED ask.\"}\n")
    let pipeline = dir.write(
      "p.yaml",
      """
      name: pairs
      seed: 9
      llm: {provider: openai, base_url: \(server.baseURL), model: m}
      stages:
        - {kind: read, path: q.jsonl}
        - kind: generate
          prompt: "{prompt}"
          candidates: 4
          sampling: {temperature: 1}
        - kind: judge
          mode: pairwise
        - kind: export
          format: preference
          pairs: all
          shuffle: false
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let candidates = try stageRecords(run, "02-generate")
    #expect(candidates.map { $0["responses"]?.arrayValue?.count } == [4, 4])
    let judged = try stageRecords(run, "03-judge")
    let stats = try await stageStats(run, "judge")
    let counters = stats["counters"]?.objectValue ?? [:]
    #expect(counters["comparisons"] == .int(12))
    // Every pair of the biased prompt: both orders said "A".
    #expect(counters["position_inconsistent"] == .int(6))
    let llm = stats["llm"]?.objectValue
    #expect((llm?["requests_sent"]?.intValue ?? 0) + (llm?["answered_from_journal"]?.intValue ?? 0) == 24)
    let biased = judged[1]["responses"]?.arrayValue?.compactMap { $0.objectValue?["score"]?.intValue }
    #expect(biased == [0, 0, 0, 0])
    let lengths = Set(
      candidates[0]["responses"]?.arrayValue?.compactMap { $0.objectValue?["text"]?.stringValue?.count } ?? [])
    let rows = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    // Distinct lengths give one preference per pair of different lengths; the biased prompt none.
    #expect(rows.allSatisfy { $0["prompt"] == .string("Say a lot.") })
    #expect(rows.allSatisfy { ($0["chosen"]?.stringValue?.count ?? 0) > ($0["rejected"]?.stringValue?.count ?? 0) })
    #expect(lengths.count == 4, "the seeds gave four different answers")
    #expect(rows.count == 6)
    let exportStats = try await stageStats(run, "export")
    #expect(exportStats["dropped"]?.objectValue?["tie"]?.intValue == 12 - rows.count)
  }

  @Test func candidatesComeFromEachModelWithTheirOwnSeeds() async throws {
    let dir = TempDir()
    let log = RequestLog()
    let server = try scriptedServer { _, body in
      let model = body["model"]?.stringValue ?? "?"
      let seed = body["seed"]?.intValue ?? -1
      log.add("\(model)/\(seed)")
      return "answer from \(model) with seed \(seed)"
    }
    defer { server.stop() }
    dir.write("q.jsonl", "{\"id\": \"q0\", \"instruction\": \"Name a colour.\"}\n")
    let pipeline = dir.write(
      "p.yaml",
      """
      name: cands
      llm: {provider: openai, base_url: \(server.baseURL), model: m}
      stages:
        - {kind: read, path: q.jsonl}
        - kind: generate
          prompt: "{prompt}"
          candidates: 2
          models: [small, large]
          sampling: {temperature: 0.9}
      """)
    try await instill(expect: 0, "run", pipeline, "--run-dir", dir.file("run"))
    let record = try stageRecords(dir.file("run"), "02-generate")[0]
    let responses = record["responses"]?.arrayValue?.compactMap(\.objectValue) ?? []
    #expect(responses.map { $0["model"]?.stringValue } == ["small", "small", "large", "large"])
    #expect(Set(responses.compactMap { $0["text"]?.stringValue }).count == 4)
    #expect(record.output == responses[0]["text"]?.stringValue)
    #expect(Set(log.all.map { $0.split(separator: "/")[1] }).count == 2, "a seed per draw, the same across models")
  }

  /// A judge on another server than the generator: `endpoints.judge` and the stage's `llm: judge`.
  @Test func aJudgeOnItsOwnEndpoint() async throws {
    let dir = TempDir()
    let generated = RequestLog()
    let judged = RequestLog()
    let generator = try scriptedServer { _, body in
      generated.add(body["model"]?.stringValue ?? "")
      return "An answer."
    }
    defer { generator.stop() }
    let judge = try scriptedServer { _, body in
      judged.add(body["model"]?.stringValue ?? "")
      return "Good.\nOverall: 8"
    }
    defer { judge.stop() }
    dir.write("q.jsonl", "{\"instruction\": \"Name a colour.\"}\n{\"instruction\": \"Name a fruit.\"}\n")
    let pipeline = dir.write(
      "p.yaml",
      """
      name: two-endpoints
      llm: {provider: openai, base_url: \(generator.baseURL), model: small}
      endpoints:
        judge: {base_url: \(judge.baseURL), model: large, max_concurrency: 2, sampling: {top_p: 0.5}}
      stages:
        - {kind: read, path: q.jsonl}
        - {kind: generate, prompt: "{prompt}"}
        - {kind: judge, llm: judge, keep: "overall >= 7"}
      """)
    let explained = try await instill(expect: 0, "validate", pipeline, "--explain").stdout
    #expect(
      explained.contains("on endpoint judge (\(judge.baseURL))") && explained.contains("large  (endpoints.judge.model)")
    )
    #expect(explained.contains("0.5  (endpoints.judge.sampling)"), "\(explained)")
    try await instill(expect: 0, "run", pipeline, "--run-dir", dir.file("run"))
    #expect(generated.all == ["small", "small"])
    #expect(judged.all == ["large", "large"])
    let kept = try stageRecords(dir.file("run"), "03-judge")
    #expect(kept.count == 2 && kept.allSatisfy { $0.meta["judge"]?.objectValue?["model"] == .string("large") })

    let unknown = dir.write(
      "bad.yaml",
      """
      name: bad
      llm: {provider: openai, base_url: \(generator.baseURL), model: small}
      stages:
        - {kind: read, path: q.jsonl}
        - kind: judge
          llm: judges
      """)
    let failed = try await instill(expect: 2, "validate", unknown)
    #expect(failed.stderr.contains("bad.yaml:6") && failed.stderr.contains("no endpoint 'judges'"))
  }
}
