import Foundation
import InstillCore
import InstillLLM
import InstillSelfInstruct
import InstillTestSupport
import Testing

/// Self-Instruct's parser and heuristics on recorded raw model outputs.
struct SelfInstructTests {
  @Test func continuationIsSplitOnNumberedLines() {
    let raw =
      " Describe the water cycle in two sentences.\n10. List three uses of copper.\n11 . Write a haiku about snow\n12. Explain\nwhy bread rises."
    let items = SelfInstructParsing.instructions(fromContinuation: raw, firstNumber: 9, capitalize: false)
    #expect(
      items == [
        "Describe the water cycle in two sentences.", "List three uses of copper.",
        "Write a haiku about snow", "Explain why bread rises.",
      ])
  }

  @Test func chatRepliesThatRestateTheNumberAreAccepted() {
    let raw = "9. Summarize the plot of a film you like.\n10. Translate 'good morning' into Italian."
    let items = SelfInstructParsing.instructions(fromContinuation: raw, firstNumber: 9, capitalize: false)
    #expect(items == ["Summarize the plot of a film you like.", "Translate 'good morning' into Italian."])
  }

  @Test func malformedRepliesYieldWhatCanBeParsed() {
    // No numbers at all: one candidate; empty lines and duplicate numbering survive as text.
    #expect(
      SelfInstructParsing.instructions(
        fromContinuation: "Just one long task without numbers", firstNumber: 9, capitalize: false)
        == ["Just one long task without numbers"])
    #expect(SelfInstructParsing.instructions(fromContinuation: "", firstNumber: 9, capitalize: false) == [""])
    let duplicated = "Plan a picnic.\n10. Plan a picnic.\n10. Name a river."
    #expect(
      SelfInstructParsing.instructions(fromContinuation: duplicated, firstNumber: 9, capitalize: false)
        == ["Plan a picnic.", "Plan a picnic.", "Name a river."])
    // Like the original's regex `\n\d+\s?\. `, a number needs the space after its dot.
    let truncated = "Write a letter to\n10."
    #expect(
      SelfInstructParsing.instructions(fromContinuation: truncated, firstNumber: 9, capitalize: false)
        == ["Write a letter to 10."])
  }

  @Test func capitalizeFollowsPythonsQuirk() {
    #expect(SelfInstructParsing.pythonCapitalize("explain NASA's role in GPS") == "Explain nasa's role in gps")
    #expect(SelfInstructParsing.pythonCapitalize("") == "")
  }

  @Test func heuristicsDropWhatTheOriginalDrops() {
    let chain = SelfInstructFilters.chain(
      minWords: 3, maxWords: 150, keywords: SelfInstructFilters.selfInstructKeywords)
    let stats = StatsRecorder()
    let cases: [(String, Bool)] = [
      ("Name three rivers", false),  // 3 words: ≤ 3 is dropped
      ("Name three long rivers", true),
      ("Draw a map of your town.", false),  // keyword "draw" (and "map")
      ("Describe the drawing style of Klimt.", true),  // "drawing" is not the word "draw"
      ("Write a program that sorts numbers.", false),
      ("\"Quote\" this sentence for me please.", false),
      ("Écrivez une phrase en français ici.", false),
      ("Go to the kitchen and describe it.", false),  // "go to"
      (String(repeating: "word ", count: 151), false),
    ]
    for (text, keep) in cases {
      #expect(chain.keep(Record(["instruction": .string(text)]), stats: stats) == keep, "\(text)")
    }
    let s = stats.snapshot
    let dropped = Dictionary(uniqueKeysWithValues: s.filters.map { ($0.name, $0.dropped) })
    #expect(dropped["word_count"] == ["too_few_words": 1, "too_many_words": 1])
    #expect(dropped["keywords"]?.values.reduce(0, +) == 2)
    #expect(dropped["write_a_program"] == ["starts_with:Write a program": 1])
    #expect(dropped["first_character"] == ["punctuation": 1, "non_ascii": 1])
  }

  @Test func promptNumbersExamplesAndEndsWithTheNextNumber() {
    let stage = BootstrapStage()
    let prompt = stage.prompt(examples: ["Write a  poem:", "List two colors"])
    #expect(prompt.hasSuffix("1. Write a poem\n2. List two colors\n3."))
  }

  @Test func originalSeedFileFormatLoads() async throws {
    let dir = TempDir()
    let seeds = repositoryPath("Seeds/self-instruct/seed_tasks.jsonl")
    let p = dir.write(
      "p.yaml",
      """
      name: seeds
      stages:
        - kind: read
          path: \(seeds)
          format: self_instruct
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let records = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(records.count >= 100)
    #expect(records.contains { !$0.input.isEmpty })
    #expect(records.contains { $0.input.isEmpty })
  }

  @Test func classificationRepliesAreReadLikeTheOriginalButTolerant() {
    for yes in ["Yes", "yes", "YES", " Yes.", "Yes, it is.", "yes\n"] { #expect(ClassifyStage.isYes(yes), "\(yes)") }
    for no in ["No", "no.", "", "Maybe", "It is yes", "Not sure"] { #expect(!ClassifyStage.isYes(no), "\(no)") }
    let prompt = ClassifyStage.prompt("Decide if the  number is even.").text
    #expect(prompt.hasSuffix("Task: Decide if the number is even.\nIs it classification?"))
    #expect(prompt.components(separatedBy: "Is it classification? Yes").count - 1 == 8)
    // Chat: one user turn per demonstration, answered by a bare Yes or No, then the task.
    let messages: [ChatMessage] = ClassifyStage.prompt("Decide if the  number is even.").messages
    #expect(messages.count == 2 + 2 * ClassifyStage.demonstrations.count)
    #expect(messages.first?.role == "system")
    #expect(messages.filter { $0.role == "assistant" }.map(\.content).allSatisfy { $0 == "Yes" || $0 == "No" })
    #expect(messages.last == .user("Task: Decide if the number is even."))
  }

  @Test func classifyStageLabelsEveryRecordThroughTheEndpoint() async throws {
    let dir = TempDir()
    // A fake endpoint that says Yes when the asked task mentions a label.
    let server = try TestHTTPServer { _, _, body in
      let prompt = FakeModel.promptText(body)?.text ?? ""
      let asked = prompt.components(separatedBy: "Task: ").last ?? ""
      let answer = asked.contains("label") ? "Yes" : "No"
      return FakeModel.respond(answer, chat: true)
    }
    defer { server.stop() }
    dir.write(
      "tasks.jsonl",
      """
      {"id":"a","instruction":"Give the label of this review: positive or negative."}
      {"id":"b","instruction":"Write a poem about rivers."}
      {"id":"c","instruction":"Pick the right label for the news headline."}
      """)
    let p = dir.write(
      "p.yaml",
      """
      name: classify
      llm: {provider: openai, base_url: \(server.baseURL), max_concurrency: 2}
      stages:
        - kind: read
          path: tasks.jsonl
        - kind: classify
        - kind: export
          format: alpaca
      """)
    let run = dir.file("run")
    // The export drops records without an output; the classify shard is what we check.
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let labelled = try stageRecords(run, "02-classify")
    #expect(labelled.map { $0["is_classification"] } == [.bool(true), .bool(false), .bool(true)])
    let counters = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue?["counters"]?
      .objectValue
    #expect(counters?["classification"]?.intValue == 2)
    #expect(counters?["not_classification"]?.intValue == 1)
  }

  /// The bootstrap through a fake endpoint: new instructions until the target,
  /// then (include_seeds) the seed tasks, which keep their own instances.
  @Test func bootstrapReachesTheTargetAndCanPassSeedsOn() async throws {
    let dir = TempDir()
    let bodies = RequestLog()
    let server = try TestHTTPServer { _, _, body in
      bodies.add(String(decoding: body, as: UTF8.self))
      let prompt = FakeModel.promptText(body)?.text ?? ""
      // Words no other reply shares, so the ROUGE-L pool keeps each first item.
      let hex = Array(SHA256.hex(prompt).prefix(16))
      let words = stride(from: 0, to: 16, by: 4).map { "q" + String(hex[$0..<$0 + 4]) }.joined(separator: " ")
      return FakeModel.respond(
        " Combine \(words) into one sentence.\n10. Draw a map of the town.\n11. Name it", chat: true)
    }
    defer { server.stop() }
    let seeds = repositoryPath("Seeds/self-instruct/seed_tasks.jsonl")
    let p = dir.write(
      "p.yaml",
      """
      name: bootstrap
      seed: 9
      llm: {provider: openai, base_url: \(server.baseURL), max_concurrency: 2}
      stages:
        - kind: read
          path: \(seeds)
          format: self_instruct
        - kind: self_instruct
          target: 3
          prompts_per_round: 2
          include_seeds: true
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let records = try stageRecords(run, "02-self_instruct")
    let seedCount = try RecordReader.readAll(path: seeds).count
    #expect(records.count == 3 + seedCount)
    #expect(records.prefix(3).allSatisfy { $0.instruction.hasPrefix("Combine q") && $0["avg_similarity_score"] != nil })
    #expect(records.dropFirst(3).allSatisfy { $0.meta["source"] == .string("seed") && $0["instances"] != nil })
    let stage = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue
    #expect(stage?["counts_add_up"] == .bool(true))
    let counts = stage?["stats"]?.objectValue
    #expect(counts?["counters"]?.objectValue?["seeds_passed_on"]?.intValue == seedCount)
    let keywords = counts?["filters"]?.arrayValue?.first { $0.objectValue?["name"] == .string("keywords") }?.objectValue
    #expect((keywords?["dropped"]?.objectValue?["keyword:map"]?.intValue ?? 0) >= 2)
    // Each request carries a sampling seed drawn from the pipeline seed, so a second
    // run from scratch sends exactly the same requests (seeds included).
    let first = bodies.all
    #expect(first.allSatisfy { (try? JSONParser.parse($0))?.objectValue?["seed"]?.intValue != nil })
    #expect(Set(first.compactMap { (try? JSONParser.parse($0))?.objectValue?["seed"]?.intValue }).count == first.count)
    let again = try await instill("run", p, "--run-dir", dir.file("again"))
    #expect(again.status == 0)
    #expect(Array(bodies.all.dropFirst(first.count)).sorted() == first.sorted())
  }
}
