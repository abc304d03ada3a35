import Foundation
import InstillCore
import InstillEvolInstruct
import InstillTestSupport
import Synchronization
import Testing

/// Evol-Instruct: operation sets, elimination rules on recorded replies, and the
/// stage against a scripted fake endpoint.
struct EvolTests {
  @Test func everyBuiltinOperationRendersItsInstruction() throws {
    let general = try OperationSet.named("general")
    #expect(
      general.operations.map(\.name) == [
        "add_constraints", "deepen", "concretize", "increase_reasoning",
        "complicate_input", "breadth",
      ])
    #expect(general.operations.filter { $0.kind == .depth }.count == 5)
    #expect(general.markers == ["#Original Prompt#", "#New Prompt#"])
    let code = try OperationSet.named("code")
    #expect(
      code.operations.map(\.name) == [
        "add_code_constraints", "rarer_requirement", "more_reasoning_steps",
        "erroneous_code", "higher_complexity",
      ])
    #expect(code.operations.first { $0.name == "higher_complexity" }?.weight == 0.25)
    let instruction = "Write a function that sums a list.\n\n[1, 2, 3]"
    for operation in general.operations + code.operations {
      let prompt = operation.render(instruction)
      #expect(prompt.contains(instruction), "\(operation.name)")
      #expect(!prompt.contains("{instruction}"), "\(operation.name)")
      #expect(
        prompt.trimmingCharacters(in: .whitespacesAndNewlines).hasSuffix("#:"),
        "\(operation.name) must end where the model writes: \(prompt.suffix(30))")
      if operation.kind == .depth, general.operations.contains(operation) {
        #expect(prompt.contains("10 to 20 words"), "\(operation.name)")
        #expect(prompt.contains("keep any input"), "\(operation.name)")
      }
    }
    // Weighted picks follow the weights, seeded.
    var random = SeededRandom(seed: 1)
    var counts: [String: Int] = [:]
    for _ in 0..<5000 { counts[code.pick(&random).name, default: 0] += 1 }
    #expect((counts["higher_complexity"] ?? 0) < (counts["erroneous_code"] ?? 0) / 2)
  }

  @Test(arguments: [
    ("Equal.", EvolRules.Judgement.equal), ("Not Equal", .notEqual), ("not equal", .notEqual),
    ("EQUAL\n\nBecause both ask the same.", .equal), ("**Not Equal**", .notEqual), ("\n  Equal", .equal),
    ("The second prompt is harder.", .unparseable), ("", .unparseable), ("Equally hard", .unparseable),
  ])
  func judgeRepliesAreRead(reply: String, expected: EvolRules.Judgement) {
    #expect(EvolRules.judgement(reply) == expected, "\(reply)")
  }

  @Test func everyEliminationRuleOnRecordedReplies() {
    let markers = ["#Original Prompt#", "#New Prompt#"]
    let parent = "Explain why the sky is blue."
    #expect(EvolRules.checkEvolved("  \n", parent: parent, markers: markers)?.filter == "empty")
    #expect(
      EvolRules.checkEvolved("explain why  the sky is BLUE.", parent: parent, markers: markers)?.filter == "unchanged")
    #expect(
      EvolRules.checkEvolved("#New Prompt#: Explain why the sky is blue at noon.", parent: parent, markers: markers)?
        .reason == "copied_marker")
    #expect(
      EvolRules.checkEvolved(
        "Here is the rewritten prompt: explain Rayleigh scattering.", parent: parent, markers: markers)?.reason
        == "copied_phrase")
    #expect(
      EvolRules.checkEvolved(
        "Explain, with Rayleigh scattering, why the noon sky is blue.", parent: parent, markers: markers) == nil)

    #expect(EvolRules.checkResponse("I'm sorry, but I cannot help with that request.")?.filter == "sorry_short")
    let long =
      "Sorry for the delay. "
      + String(repeating: "The light scatters in the air more at short wavelengths. ", count: 10)
    #expect(EvolRules.checkResponse(long) == nil)
    #expect(EvolRules.checkResponse("It is what it is.")?.filter == "stopwords_only")
    #expect(EvolRules.checkResponse("...!?")?.filter == "stopwords_only")
    #expect(EvolRules.checkResponse("Blue light scatters most.") == nil)
  }

  /// The prompt_leak rule on 25 legitimate prompts that use "new task", "new
  /// prompt" or "original task" in their own sense, and on 10 copied labels or
  /// phrases (the earlier phrase list flagged 24 of the 25 and caught 9 of the 10).
  @Test func leakRulesKeepLegitimatePromptsAndCatchCopiedLabels() throws {
    let text = String(
      decoding: try FileSystem.read(repositoryPath("Tests/InstillTests/Fixtures/evol-leak-prompts.txt")),
      as: UTF8.self)
    let markers = try OperationSet.named("general").markers + OperationSet.named("code").markers
    var legitimate = 0, leaks = 0
    for line in text.split(separator: "\n") {
      if line.hasPrefix("ok ") {
        legitimate += 1
        let verdict = EvolRules.checkEvolved(String(line.dropFirst(3)), parent: "Say hi.", markers: markers)
        #expect(verdict == nil, "flagged a legitimate prompt: \(line)")
      } else if line.hasPrefix("leak ") {
        leaks += 1
        let verdict = EvolRules.checkEvolved(String(line.dropFirst(5)), parent: "Say hi.", markers: markers)
        #expect(verdict?.filter == "prompt_leak", "missed a leak: \(line)")
      }
    }
    #expect(legitimate == 25 && leaks == 10)
  }

  @Test func aUserOperationFileIsValidatedLikeThePipeline() async throws {
    let dir = TempDir()
    dir.write("seeds.json", "[{\"instruction\": \"Say hi.\", \"input\": \"\", \"output\": \"\"}]")
    func pipeline(_ ops: String) -> String {
      dir.write("ops.yaml", ops)
      return dir.write(
        "p.yaml",
        """
        name: ops
        stages:
          - kind: read
            path: seeds.json
            format: alpaca
          - kind: evol_instruct
            operations: ops.yaml
        """)
    }
    let good = pipeline(
      "operations:\n  - name: shorter\n    kind: depth\n    template: \"Make it harder: {instruction}\"\n")
    try await instill(expect: 0, "validate", good)
    let typo = try await instill(
      expect: 2, "validate",
      pipeline("operations:\n  - name: shorter\n    templat: \"Harder: {instruction}\"\n"))
    #expect(typo.stderr.contains("ops.yaml:2"), "\(typo.stderr)")
    #expect(typo.stderr.contains("missing required key 'template'"), "\(typo.stderr)")
    let unknown = try await instill(
      expect: 2, "validate",
      pipeline("operations:\n  - name: x\n    template: \"{instruction}\"\n    wieght: 2\n"))
    #expect(
      unknown.stderr.contains("ops.yaml:4") && unknown.stderr.contains("unknown key 'wieght'"), "\(unknown.stderr)")
    let noPlaceholder = try await instill(
      expect: 2, "validate",
      pipeline("operations:\n  - name: shorter\n    template: \"Make it harder.\"\n"))
    #expect(noPlaceholder.stderr.contains("ops.yaml:3"), "\(noPlaceholder.stderr)")
    #expect(noPlaceholder.stderr.contains("{instruction}"), "\(noPlaceholder.stderr)")
    let badKind = try await instill(
      expect: 2, "validate",
      pipeline("operations:\n  - name: x\n    kind: sideways\n    template: \"{instruction}\"\n"))
    #expect(badKind.stderr.contains("ops.yaml:3"), "\(badKind.stderr)")
  }

  /// A scripted endpoint: evolutions add a word, the judge says "Equal" when the
  /// evolved text contains "same", and answers echo the instruction.
  static func scriptedServer(log: RequestLog) throws -> TestHTTPServer {
    let evolvedBefore = Mutex<Set<String>>([])
    return try TestHTTPServer { _, _, body in
      guard let (chat, text) = FakeModel.promptText(body) else { return .respond(status: 400, headers: [], body: []) }
      log.add(text)
      if text.contains("You compare two prompts") {
        let pair = text.components(separatedBy: "Second prompt:\n").last ?? ""
        return FakeModel.respond(pair.contains("same") ? "Equal" : "Not Equal", chat: chat)
      }
      if let range = text.range(of: "#Original Prompt#:\n") {
        let parent = text[range.upperBound...].components(separatedBy: "\n\n#New Prompt#").first ?? ""
        // A parent marked "stuck" comes back unchanged the first time it is evolved.
        let first = evolvedBefore.withLock { $0.insert(parent).inserted }
        if parent.contains("stuck"), !parent.contains("round"), first { return FakeModel.respond(parent, chat: chat) }
        return FakeModel.respond(parent + " (round)", chat: chat)
      }
      return FakeModel.respond("An answer to: " + text, chat: chat)
    }
  }

  @Test func lineagesRepoolFailuresAndCountEveryAttempt() async throws {
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.scriptedServer(log: log)
    defer { server.stop() }
    dir.write(
      "seeds.json",
      """
      [{"id": "a", "instruction": "Describe a river.", "input": "", "output": ""},
       {"id": "b", "instruction": "Describe a stuck door.", "input": "", "output": ""},
       {"id": "c", "instruction": "Describe the same thing twice.", "input": "", "output": ""},
       {"id": "d", "instruction": "Summarize the text.", "input": "Rivers carry water to the sea.", "output": ""}]
      """)
    func pipeline(emit: String) -> String {
      dir.write(
        "p-\(emit).yaml",
        """
        name: evol
        seed: 3
        llm: {provider: openai, base_url: \(server.baseURL), model: fake, max_concurrency: 3}
        stages:
          - kind: read
            path: seeds.json
            format: alpaca
          - kind: evol_instruct
            rounds: 3
            emit: \(emit)
            include_roots: true
            weights: {breadth: 0}
          - kind: export
            format: alpaca
            shuffle: false
            include_meta: true
        """)
    }
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline(emit: "all"), "--run-dir", run)
    let records = try stageRecords(run, "02-evol_instruct")
    let byID = Dictionary(uniqueKeysWithValues: records.compactMap { r in r.id.map { ($0, r) } })
    // a: three successes in a chain.
    #expect(byID["a-e1"]?.meta["parent"] == .string("a"))
    #expect(byID["a-e2"]?.meta["parent"] == .string("a-e1"))
    #expect(byID["a-e3"]?.meta["parent"] == .string("a-e2"))
    #expect(byID["a-e3"]?.instruction == "Describe a river. (round) (round) (round)")
    #expect(byID["a-e3"]?.meta["root"] == .string("a"))
    // b: round 1 came back unchanged, so round 2 evolved the root again.
    #expect(byID["b-e1"] == nil)
    #expect(byID["b-e2"]?.meta["parent"] == .string("b"))
    #expect(byID["b-e2"]?.instruction == "Describe a stuck door. (round)")
    // c: the judge never sees an information gain: only the root, answered, is left of its lineage.
    #expect(records.filter { $0.meta["root"] == .string("c") }.compactMap(\.id) == ["c"])
    #expect(byID["c"]?.output == "An answer to: Describe the same thing twice.")
    #expect(byID["c"]?.meta["round"] == .int(0))
    // d: the input is kept apart when the evolution kept it.
    #expect(byID["d-e1"]?.input == "Rivers carry water to the sea.")
    #expect(
      byID["d-e1"]?.instruction == "Summarize the text.\n\n (round)"
        || byID["d-e1"]?.instruction.hasPrefix("Summarize the text.") == true)
    #expect(byID["a"] != nil, "include_roots passes the root on")

    let stats = try await stageStats(run, "evol_instruct")
    let counters = stats["counters"]?.objectValue ?? [:]
    for round in 1...3 {
      let tried = counters["round.\(round).tried"]?.intValue ?? -1
      let succeeded = counters["round.\(round).succeeded"]?.intValue ?? 0
      let dropped = counters.filter {
        $0.key.hasPrefix("round.\(round).") && !$0.key.hasSuffix(".tried") && !$0.key.hasSuffix(".succeeded")
      }.reduce(0) { $0 + ($1.value.intValue ?? 0) }
      #expect(tried == 4)
      #expect(tried == succeeded + dropped, "round \(round): \(counters)")
    }
    #expect(filterDrops(stats)["unchanged"] == ["same_as_parent": 1])
    #expect(filterDrops(stats)["no_information_gain"] == ["judged_equal": 3])
    #expect(stats["records_in"]?.intValue == 4 * 3 + 4)
    #expect(counters["operation.breadth.tried"] == nil, "weight 0 is never picked")

    // emit: last keeps only the final success of each lineage.
    let last = dir.file("last")
    try await instill(expect: 0, "run", pipeline(emit: "last"), "--run-dir", last)
    let lastRecords = try stageRecords(last, "02-evol_instruct")
    #expect(lastRecords.compactMap(\.id).sorted() == ["a", "a-e3", "b", "b-e3", "c", "d", "d-e3"])
  }
}
