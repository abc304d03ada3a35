import Foundation
import InstillCore
import InstillTestSupport
import Synchronization
import Testing

/// `cascade: [cheap, …, strong]` on per-record stages, against two scripted endpoints.
struct CascadeTests {
  /// A chat endpoint that answers "Question N?" with an answer, or with an
  /// empty reply (which `generate` rejects) when `rejects(N)`; it records the
  /// questions it was asked.
  final class Tier: Sendable {
    final class Log: Sendable { let questions = Mutex<[Int]>([]) }
    let server: TestHTTPServer
    let log = Log()

    init(_ name: String, prompt: Int, completion: Int, rejects: @escaping @Sendable (Int) -> Bool) throws {
      let log = self.log
      server = try TestHTTPServer { _, _, body in
        let text = FakeModel.promptText(body)?.text ?? ""
        let n = Int(text.firstMatch(of: /Question (\d+)\?/)?.output.1 ?? "") ?? -1
        log.questions.withLock { $0.append(n) }
        let answer = rejects(n) ? "" : "\(name) answers question \(n)."
        let reply: JSONObject = [
          "choices": .array([
            .object([
              "index": .int(0), "finish_reason": .string("stop"),
              "message": .object(["role": .string("assistant"), "content": .string(answer)]),
            ])
          ]),
          "usage": .object(["prompt_tokens": .int(prompt), "completion_tokens": .int(completion)]),
        ]
        return .respond(status: 200, headers: [], body: JSONWriter.bytes(.object(reply)))
      }
    }

    var asked: [Int] { log.questions.withLock { $0 }.sorted() }
    func stop() { server.stop() }
  }

  func pipeline(_ dir: TempDir, cheap: Tier, strong: Tier, stage: String) -> String {
    var lines = ""
    for i in 0..<20 { lines += "{\"instruction\": \"Question \(i)?\"}\n" }
    dir.write("q.jsonl", lines)
    return dir.write(
      "cascade.yaml",
      """
      name: cascade
      seed: 1
      prices:
        cheap-model: {input: 0.1, output: 0.2, currency: USD, as_of: 2026-11-30}
        strong-model: {input: 2.0, output: 8.0, currency: USD, as_of: 2026-11-30}
      llm: {provider: openai, base_url: \(cheap.server.baseURL), model: cheap-model, max_concurrency: 4}
      endpoints:
        strong: {provider: openai, base_url: \(strong.server.baseURL), model: strong-model}
      stages:
        - kind: read
          path: q.jsonl
          records_per_shard: 8
      \(stage)
        - kind: export
          format: alpaca
          shuffle: false
      """)
  }

