import Foundation
import InstillCore
import InstillSelfInstruct
import InstillTestSupport
import Testing

/// Self-Instruct's instance parsing and filters on recorded raw model outputs.
struct InstancesTests {
  typealias I = Instance

  /// What survives of a reply cut by the length limit (distinct instances, ≤ 5).
  static func afterTruncation(_ parsed: [Instance]) -> [Instance] {
    var random = SeededRandom(seed: 1)
    return InstancesStage.select(parsed, truncated: true, maxInstances: 5, random: &random, stats: StatsRecorder())
  }

  @Test func inputFirstRepliesSplitOnExamples() {
    let raw = """
      Example 1
      Input: 25 °C
      Output: 77 °F
      Example 2:
      Temperature: 0 °C
      Output 2: 32 °F
      Input: 5 °C
      Example 3
      Output: 100 °F
      """
    #expect(
      InstanceParsing.generation(raw) == [
        I(input: "25 °C", output: "77 °F"),
        I(input: "Temperature: 0 °C", output: "32 °F"),  // cut at the next "Input:"; named fields stay
        I(input: "", output: "100 °F"),
      ])
    // Cut by the length limit: the last instance goes.
    #expect(Self.afterTruncation(InstanceParsing.generation(raw)).count == 2)
  }

  @Test func inputFirstWithoutExampleMarkers() {
    // One pair when there is an Output marker …
    #expect(
      InstanceParsing.generation("Sentence: I has a cat.\nOutput: I have a cat.")
        == [I(input: "Sentence: I has a cat.", output: "I have a cat.")])
    // … and nothing from free text (a chat model answering the task instead).
    #expect(InstanceParsing.generation("A pen and paper: this is a creative challenge.").isEmpty)
    #expect(InstanceParsing.generation("").isEmpty)
    #expect(Self.afterTruncation(InstanceParsing.generation("\n\n  \n")).isEmpty)
    // An example with no Output: the whole chunk is the output (recorded from SmolLM2).
    let recorded = "Example 1\nThe answer to the question can be solved by multiplying all the numbers from 1 to 5."
    #expect(
      InstanceParsing.generation(recorded)
        == [
          I(input: "", output: "The answer to the question can be solved by multiplying all the numbers from 1 to 5.")
        ])
    // Empty example chunks (duplicate numbering, blank lines) are skipped.
    let duplicated = "Example 1\n\nExample 1\nInput: a\nOutput: b\nExample\nOutput: c"
    #expect(InstanceParsing.generation(duplicated) == [I(input: "a", output: "b"), I(input: "", output: "c")])
  }

  @Test func outputFirstRepliesSplitOnClassLabels() {
    let raw = """
      Class label: Positive
      Review: Lovely food and quick service.
      Class label: Negative
      Review: Cold soup.
      It took an hour.
      Class label: Neutral
      """
    #expect(
      InstanceParsing.classification(raw) == [
        I(input: "Review: Lovely food and quick service.", output: "Positive"),
        I(input: "Review: Cold soup.\nIt took an hour.", output: "Negative"),
        I(input: "", output: "Neutral"),
      ])
    #expect(Self.afterTruncation(InstanceParsing.classification(raw)).count == 2)
    #expect(InstanceParsing.classification("Positive: great film").isEmpty)
    #expect(InstanceParsing.classification("Class label:") == [I(input: "", output: "")])
  }

  @Test func filtersDropWhatTheOriginalDrops() {
    #expect(InstanceFilters.invalidReason(I(input: "x", output: "x")) == "input_equals_output")
    #expect(InstanceFilters.invalidReason(I(input: "", output: "")) == "input_equals_output")
    #expect(InstanceFilters.invalidReason(I(input: "x", output: "")) == "empty_output")
    #expect(InstanceFilters.invalidReason(I(input: "Sentence:", output: "Yes")) == "trailing_colon")
    #expect(InstanceFilters.invalidReason(I(input: "", output: "Here are the steps:")) == "trailing_colon")
    #expect(InstanceFilters.invalidReason(I(input: "", output: "Fine.")) == nil)
    #expect(InstanceFilters.hasConflict([I(input: "2+2", output: "4"), I(input: "2+2", output: "5")]))
    #expect(!InstanceFilters.hasConflict([I(input: "", output: "4"), I(input: "", output: "5")]))
    #expect(!InstanceFilters.hasConflict([I(input: "a", output: "4"), I(input: "a", output: "4")]))
  }

  @Test func selectionCountsEveryDropAndKeepsAtMostFive() {
    let stats = StatsRecorder()
    var random = SeededRandom(seed: 1, stream: "t", item: 0)
    let parsed =
      (1...8).map { I(input: "q\($0)", output: "a\($0)") }
      + [I(input: "q1", output: "a1"), I(input: "z", output: "z"), I(input: "last", output: "cut off")]
    let kept = InstancesStage.select(parsed, truncated: true, maxInstances: 5, random: &random, stats: stats)
    #expect(kept.count == 5)
    #expect(Set(kept).isSubset(of: Set(parsed.prefix(8))))
    // Kept in reply order.
    #expect(kept == parsed.prefix(8).filter { kept.contains($0) })
    let filters = Dictionary(uniqueKeysWithValues: stats.snapshot.filters.map { ($0.name, $0) })
    #expect(filters["truncated"]?.dropped == ["cut_by_length_limit": 1])
    #expect(filters["invalid"]?.dropped == ["input_equals_output": 1])
    #expect(filters["duplicate"]?.dropped == ["exact_duplicate": 1])
    #expect(filters["max_instances"]?.dropped == ["over_5_per_task": 3])
    let dropped = stats.snapshot.filters.reduce(0) { $0 + $1.droppedTotal }
    #expect(parsed.count == kept.count + dropped)
    // The same seed chooses the same five.
    var again = SeededRandom(seed: 1, stream: "t", item: 0)
    #expect(
      InstancesStage.select(parsed, truncated: true, maxInstances: 5, random: &again, stats: StatsRecorder()) == kept)
  }

  @Test func conflictingOutputsDropTheWholeTask() {
    let stats = StatsRecorder()
    var random = SeededRandom(seed: 1, stream: "t", item: 0)
    let parsed = [I(input: "2+2", output: "4"), I(input: "3+3", output: "6"), I(input: "2+2", output: "5")]
    #expect(InstancesStage.select(parsed, truncated: false, maxInstances: 5, random: &random, stats: stats).isEmpty)
    let conflict = stats.snapshot.filters.first { $0.name == "conflicting_outputs" }
    #expect(conflict?.dropped == ["same_input_other_output": 3])
  }

  @Test func promptsUseTheRightTemplateInBothForms() {
    let text = InstancePrompts.prompt("Sort  the list.", classification: false).text
    #expect(text.hasSuffix("\n\nTask: Sort the list.\n"))
    #expect(text.contains("Example 2\n") && !text.contains("Class label:"))
    let labels = InstancePrompts.prompt("Is it a fruit?", classification: true).text
    #expect(labels.contains("Class label: Positive\n") && !labels.contains("Example 1"))
    let chat = InstancePrompts.prompt("Is it a fruit?", classification: true).messages
    #expect(chat.count == 2 + 2 * InstancePrompts.outputFirstDemos.count)
    #expect(chat.last == .user("Task: Is it a fruit?"))
    #expect(chat.filter { $0.role == "assistant" }.allSatisfy { $0.content.hasPrefix("Class label: ") })
  }

  @Test func stageTurnsTasksIntoInstanceRecords() async throws {
    let dir = TempDir()
    let seen = RequestLog()
    // A fake endpoint that answers by template and echoes the max_tokens it got.
    let server = try TestHTTPServer { _, _, body in
      seen.add(String(decoding: body, as: UTF8.self))
      let object = try? JSONParser.parse(body).objectValue
      let messages = object?["messages"]?.arrayValue ?? []
      let system = messages.first?.objectValue?["content"]?.stringValue ?? ""
      let task = messages.last?.objectValue?["content"]?.stringValue ?? ""
      let maxTokens = object?["max_tokens"]?.intValue ?? 0
      let answer: String
      if system.contains("classification") {
        answer = "Class label: Yes\nNumber: 7\nClass label: No\nNumber: 8\nClass label: Yes\nNumber: 8"
      } else if task.contains("poem") {
        answer =
          "Example 1\nOutput: Rivers run (\(maxTokens))\nExample 2\nOutput: Rivers run (\(maxTokens))\nExample 3\nOutput: Seas:"
      } else {
        answer = "I would rather not."
      }
      return FakeModel.respond(answer, chat: true)
    }
    defer { server.stop() }
    dir.write(
      "tasks.jsonl",
      """
      {"id":"a","instruction":"Is the number prime?","is_classification":true}
      {"id":"b","instruction":"Write a poem about rivers.","is_classification":false}
      {"id":"c","instruction":"Tell me a secret."}
      {"id":"d","instruction":"Add the numbers.","instances":[{"input":"2, 3","output":"5"},{"input":"1, 1","output":"2"}],"is_classification":false}
      """)
    let p = dir.write(
      "p.yaml",
      """
      name: instances
      llm: {provider: openai, base_url: \(server.baseURL), max_concurrency: 2}
      stages:
        - kind: read
          path: tasks.jsonl
        - kind: instances
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let records = try stageRecords(run, "02-instances")
    // Task a: "Number: 8" has two labels, so the whole task goes; task b: one unique
    // instance (350 tokens for generation tasks), the trailing-colon one dropped; task c: none.
    // Task d carries its own instances (a seed task): passed on without a request.
    #expect(
      records.map { [$0.id ?? "", $0.instruction, $0.input, $0.output] } == [
        ["b-0", "Write a poem about rivers.", "", "Rivers run (350)"],
        ["d-0", "Add the numbers.", "2, 3", "5"],
        ["d-1", "Add the numbers.", "1, 1", "2"],
      ])
    #expect(seen.count == 3)
    #expect(records.first?.meta["parent"] == .string("b"))
    let bodies = seen.all.compactMap { try? JSONParser.parse(Array($0.utf8)).objectValue }
    #expect(Set(bodies.compactMap { $0["max_tokens"]?.intValue }) == [300, 350])
    #expect(bodies.allSatisfy { $0["stop"] == .array([.string("Example 6"), .string("Task:")]) })
    let stats = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue
    #expect(stats?["records_in"]?.intValue == 8)
    #expect(stats?["records_out"]?.intValue == 3)
    let counters = stats?["counters"]?.objectValue
    #expect(counters?["tasks"]?.intValue == 3)
    #expect(counters?["seed_tasks"]?.intValue == 1)
    #expect(counters?["tasks_without_instances"]?.intValue == 2)
    #expect(counters?["tasks_unlabelled"]?.intValue == 1)
  }
}
