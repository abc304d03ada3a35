import Foundation
import InstillCore
import InstillJudges
import InstillTestSupport
import Testing

/// Critique and revision, and the preference export of judged responses, against scripted endpoints.
struct CritiqueReviseTests {
  /// A model that critiques every answer and revises it by appending " Better.";
  /// it has nothing to say about answers with "flawless", returns answers with "stubborn" unchanged,
  /// and undoes its own revision of answers with "fickle" on the next pass.
  static func reviser() throws -> TestHTTPServer {
    try scriptedServer { prompt, _ in
      if prompt.contains("Critique request:") {
        return prompt.contains("flawless") ? "  " : "The answer could say more."
      }
      if prompt.contains("Revision request:") {
        let answer = prompt.components(separatedBy: "Answer:\n").last?.components(separatedBy: "\n\nCritique:")[0] ?? ""
        if answer.contains("stubborn") { return answer }
        if answer.contains("fickle") && answer.hasSuffix(" Better.") { return String(answer.dropLast(8)) }
        return "Improved answer: " + answer + " Better."
      }
      // The judge: one point per "Better." in the rated answer.
      let better = ratedAnswer(prompt).components(separatedBy: "Better.").count - 1
      return "Rated.\nOverall: \(min(10, 3 + 3 * better))"
    }
  }

  @Test func passesCritiqueAndReviseStopByJudgeAndExportPairs() async throws {
    let dir = TempDir()
    let server = try Self.reviser()
    defer { server.stop() }
    dir.write(
      "a.jsonl",
      ["A plain answer.", "A flawless answer.", "A stubborn answer."].enumerated().map { i, a in
        "{\"id\": \"a\(i)\", \"instruction\": \"Question \(i)?\", \"output\": \"\(a)\"}\n"
      }.joined())
    func pipeline(_ name: String, _ stage: String, export: String = "") -> String {
      dir.write(
        "\(name).yaml",
        """
        name: cr
        seed: 4
        llm: {provider: openai, base_url: \(server.baseURL), model: m}
        stages:
          - {kind: read, path: a.jsonl}
          - kind: critique_revise
        \(stage)
        \(export)
        """)
    }
    let run = dir.file("two")
    try await instill(expect: 0, "run", pipeline("two", "    passes: 2"), "--run-dir", run)
    let revised = try stageRecords(run, "02-critique_revise")
    #expect(revised.compactMap(\.id) == ["a0"])
    #expect(
      revised[0].output == "A plain answer. Better. Better.", "the label is removed, each pass builds on the last")
    let meta = revised[0].meta["critique_revise"]?.objectValue
    #expect(meta?["original"] == .string("A plain answer."))
    let passes = meta?["passes"]?.arrayValue?.compactMap(\.objectValue) ?? []
    #expect(passes.count == 2 && passes.allSatisfy { $0["critique"] == .string("The answer could say more.") })
    let names = try PrincipleSet.parse(
      yaml: String(contentsOfFile: repositoryPath("Sources/Judges/Principles/principles.yaml"), encoding: .utf8),
      file: "p", name: "p"
    ).principles.map(\.name)
    #expect(passes.allSatisfy { names.contains($0["principle"]?.stringValue ?? "") })
    let stats = try await stageStats(run, "critique_revise")
    #expect(filterDrops(stats)["critique_revise"] == ["critique_empty": 1, "unchanged_revision": 1])