  @Test func rejectedRepliesAndOnlyThoseGoToTheNextTierAndTheLastTiersRejectionIsTheDrop() async throws {
    // The cheap tier gives empty replies to odd questions; the strong one to question 15 only.
    let cheap = try Tier("cheap", prompt: 100, completion: 20) { $0 % 2 == 1 }
    let strong = try Tier("strong", prompt: 100, completion: 20) { $0 == 15 }
    defer {
      cheap.stop()
      strong.stop()
    }
    let dir = TempDir()
    let file = pipeline(
      dir, cheap: cheap, strong: strong,
      stage: """
          - kind: generate
            prompt: "{instruction}"
            cascade: [llm, strong]
            sampling: {temperature: 0, max_tokens: 64}
        """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", file, "--run-dir", run, "--quiet")
    #expect(cheap.asked == Array(0..<20))
    #expect(strong.asked == stride(from: 1, to: 20, by: 2).map { $0 })

    let records = try stageRecords(run, "02-generate", shards: 0..<3)
    #expect(records.count == 19)
    for record in records {
      let n = Int(record.instruction.firstMatch(of: /(\d+)/)?.output.1 ?? "") ?? -1
      let tier = n % 2 == 1 ? "strong" : "llm"
      #expect(record.meta["answered_by"] == .string(tier), "\(record.instruction)")
      #expect(record.output == "\(tier == "llm" ? "cheap" : "strong") answers question \(n).")
      #expect(record.meta["model"] == .string(tier == "llm" ? "cheap-model" : "strong-model"))
    }
    let stats = try await stageStats(run, "generate")
    #expect(stats["dropped"] == .object(["empty_reply": .int(1)]))
    let cascade = stats["cascade"]?.objectValue ?? [:]
    let llm = cascade["llm"]?.objectValue ?? [:], top = cascade["strong"]?.objectValue ?? [:]
    #expect(llm["answered"] == .int(10) && llm["escalated"] == .int(10) && llm["position"] == .int(0))
    #expect(top["answered"] == .int(9) && top["escalated"] == .int(0) && top["model"] == .string("strong-model"))

    // Cost per tier and the saving against sending all 20 to the strong tier:
    // cheap: 20 × (100 × 0.1 + 20 × 0.2) = 280e-6; strong: 10 × (100 × 2 + 20 × 8) = 3600e-6;
    // its price for the 10 cheap answers: 10 × 360e-6 = 3600e-6; saved 3600e-6 − 280e-6.
    let entry = MetricsTests.stage(try await statsJSON(run), "generate")
    let cost = entry["cost"]?.objectValue ?? [:]
    let tiers = cost["tiers"]?.objectValue ?? [:]
    #expect(abs((tiers["llm"]?.objectValue?["cost"]?.doubleValue ?? 0) - 280e-6) < 1e-12)
    #expect(abs((tiers["strong"]?.objectValue?["cost"]?.doubleValue ?? 0) - 3600e-6) < 1e-12)
    #expect(abs((cost["cascade_saving"]?.doubleValue ?? 0) - (3600e-6 - 280e-6)) < 1e-12)
    #expect(abs((cost["amount"]?.doubleValue ?? 0) - 3880e-6) < 1e-12)
    let text = try await instill(expect: 0, "stats", run).stdout
    #expect(
      text.contains(
        "cascade: llm (cheap-model) 10 answered, 10 escalated, 0.0002800 USD; strong (strong-model) 9 answered, 0 escalated, 0.003600 USD; saved 0.003320 USD against all on the last tier"
      ), "\(text)")

    // A re-run in a new directory from the same journals asks nothing.
    let replay = dir.file("replay")
    try FileManager.default.createDirectory(atPath: replay + "/stages/02-generate", withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: run + "/stages/02-generate/journal", toPath: replay + "/stages/02-generate/journal")
    let (cheapBefore, strongBefore) = (cheap.asked.count, strong.asked.count)
    try await instill(expect: 0, "run", file, "--run-dir", replay, "--quiet")
    #expect(cheap.asked.count == cheapBefore && strong.asked.count == strongBefore)
    #expect(treeDigest(run + "/data") == treeDigest(replay + "/data"))
  }

  @Test func aCascadeIsRefusedWhereItCannotWork() async throws {
    let cheap = try Tier("cheap", prompt: 1, completion: 1) { _ in false }
    let strong = try Tier("strong", prompt: 1, completion: 1) { _ in false }
    defer {
      cheap.stop()
      strong.stop()
    }
    let dir = TempDir()
    let cases: [(String, String)] = [
      ("cascade: [llm, nowhere]", "no endpoint 'nowhere'"),
      ("cascade: [llm]", "at least two distinct endpoint names"),
      ("cascade: [llm, strong]\n    model: x", "set model in the endpoints"),
      ("cascade: [llm, strong]\n    llm: strong", "either llm or cascade"),
    ]
    for (keys, message) in cases {
      let file = pipeline(
        dir, cheap: cheap, strong: strong,
        stage: "  - kind: generate\n    prompt: \"{instruction}\"\n    \(keys)")
      let result = try await instill(expect: 2, "validate", file)
      #expect(result.stderr.contains(message), "\(keys): \(result.stderr)")
      #expect(result.stderr.contains("cascade.yaml:"), "\(keys): \(result.stderr)")
    }
    let growth = pipeline(
      dir, cheap: cheap, strong: strong,
      stage: "  - kind: self_instruct\n    target: 5\n    cascade: [llm, strong]")
    let refused = try await instill(expect: 2, "validate", growth)
    #expect(refused.stderr.contains("cascade works on per-record LLM stages"), "\(refused.stderr)")
  }
}
