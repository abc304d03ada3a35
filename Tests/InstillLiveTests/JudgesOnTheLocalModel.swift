import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Judges, candidates, preference data and critique-revise on the embedded
/// model, small targets: eight one-line questions (the head `generate` tests use).
extension LocalModelTests {
  static func judgePipeline(_ dir: TempDir, name: String, stages: String) -> String {
    TestPipelines.questions(dir, count: 8)
    return dir.write(
      "\(name).yaml",
      TestPipelines.localHead(name: name, seed: 5) + """
          - kind: read
            path: questions.jsonl
        \(stages)
        """)
  }

  /// Three seeded candidates per question → the UltraFeedback-style judge
  /// (schema-constrained JSON, two votes per answer) → preference export (every
  /// pair of differently scored answers: the tiny model's scores cluster, so
  /// best-against-worst alone could tie everywhere) that `datasets` loads, with
  /// chosen ≠ rejected on every row.
  @Test func preferencePairsFromJudgedCandidates() async throws {
    let dir = TempDir()
    let pipeline = Self.judgePipeline(
      dir, name: "preference",
      stages: """
          - kind: generate
            prompt: "{prompt}"
            candidates: 3
            sampling: {temperature: 0.9, max_tokens: 48}
          - kind: judge
            rubric: ultrafeedback
            format: json
            votes: 2
            aggregate: mean
            sampling: {max_tokens: 200}
          - kind: export
            format: preference
            pairs: all
        """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let candidates = try stageRecords(run, "02-generate")
    #expect(candidates.count == 8)
    for record in candidates {
      let texts = record["responses"]?.arrayValue?.compactMap { $0.objectValue?["text"]?.stringValue } ?? []
      #expect(texts.count == 3)
    }
    let judge = try await stageStats(run, "judge")
    #expect(judge["llm"]?.objectValue?["requests_sent"]?.intValue == 8 * 3 * 2)
    let judged = try stageRecords(run, "03-judge")
    #expect(!judged.isEmpty)
    for record in judged {
      let meta = record.meta["judge"]?.objectValue
      #expect(meta?["rubric"] == .string("ultrafeedback"))
      // The rubric's four criteria, each the mean of the parsed votes.
      let scores = meta?["scores"]?.objectValue
      #expect(scores?.count == 4)
      let votes = meta?["votes"]?.arrayValue?.compactMap { $0.objectValue?["helpfulness"]?.doubleValue } ?? []
      #expect(!votes.isEmpty && votes.count <= 2)
      let mean = (votes.reduce(0, +) / Double(max(1, votes.count)) * 100).rounded() / 100
      #expect(scores?["helpfulness"]?.doubleValue == mean)
      #expect((1...5).contains(scores?["helpfulness"]?.doubleValue ?? 0))
    }
    let histogram = judge["scores"]?.objectValue?["helpfulness"]?.objectValue?["counts"]?.objectValue ?? [:]
    #expect(histogram.reduce(0) { $0 + ($1.value.intValue ?? 0) } > 0)

    let loaded = try await loadWithDatasets(run + "/data", scratch: dir.file("hf"))
    let rows = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(!rows.isEmpty, "the judge told no candidates apart")
    #expect(loaded.status == 0, "\(loaded.stderr)")
    #expect(loaded.train == rows.count)
    #expect(Set(loaded.columns).isSuperset(of: ["prompt", "chosen", "rejected"]))
    #expect(rows.allSatisfy { $0["chosen"] != $0["rejected"] })
    #expect(rows.allSatisfy { ($0["score_chosen"]?.doubleValue ?? 0) > ($0["score_rejected"]?.doubleValue ?? 0) })
  }

  /// Answer → critique and revise (two passes), killed with SIGKILL mid-stage
  /// and resumed: no journaled request is sent again; the revisions replace the
  /// outputs with the originals and critiques in meta.
  @Test func critiqueReviseResumedAfterKillNine() async throws {
    let dir = TempDir()
    let pipeline = Self.judgePipeline(
      dir, name: "critique",
      stages: """
          - kind: generate
            prompt: "{prompt}"
            sampling: {temperature: 0, max_tokens: 48}
          - kind: critique_revise
            passes: 2
            sampling: {max_tokens: 80}
          - kind: export
            format: messages
        """)
    let resumed = try await assertResumesAfterKill(
      pipeline, in: dir, stage: "03-critique_revise", killAfter: 8, replay: true)
    let revised = try stageRecords(resumed.run, "03-critique_revise")
    let answers = Dictionary(
      uniqueKeysWithValues: try stageRecords(resumed.run, "02-generate").map { ($0.instruction, $0.output) })
    for record in revised {
      let meta = record.meta["critique_revise"]?.objectValue
      #expect(meta?["original"]?.stringValue == answers[record.instruction])
      #expect(record.output != answers[record.instruction])
      #expect((meta?["passes"]?.arrayValue?.count ?? 0) >= 1)
    }
    #expect(resumed.stats["records_in"]?.intValue == 8)
    #expect(!revised.isEmpty)
  }
}
