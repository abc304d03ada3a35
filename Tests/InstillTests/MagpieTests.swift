import Foundation
import InstillCore
import InstillMagpie
import InstillTestSupport
import Testing

/// Magpie against scripted endpoints: pre-query templates, conversations,
/// unterminated turns, the opening cap, chat-only endpoints and `template: auto`.
struct MagpieTests {
  /// What SmolLM2's template (read from its GGUF) renders through llama-server's /apply-template.
  static let smolDefault =
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"

  static func smolTemplate(_ messages: [JSONValue]) -> String {
    var text = messages.first?.objectValue?["role"]?.stringValue == "system" ? "" : smolDefault
    for message in messages {
      let o = message.objectValue ?? [:]
      text += "<|im_start|>\(o["role"]?.stringValue ?? "")\n\(o["content"]?.stringValue ?? "")<|im_end|>\n"
    }
    return text + "<|im_start|>assistant\n"
  }

  /// A chat model seen through ChatML: a completion that opens a user turn gets
  /// a question (one in five cut by the length limit; two in three open with "Can you help"); a chat request gets an answer naming the
  /// last user turn. Logs every completion prompt, and "length" per cut reply.
  static func server(log: RequestLog, chatOnly: Bool = false, applyTemplate: Bool = false) throws -> TestHTTPServer {
    try TestHTTPServer { _, uri, body in
      guard let object = try? JSONParser.parse(body).objectValue else {
        return .respond(status: 400, headers: [], body: [])
      }
      if uri.hasSuffix("/apply-template") {
        guard applyTemplate else { return .respond(status: 404, headers: [], body: Array("not found".utf8)) }
        let prompt = smolTemplate(object["messages"]?.arrayValue ?? [])
        return .respond(status: 200, headers: [], body: JSONWriter.bytes(.object(["prompt": .string(prompt)])))
      }
      if let messages = object["messages"]?.arrayValue {
        let last = messages.last?.objectValue?["content"]?.stringValue ?? ""
        return FakeModel.respond("Here is help with: \(last)", chat: true)
      }
      if chatOnly { return .respond(status: 404, headers: [], body: Array("{\"error\":\"no such route\"}".utf8)) }
      let prompt = object["prompt"]?.stringValue ?? ""
      log.add(prompt)
      let h = SHA256.hex(prompt + "/\(object["seed"]?.intValue ?? -1)")
      let n = Int(h.prefix(6), radix: 16) ?? 0
      if n % 5 == 0 {
        log.add("length")
        return FakeModel.respond("I would like to know whether the", chat: false, finishReason: "length")
      }
      let opening = n % 3 != 0 ? "Can you help" : "Word\(h.prefix(5)) and"
      // Words of their own, so that questions are not ROUGE-L near-duplicates of each other.
      let words = stride(from: 8, to: 48, by: 5).map { i in
        "w" + h.dropFirst(i).prefix(5)
      }.joined(separator: " ")
      return FakeModel.respond("\(opening) \(words)?", chat: false)
    }
  }

  static func pipeline(_ dir: TempDir, _ server: TestHTTPServer, _ extra: String, export: String = "") -> String {
    dir.write(
      "magpie.yaml",
      """
      name: magpie
      seed: 5
      llm: {provider: openai, base_url: \(server.baseURL), model: m, max_concurrency: 2}
      stages:
        - name: magpie
          kind: magpie
      \(extra)
      \(export)
      """)
  }

  @Test func builtInLayoutsAndTheServedTemplateGiveThePreQuery() throws {
    let chatml = try #require(ChatLayout.builtins["chatml"])
    #expect(chatml.preQuery(system: "Be brief.") == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n")
    #expect(chatml.preQuery(system: nil) == "<|im_start|>user\n")
    #expect(
      chatml.preQuery(system: "S", turns: [("Q1", "A1")])
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n<|im_start|>user\n"
    )
    #expect(chatml.system(in: chatml.preQuery(system: "Be brief.")) == "Be brief.")
    #expect(chatml.system(in: chatml.preQuery(system: nil)) == nil)
    let llama3 = try #require(ChatLayout.builtins["llama3"])
    #expect(llama3.preQuery(system: nil).hasSuffix("<|start_header_id|>user<|end_header_id|>\n\n"))
    #expect(ChatLayout.builtins.keys.sorted() == ["chatml", "gemma", "llama3", "mistral", "phi3"])

