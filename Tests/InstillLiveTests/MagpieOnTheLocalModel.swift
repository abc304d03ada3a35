import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Magpie and topic steering on the embedded model, small targets.
extension LocalModelTests {
  static let magpieSystemPrompts = repositoryPath("Seeds/magpie/system_prompts.txt")

  /// The built-in ChatML pre-query with the shipped rotated system prompts:
  /// at least half the requests end in a closed user turn; SIGKILL mid-stage
  /// and resumed, no journaled request is sent again, and the journals alone
  /// reproduce the instructions.
  @Test func magpieClosesUserTurnsAndResumesAfterKillNine() async throws {
    let dir = TempDir()
    let p = dir.write(
      "magpie.yaml",
      TestPipelines.localHead(name: "magpie-live", seed: 8) + """
          - name: magpie
            kind: magpie
            target: 8
            template: chatml
            system_prompts: \(Self.magpieSystemPrompts)
            answer: false
            language: en
            max_same_opening: 0.5
            prompts_per_round: 4
            sampling: {max_tokens: 96}
          - kind: export
            format: alpaca
        """)
    let resumed = try await assertResumesAfterKill(p, in: dir, stage: "01-magpie", killAfter: 3, replay: true)
    let unterminated = resumed.stats["filters"]?.arrayValue?.compactMap(\.objectValue)
      .first { $0["name"] == .string("unterminated") }
    let seen = unterminated?["seen"]?.intValue ?? 0
    let closed = unterminated?["kept"]?.intValue ?? 0
    #expect(seen > 0 && 2 * closed >= seen, "\(closed) of \(seen) replies closed the user turn")
    let records = try stageRecords(resumed.run, "01-magpie")
    #expect(records.count == 8, "\(resumed.stats)")
    let prompts = try String(contentsOfFile: Self.magpieSystemPrompts, encoding: .utf8).split(separator: "\n")
      .map(String.init)
    #expect(records.allSatisfy { prompts.contains($0.string("system") ?? "") })
    #expect(records.allSatisfy { !$0.instruction.isEmpty && $0.output.isEmpty })
  }

  /// Two-turn conversations with the template read from llama-server
  /// (`template: auto`): user and assistant alternate, and the second user turn
  /// was written after the first exchange.
  @Test func magpieTwoTurnConversationsOnTheServedTemplate() async throws {
    let dir = TempDir()
    let p = dir.write(
      "magpie2.yaml",
      TestPipelines.localHead(name: "magpie-turns", seed: 3) + """
          - name: magpie
            kind: magpie
            target: 2
            turns: 2
            system_prompts: ["You are a helpful assistant. Answer in at most three short sentences."]
            max_same_opening: 1
            prompts_per_round: 4
            sampling: {max_tokens: 96}
            answer_sampling: {max_tokens: 192}
          - kind: export
            format: messages
        """)
    let run = dir.file("run")
    let result = try await instill(expect: 0, "run", p, "--run-dir", run)
    #expect(result.stderr.contains("the served chat template ends a user turn with <|im_end|>"), "\(result.stderr)")
    let records = try stageRecords(run, "01-magpie")
    let stats = try await stageStats(run, "magpie")
    #expect(records.count == 2, "\(stats)")
    for record in records {
      let turns = record["conversation"]?.arrayValue?.compactMap(\.objectValue) ?? []
      #expect(turns.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "user", "assistant"])
      #expect(turns.allSatisfy { !($0["content"]?.stringValue ?? "").isEmpty })
    }
    let rows = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(
      rows.allSatisfy {
        $0["messages"]?.arrayValue?.compactMap { $0.objectValue?["role"]?.stringValue }
          == ["system", "user", "assistant", "user", "assistant"]
      })
  }

  /// Topics on Self-Instruct: every new instruction carries the topic of its
  /// prompt, the topics are counted, and the prompts differ from the unsteered ones.
  @Test func topicsSteerSelfInstructOnTheLocalModel() async throws {
    let dir = TempDir()
    let topics = ["baking bread", "train travel", "prime numbers"]
    dir.write("topics.txt", topics.joined(separator: "\n") + "\n")
    func pipeline(_ name: String, _ steering: String) -> String {
      let stage = """
          - name: bootstrap
            kind: self_instruct
            target: 4
            prompts_per_round: 2
            sampling: {max_tokens: 160}
        \(steering)
        """
      return dir.write("\(name).yaml", TestPipelines.onOurSeeds(name: name) + stage + "\n")
    }
    let steered = dir.file("steered")
    try await instill(expect: 0, "run", pipeline("steered", "    topics: topics.txt"), "--run-dir", steered)
    let records = try stageRecords(steered, "02-bootstrap")
    #expect(records.count == 4)
    #expect(records.allSatisfy { topics.contains($0.meta["topic"]?.stringValue ?? "") })
    let stats = try await stageStats(steered, "bootstrap")
    let kept = stats["steering"]?.objectValue?["topic"]?.objectValue?.map(\.value)
      .compactMap { $0.objectValue?["kept"]?.intValue }.reduce(0, +)
    #expect(kept == 4)
    // The unsteered run's first round is enough to compare requests (exit 3: stopped at the budget).
    let plain = dir.file("plain")
    try await instill(expect: 3, "run", pipeline("plain", ""), "--run-dir", plain, "--max-requests", "2")
    #expect(journalKeys(plain + "/stages/02-bootstrap/journal").count == 2)
    let steeredKeys = journalKeys(steered + "/stages/02-bootstrap/journal")
    #expect(!steeredKeys.isEmpty)
    #expect(steeredKeys.isDisjoint(with: journalKeys(plain + "/stages/02-bootstrap/journal")))
  }
}
