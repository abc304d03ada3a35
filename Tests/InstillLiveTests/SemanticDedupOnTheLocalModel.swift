import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Semantic dedup through the embedded model's `/v1/embeddings` (llama-server
/// started with `--embeddings` for the stage).
extension LocalModelTests {
  /// The seed instructions plus a copy of every tenth one (a 135M chat model's
  /// mean-pooled embeddings put unrelated instructions at cosine 0.9 and more, and
  /// light rewordings anywhere from 0.64 to 0.97, so the test plants exact copies,
  /// which the stage drops without asking for their embeddings): killed with SIGKILL mid-stage and resumed, no
  /// journaled embedding is asked for again, the copies are dropped, and a replay
  /// of the journal gives the same dataset without starting a server.
  @Test func semanticDedupOnEmbeddingsResumesFromItsJournal() async throws {
    let dir = TempDir()
    let seeds = try RecordReader.readAll(path: repositoryPath("Seeds/self-instruct/seed_tasks.jsonl"))
    var lines: [String] = []
    var copies: [String] = []
    for (i, seed) in seeds.enumerated() {
      lines.append(JSONWriter.string(.object(["id": .string("s\(i)"), "instruction": .string(seed.instruction)])))
      if i % 10 == 0 {
        copies.append("copy\(i)")
        lines.append(
          JSONWriter.string(.object(["id": .string("copy\(i)"), "instruction": .string(seed.instruction)]))
        )
      }
    }
    dir.write("instructions.jsonl", lines.joined(separator: "\n") + "\n")
    let pipeline = dir.write(
      "p.yaml",
      """
      name: semantic-live
      llm: {provider: local, max_concurrency: 2}
      stages:
        - {kind: read, path: instructions.jsonl}
        - {kind: semantic_dedup, threshold: 0.99}
        - {kind: export, format: alpaca, shuffle: false}
      """)
    let resumed = try await assertResumesAfterKill(
      pipeline, in: dir, stage: "02-semantic_dedup", killAfter: 60, replay: true)
    #expect(resumed.stderr.contains("--embeddings"), "the stage started llama-server with --embeddings")
    let kept = try stageRecords(resumed.run, "02-semantic_dedup").compactMap(\.id)
    #expect(!kept.isEmpty && kept.first == "s0")
    let stats = resumed.stats
    #expect(stats["records_in"]?.intValue == seeds.count + copies.count)
    let drops = filterDrops(stats)["semantic"] ?? [:]
    #expect(filterDrops(stats)["exact"] == ["exact_duplicate": copies.count], "copies are never embedded")
    #expect(drops["cosine>0.99", default: 0] == seeds.count - kept.count)
    #expect(Set(kept).isDisjoint(with: copies))
    #expect(kept.count > seeds.count / 2, "most distinct instructions stay at 0.99 (\(kept.count) of \(seeds.count))")
  }
}