    // SmolLM2's own template: the same pieces as ChatML, except that without a
    // system prompt it puts its default one first.
    func render(_ messages: [(String, String)]) -> String {
      Self.smolTemplate(messages.map { .object(["role": .string($0.0), "content": .string($0.1)]) })
    }
    let m = ("SYSTEMq7Zx", "USERONEq7Zx", "ASSISTANTq7Zx", "USERTWOq7Zx")
    let served = try #require(
      ChatLayout.fromRendered(
        withSystem: render([("system", m.0), ("user", m.1), ("assistant", m.2), ("user", m.3)]),
        withoutSystem: render([("user", m.1), ("assistant", m.2), ("user", m.3)])))
    #expect(served.withSystem == chatml.withSystem)
    #expect(served.withoutSystem == Self.smolDefault + "<|im_start|>user\n")
    #expect(served.userEnd == chatml.userEnd && served.assistantEnd == chatml.assistantEnd)
    #expect(served.endOfTurn == "<|im_end|>")
  }

  /// Two-turn conversations with rotated system prompts: every record's turns
  /// alternate user/assistant, the second user turn continues the first
  /// exchange, cut turns are `unterminated` drops, and "Can you help" is capped.
  @Test func conversationsAlternateAndUnterminatedTurnsAreDropped() async throws {
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.server(log: log)
    defer { server.stop() }
    let systems = ["You are a cooking assistant.", "You are a maths tutor.", "You are a travel planner."]
    let p = Self.pipeline(
      dir, server,
      """
          target: 6
          template: chatml
          turns: 2
          max_same_opening: 0.34
          system_prompts: [\(systems.map { "\"\($0)\"" }.joined(separator: ", "))]
      """, export: "  - {kind: export, format: messages}")
    let run = dir.file("run")
    try await instill(expect: 0, "run", p, "--run-dir", run)
    let records = try stageRecords(run, "01-magpie")
    #expect(records.count == 6)
    for record in records {
      let turns = record["conversation"]?.arrayValue?.compactMap(\.objectValue) ?? []
      #expect(turns.map { $0["role"]?.stringValue ?? "" } == ["user", "assistant", "user", "assistant"])
      #expect(turns.first?["content"]?.stringValue == record.instruction)
      #expect(record.output == "Here is help with: \(record.instruction)")
      #expect(systems.contains(record.string("system") ?? ""), "the rotated system prompt is recorded")
      // The second user turn was asked for after the first exchange, in the template.
      let first = turns.prefix(2).map { $0["content"]?.stringValue ?? "" }
      #expect(
        log.all.contains {
          $0.hasSuffix("\(first[0])<|im_end|>\n<|im_start|>assistant\n\(first[1])<|im_end|>\n<|im_start|>user\n")
        })
    }
    #expect(Set(records.compactMap { $0.string("system") }).count > 1)
    let openings = records.filter { $0.instruction.hasPrefix("Can you help") }.count
    #expect(openings <= 2, "max_same_opening 0.34 of 6 allows 2 records per opening")
    let stats = try await stageStats(run, "magpie")
    let drops = filterDrops(stats)
    let cut = log.all.filter { $0 == "length" }.count
    #expect(cut > 0)
    // Replies past the target are journaled, not used: at most every cut reply is a drop.
    let unterminated = (drops["unterminated"]?["turn_not_closed"] ?? 0) + (drops["turns"]?["turn_2_not_closed"] ?? 0)
    #expect(unterminated > 0 && unterminated <= cut, "cut replies are unterminated drops: \(drops), \(cut) cut")
    #expect((drops["opening"]?["max_same_opening"] ?? 0) > 0)
    // The export writes the whole conversation after the system prompt.
    let rows = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    let roles = rows.first?["messages"]?.arrayValue?.compactMap { $0.objectValue?["role"]?.stringValue }
    #expect(roles == ["system", "user", "assistant", "user", "assistant"])
  }

  @Test func chatOnlyEndpointExitsTwoNamingIt() async throws {
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.server(log: log, chatOnly: true)
    defer { server.stop() }
    let p = Self.pipeline(dir, server, "    target: 3\n    template: chatml")
    let result = try await instill(expect: 2, "run", p, "--run-dir", dir.file("run"))
    #expect(result.stderr.contains("endpoint llm has no completion route"), "\(result.stderr)")
    #expect(result.stderr.contains("HTTP 404 from \(server.baseURL)"), "\(result.stderr)")
  }

  @Test func templateAutoReadsTheServedTemplateOrExitsTwo() async throws {
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.server(log: log, applyTemplate: true)
    defer { server.stop() }
    let run = dir.file("run")
    try await instill(
      expect: 0, "run", Self.pipeline(dir, server, "    target: 2\n    answer: false"), "--run-dir", run)
    // No system prompts: the served template's default one leads every pre-query.
    #expect(
      !log.all.isEmpty && log.all.filter { $0 != "length" }.allSatisfy { $0 == Self.smolDefault + "<|im_start|>user\n" }
    )
    #expect(try stageRecords(run, "01-magpie").allSatisfy { $0.output.isEmpty && $0.string("system") == nil })

    let plain = try Self.server(log: RequestLog())
    defer { plain.stop() }
    let result = try await instill(
      expect: 2, "run", Self.pipeline(dir, plain, "    target: 2"), "--run-dir", dir.file("run2"))
    #expect(result.stderr.contains("template: auto needs the server to apply its chat template"), "\(result.stderr)")
  }

  @Test func pipelineMistakesExitTwo() async throws {
    let dir = TempDir()
    let server = try Self.server(log: RequestLog())
    defer { server.stop() }
    for (extra, message) in [
      ("    template: vicuna", "unknown template 'vicuna'"),
      ("    endpoint: chat", "endpoint must be completion"),
      ("    turns: 2\n    answer: false", "needs answers between the turns"),
      ("    language: klingon", "unknown language 'klingon'"),
      ("    template: {pre_query: \"<u>\"}", "end_of_turn"),
    ] {
      let result = try await instill(expect: 2, "validate", Self.pipeline(dir, server, extra))
      #expect(result.stderr.contains(message), "\(extra): \(result.stderr)")
      #expect(result.stderr.contains("magpie.yaml:"), "the error names the pipeline file and line")
    }
  }
}
