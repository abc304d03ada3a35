import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Every sampled request carries a seed, so on a server that honours seeds
/// (llama-server in `local.reproducible` mode: one slot, no prompt cache) a run
/// killed with SIGKILL in the middle of a method's stage and resumed gives the
/// uninterrupted run's bytes: Evol-Instruct (evolving, judging and answering
/// requests) and Self-Instruct's bootstrap followed by a sampled stage. (A request without a seed got
/// another sample after the resume; measured before seeds were given to every
/// request: 2 of 2 exported Evol records differed.)
@Suite(.serialized)
struct SeededResumeTests {
  static let head = """
    seed: 19
    llm:
      provider: local
      local: {threads: 2, reproducible: true}
    stages:
    """

  /// (method, its pipeline's stages, the journal to watch, replies journaled before the kill).
  static let methods: [(name: String, stages: String, journal: String, killAfter: Int)] = [
    (
      "evol_instruct",
      """
        - kind: read
          path: \(repositoryPath("Seeds/evol/general.json"))
          format: alpaca
          limit: 3
        - kind: evol_instruct
          rounds: 2
          sampling: {max_tokens: 48}
          answer_sampling: {max_tokens: 48}
        - kind: export
          format: alpaca
      """, "02-evol_instruct", 5
    ),
    (
      "self_instruct",
      """
        - kind: read
          path: \(repositoryPath("Seeds/self-instruct/seed_tasks.jsonl"))
          format: self_instruct
        - kind: self_instruct
          target: 4
          prompts_per_round: 2
          sampling: {max_tokens: 128}
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0.9, max_tokens: 32}
        - kind: export
          format: alpaca
      """, "03-generate", 2
    ),
  ]

  @Test(arguments: SeededResumeTests.methods.map(\.name))
  func aKilledRunResumesToTheUninterruptedBytes(method: String) async throws {
    let entry = Self.methods.first { $0.name == method }!
    let dir = TempDir()
    let stages = entry.stages
    let p = dir.write(
      "p.yaml", "name: seeded-\(method.replacingOccurrences(of: "_", with: "-"))\n" + Self.head + "\n" + stages + "\n")
    try await instill(expect: 0, "run", p, "--run-dir", dir.file("whole"))
    let whole = treeDigest(dir.file("whole") + "/data")
    #expect(!whole.isEmpty)

    let run = dir.file("killed")
    let journal = run + "/stages/\(entry.journal)/journal"
    let atKill = try await killAfterJournaled(p, runDir: run, journal: journal, count: entry.killAfter)
    #expect(!FileSystem.exists(run + "/data"), "the kill came after the run")
    try await instill(expect: 0, "run", p, "--run-dir", run)
    #expect(journalKeys(journal).isSuperset(of: atKill))
    #expect(
      treeDigest(run + "/data") == whole, "\(method): the resumed run's dataset differs from the uninterrupted one")
  }
}