    // stop_when: the judge rates the first revision 6, enough for "overall >= 6": one pass only.
    let stopped = dir.file("stop")
    try await instill(
      expect: 0, "run",
      pipeline(
        "stop", "    passes: 3\n    stop_when: \"overall >= 6\"\n    keep_original: true",
        export: "  - {kind: export, format: preference_messages}"),
      "--run-dir", stopped)
    let once = try stageRecords(stopped, "02-critique_revise")[0]
    #expect(once.output == "A plain answer. Better.")
    #expect(once.meta["critique_revise"]?.objectValue?["stopped"] == .string("judge"))
    // keep_original: the revision is chosen over the original.
    let rows = try RecordReader.readAll(path: stopped + "/data/train-00000-of-00001.jsonl.gz")
    #expect(rows.count == 1)
    #expect(rows[0]["prompt"] == .array([.object(["role": .string("user"), "content": .string("Question 0?")])]))
    #expect(rows[0]["chosen"]?.arrayValue?.first?.objectValue?["content"] == .string("A plain answer. Better."))
    #expect(rows[0]["rejected"]?.arrayValue?.first?.objectValue?["content"] == .string("A plain answer."))
    #expect(rows[0]["meta"] == nil, "preference rows carry only what trainers load")
  }

  /// A second pass that returns to the original answer ends the passes: the record keeps
  /// the first revision, not the original dressed up as a revision.
  @Test func aRevisionBackToAnEarlierAnswerEndsThePasses() async throws {
    let dir = TempDir()
    let server = try Self.reviser()
    defer { server.stop() }
    dir.write("a.jsonl", "{\"id\": \"f\", \"instruction\": \"Question?\", \"output\": \"A fickle answer.\"}\n")
    let pipeline = dir.write(
      "p.yaml",
      """
      name: cr
      seed: 4
      llm: {provider: openai, base_url: \(server.baseURL), model: m}
      stages:
        - {kind: read, path: a.jsonl}
        - {kind: critique_revise, passes: 3}
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let revised = try stageRecords(run, "02-critique_revise")
    #expect(revised.map(\.output) == ["A fickle answer. Better."])
    let meta = revised.first?.meta["critique_revise"]?.objectValue
    #expect(meta?["passes"]?.arrayValue?.count == 1)
    #expect(meta?["stopped"] == .string("unchanged_revision"))
  }

  @Test func preferenceExportPairsBestWithWorstOrEveryPairAboveTheMargin() async throws {
    let dir = TempDir()
    func responses(_ scores: [Double?]) -> String {
      "["
        + scores.enumerated().map { i, s in
          "{\"text\": \"answer \(i)\", \"score\": \(s.map { "\($0)" } ?? "null")}"
        }.joined(separator: ", ") + "]"
    }
    dir.write(
      "j.jsonl",
      """
      {"id": "r0", "instruction": "Q0", "responses": \(responses([3, 5, 1, 4]))}
      {"id": "r1", "instruction": "Q1", "responses": \(responses([2, 2]))}
      {"id": "r2", "instruction": "Q2", "responses": \(responses([4, nil]))}
      {"id": "r3", "instruction": "Q3", "input": "with input", "output": "no responses"}

      """)
    func export(_ name: String, _ options: String) async throws -> (rows: [Record], dropped: [String: JSONValue]) {
      let pipeline = dir.write(
        "\(name).yaml",
        """
        name: pref
        stages:
          - {kind: read, path: j.jsonl}
          - {kind: export, format: preference, shuffle: false\(options)}
        """)
      let run = dir.file(name)
      try await instill(expect: 0, "run", pipeline, "--run-dir", run)
      let stats = try await stageStats(run, "export")
      return (
        try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz"),
        stats["dropped"]?.objectValue.map { Dictionary(uniqueKeysWithValues: $0.map { ($0.key, $0.value) }) } ?? [:]
      )
    }
    let best = try await export("best", "")
    #expect(best.rows.count == 1)
    #expect(best.rows[0]["chosen"] == .string("answer 1") && best.rows[0]["rejected"] == .string("answer 2"))
    #expect(best.rows[0]["score_chosen"] == .number("5.0"))
    #expect(best.dropped == ["tie": .int(1), "fewer_than_two_scored_responses": .int(1), "no_responses": .int(1)])
    let all = try await export("all", ", pairs: all, margin: 1")
    // Q0's six pairs: differences 2, 2, 1, 4, 1, 3 — four above the margin of 1.
    #expect(all.rows.count == 4)
    #expect(
      all.rows.allSatisfy { ($0["score_chosen"]?.doubleValue ?? 0) - ($0["score_rejected"]?.doubleValue ?? 0) > 1 })
    #expect(all.dropped["tie"] == .int(3))
    let bad = dir.write(
      "bad.yaml", "name: x\nstages:\n  - {kind: read, path: j.jsonl}\n  - {kind: export, format: messages, margin: 1}\n"
    )
    let result = try await instill(expect: 2, "validate", bad)
    #expect(result.stderr.contains("bad.yaml:4") && result.stderr.contains("margin is for the preference formats"))
  }
}
