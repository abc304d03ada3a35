import Foundation
import InstillCore
import InstillSelfInstruct
import InstillTestSupport
import Testing

/// The Alpaca variant's prompt, parser and stage, on recorded raw model outputs.
struct AlpacaTests {
  typealias Chunk = AlpacaParsing.Chunk

  static func parse(_ reply: String, truncated: Bool = false) -> [Chunk] {
    AlpacaParsing.chunks(reply, firstNumber: 4, truncated: truncated).chunks.map {
      AlpacaParsing.task($0.text, number: $0.number)
    }
  }

  @Test func numberedEntriesBetweenHashesBecomeTasks() {
    let reply = """
       Give two synonyms for the word.
      4. Input:
      happy
      4. Output:
      glad, cheerful
      ###
      5. Instruction: Name the largest ocean on Earth.
      5. Input:
      <NoInput>
      5. Output:
      The Pacific Ocean.
      ###
      6. Instruction: Sort the numbers.
      6.  Input:
      3, 1, 2
      6. Output:
      1, 2, 3
      ###
      7. Instruction: Write a haiku about
      """
    #expect(
      Self.parse(reply) == [
        .task(instruction: "Give two synonyms for the word.", input: "happy", output: "glad, cheerful"),
        .task(instruction: "Name the largest ocean on Earth.", input: "", output: "The Pacific Ocean."),
        .task(instruction: "Sort the numbers.", input: "3, 1, 2", output: "1, 2, 3"),
        .malformed("missing_fields"),
      ])
    // Cut by the length limit: the last chunk is returned apart, not parsed.
    let (chunks, cut) = AlpacaParsing.chunks(reply, firstNumber: 4, truncated: true)
    #expect(chunks.count == 3)
    #expect(cut?.contains("Write a haiku about") == true)
  }

  @Test func malformedRepliesAreCountedNotGuessed() {
    // Recorded from SmolLM2: wrong numbers, a field missing, free text.
    let wrongNumbers =
      "###\n1. Instruction: Write two questions about the passage.\n2. Input:\nI am going to the market.\n2. Output:\nOk."
    #expect(Self.parse(wrongNumbers) == [.malformed("missing_fields"), .malformed("wrong_numbering")])
    #expect(Self.parse("No.") == [.malformed("missing_fields")])
    // A chat reply that restates the number is not prefixed twice.
    let restated = "4. Instruction: Convert 3 km to miles.\n4. Input:\n<noinput>\n4. Output:\nAbout 1.86 miles."
    #expect(
      Self.parse(restated) == [.task(instruction: "Convert 3 km to miles.", input: "", output: "About 1.86 miles.")])
    // Duplicate numbering: two entries numbered 4 in one chunk.
    let duplicate = " A.\n4. Input:\nx\n4. Output:\ny\n4. Instruction: B.\n4. Input:\nz\n4. Output:\nw"
    #expect(Self.parse(duplicate) == [.malformed("missing_fields")])
    // Empty chunks (### ###) keep their number, like the original.
    let gaps =
      " Say hi politely.\n4. Input:\n<noinput>\n4. Output:\nHello!\n###\n\n###\n6. Instruction: Count the vowels in the word.\n6. Input:\nbanana\n6. Output:\n3"
    #expect(
      Self.parse(gaps) == [
        .task(instruction: "Say hi politely.", input: "", output: "Hello!"),
        .task(instruction: "Count the vowels in the word.", input: "banana", output: "3"),
      ])
    #expect(Self.parse("").count == 1)  // "4. Instruction:" alone: counted as malformed
  }

  @Test func promptShowsExamplesAndEndsWithTheNextInstruction() {
    var stage = AlpacaStage()
    stage.tasksPerRequest = 20
    let prompt = stage.prompt(examples: [
      ("Name a  color:", "", "Blue"), ("Add the numbers.", "2, 3", "5"), ("Say hi.", "", "Hi"),
    ])
    #expect(
      prompt.contains(
        "List of 20 tasks:\n###\n1. Instruction: Name a color\n1. Input:\n<noinput>\n1. Output:\nBlue\n###\n"))
    #expect(prompt.contains("2. Input:\n2, 3\n2. Output:\n5\n"))
    #expect(prompt.hasSuffix("3. Output:\nHi\n###\n4. Instruction:"))
  }

  @Test func alpacaHeuristicsDropTheExtendedKeywords() {
    let task = Record(["instruction": .string("Create a flowchart for making a cup of tea.")])
    let alpaca = HeuristicSettings(keywords: SelfInstructFilters.alpacaKeywords).filters
    let original = HeuristicSettings(keywords: SelfInstructFilters.selfInstructKeywords).filters
    let stats = StatsRecorder()
    #expect(!alpaca.keep(task, stats: stats))
    #expect(stats.snapshot.filters.first { $0.name == "keywords" }?.dropped == ["keyword:flowchart": 1])
    #expect(original.keep(task, stats: StatsRecorder()))
  }

  @Test func stageAcceptsTasksUntilTheTarget() async throws {
    let dir = TempDir()
    let requests = RequestLog()
    // A fake base model: each reply has one good task (unique per prompt), one
    // blacklisted, one near-duplicate of a seed, one malformed, and a cut-off tail.
    let server = try TestHTTPServer { _, _, body in
      let object = try? JSONParser.parse(body).objectValue
      let prompt = object?["prompt"]?.stringValue ?? ""
      requests.add(JSONWriter.string(.object(object ?? [:])))
      // Words that no other prompt's reply shares, so ROUGE-L keeps every good task.
      let hex = Array(SHA256.hex(prompt).prefix(16))
      let words = stride(from: 0, to: 16, by: 4).map { "q" + String(hex[$0..<$0 + 4]) }.joined(separator: " ")
      let text = """
         Use \(words) together.
        4. Input:
        <noinput>
        4. Output:
        It is a tag.
        ###
        5. Instruction: Describe the music of your favourite band.
        5. Input:
        <noinput>
        5. Output:
        Loud.
        ###
        6. Instruction: Give three tips for staying focused while studying.
        6. Input:
        <noinput>
        6. Output:
        Sleep.
        ###
        7. Instruction: missing everything
        ###
        8. Instruction: Tell a
        """
      return FakeModel.respond(text, chat: false, finishReason: "length")
    }
    defer { server.stop() }
    dir.write(
      "seeds.jsonl",
      """
      {"instruction":"Give three tips for staying focused while studying.","input":"","output":"Put the phone away."}
      {"instruction":"Add the numbers.","input":"2, 3","output":"5"}
      {"instruction":"Translate the sentence into French.","input":"Good morning","output":"Bonjour"}
      {"instruction":"Name a bird that cannot fly.","input":"","output":"The penguin."}
      {"instruction":"Summarize the paragraph in one sentence.","input":"Bees pollinate crops.","output":"Bees help crops."}
      {"instruction":"Is the number even?","input":"14","output":"Yes"}
      {"instruction":"Suggest a title for the blog post.","input":"A post about baking bread at home.","output":"Bread at Home"}
      {"instruction":"Rewrite the sentence politely.","input":"Give me the salt.","output":"Could you pass the salt, please?"}
      """)
    let p = dir.write(
      "p.yaml",
      """
      name: alpaca
      seed: 3
      llm: {provider: openai, base_url: \(server.baseURL), max_concurrency: 2}
      stages:
        - kind: read
          path: seeds.jsonl
        - kind: alpaca
          target: 5
          prompts_per_round: 2
          endpoint: completion
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let records = try stageRecords(run, "02-alpaca")
    #expect(records.count == 5)
    #expect(records.allSatisfy { $0.instruction.hasPrefix("Use q") && $0.input.isEmpty && $0.output == "It is a tag." })
    // Like the original: the ten most similar pool texts (8 seeds + earlier accepted ones).
    #expect(records.map { $0["most_similar_instructions"]?.objectValue?.count ?? 0 } == [8, 9, 10, 10, 10])
    #expect(records.allSatisfy { $0["avg_similarity_score"]?.doubleValue != nil })
    // 3 rounds of 2 prompts; the original's decoding, and the stop follows the list length.
    #expect(requests.count == 6)
    let sent = try JSONParser.parse(requests.all[0]).objectValue
    #expect(sent?["temperature"]?.doubleValue == 1)
    #expect(sent?["max_tokens"]?.intValue == 3072)
    #expect(sent?["stop"] == .array([.string("\n20"), .string("20."), .string("20.")]))
    let stage = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue
    #expect(stage?["counts_add_up"] == .bool(true))
    let filters = Dictionary(
      uniqueKeysWithValues: (stage?["stats"]?.objectValue?["filters"]?.arrayValue ?? []).compactMap {
        o -> (String, JSONObject)? in
        guard let o = o.objectValue, let name = o["name"]?.stringValue else { return nil }
        return (name, o["dropped"]?.objectValue ?? [:])
      })
    // The target was met at the first task of the fifth reply; the rest of it is not used.
    #expect(filters["keywords"]?["keyword:music"]?.intValue == 4)
    #expect(filters["rouge_l"]?["rouge_l>0.7"]?.intValue == 4)
    #expect(filters["format"]?["missing_fields"]?.intValue == 4)
    // Six replies, the sixth unused once the target was met.
    #expect(filters["truncated"]?["cut_by_length_limit"]?.intValue == 5)
  }

  @Test func tooFewSeedsIsAnInputError() async throws {
    let dir = TempDir()
    dir.write(
      "seeds.jsonl",
      """
      {"instruction":"Add the numbers.","input":"2, 3","output":"5"}
      {"instruction":"Name a bird that cannot fly.","input":"","output":"The penguin."}
      """)
    let p = dir.write(
      "p.yaml",
      """
      name: few
      llm: {provider: openai, base_url: "http://127.0.0.1:9/v1", model: m}
      stages:
        - kind: read
          path: seeds.jsonl
        - kind: alpaca
      """)
    let result = try await instill("run", p, "--run-dir", dir.file("run"))
    #expect(result.status == 2)
    #expect(result.stderr.contains("needs at least 3 seed tasks, found 2"), "\(result.stderr)")
    let bad = dir.write(
      "bad.yaml",
      """
      name: bad
      llm: {provider: openai, base_url: "http://127.0.0.1:9/v1", model: m}
      stages:
        - kind: read
          path: seeds.jsonl
        - kind: alpaca
          examples_per_prompt: 20
      """)
    let rejected = try await instill("validate", bad)
    #expect(rejected.status == 2)
    #expect(
      rejected.stderr.contains("bad.yaml:6") && rejected.stderr.contains("must be below tasks_per_request"),
      "\(rejected.stderr)")
  }
}
