import Foundation
import InstillCore
import InstillKit
import InstillRunner
import InstillTestSupport
import Testing

/// Topics and personas steer the growth methods' prompts; the diversity measure.
struct SteeringTests {
  /// Runs Self-Instruct (target 8) against the ideal model with `extra` on the
  /// bootstrap stage; returns the run directory and every prompt sent.
  static func bootstrap(_ dir: TempDir, _ name: String, _ extra: String) async throws -> (String, [String]) {
    let log = RequestLog()
    let server = try TestHTTPServer { _, _, body in
      if let prompt = FakeModel.promptText(body)?.text { log.add(prompt) }
      return IdealModel.reply(to: body)
    }
    defer { server.stop() }
    let p = dir.write(
      "\(name).yaml",
      """
      name: steer
      seed: 11
      llm: {provider: openai, base_url: \(server.baseURL), model: m, max_concurrency: 2}
      stages:
        - {kind: read, path: \(repositoryPath("Seeds/self-instruct/seed_tasks.jsonl")), format: self_instruct}
        - name: bootstrap
          kind: self_instruct
          target: 8
          prompts_per_round: 2
      \(extra)
      """)
    let run = dir.file(name)
    try await instill(expect: 0, "run", p, "--run-dir", run)
    return (run, log.all)
  }

  @Test func topicsAndPersonasSteerThePromptsAndAreCounted() async throws {
    let dir = TempDir()
    let topics = ["baking bread", "prime numbers", "train travel"]
    dir.write(
      "topics.txt", "# three topics\nbaking bread\n{\"topic\": \"prime numbers\", \"weight\": 3}\n\ntrain travel\n")
    dir.write("personas.txt", "a night-shift nurse\na retired engineer\n")
    let (steered, steeredPrompts) = try await Self.bootstrap(
      dir, "steered", "    topics: \(dir.file("topics.txt"))\n    personas: \(dir.file("personas.txt"))")
    let (_, plainPrompts) = try await Self.bootstrap(dir, "plain", "")

    // Every prompt carries one topic and one persona, after the header's first line;
    // without them the prompt is exactly the unsteered run's (same examples, same order).
    var unsteered: [String] = []
    for prompt in steeredPrompts {
      let topic = try #require(topics.first { prompt.contains("Every new task should be about \($0).") })
      let persona = try #require(
        ["a night-shift nurse", "a retired engineer"].first {
          prompt.contains("Write the new tasks as \($0) would ask them.")
        })
      unsteered.append(
        prompt.replacingOccurrences(
          of: " Every new task should be about \(topic). Write the new tasks as \(persona) would ask them.", with: ""))
    }
    #expect(Set(unsteered) == Set(plainPrompts), "steering changes nothing else in the prompt")

    let records = try stageRecords(steered, "02-bootstrap")
    #expect(records.count == 8)
    #expect(records.allSatisfy { topics.contains($0.meta["topic"]?.stringValue ?? "") })
    #expect(records.allSatisfy { $0.meta["persona"]?.stringValue != nil })
    let stats = try await stageStats(steered, "bootstrap")
    let mix = stats["steering"]?.objectValue?["topic"]?.objectValue ?? [:]
    let kept = mix.map(\.value).compactMap { $0.objectValue?["kept"]?.intValue }.reduce(0, +)
    let prompts = mix.map(\.value).compactMap { $0.objectValue?["prompts"]?.intValue }.reduce(0, +)
    #expect(kept == 8)
    #expect(prompts == steeredPrompts.count, "every prompt is counted under its topic")

    let text = try await instill(expect: 0, "stats", steered).stdout
    #expect(text.contains("topics: \(mix.count) drawn by \(prompts) prompts, 8 records kept"), "\(text)")
    #expect(text.contains("topic mix of the output:"), "\(text)")
    #expect(text.contains("openings per 100"), "\(text)")
    let json = try await statsJSON(steered)
    let entry = json["stages"]?.arrayValue?[1].objectValue
    let diversity = try #require(entry?["diversity"]?.objectValue)
    #expect(diversity["records"]?.intValue == 8)
    #expect((diversity["openings_per_100"]?.doubleValue ?? 0) > 0)
    #expect(diversity["nearest_rouge_l"]?.doubleValue != nil)
    #expect(diversity["topics"]?.objectValue?.map(\.value).compactMap(\.intValue).reduce(0, +) == 8)
    let report = try await instill(expect: 0, "report", steered, "--output", dir.file("r.html"))
    _ = report
    let html = try String(contentsOfFile: dir.file("r.html"), encoding: .utf8)
    #expect(html.contains("Topics: kept records per topic") && html.contains("Diversity"))
  }

  @Test func badSteeringFilesExitTwoNamingFileAndLine() async throws {
    let dir = TempDir()
    dir.write("topics.txt", "cooking\n{\"topic\": 5}\n")
    let p = dir.write(
      "p.yaml",
      """
      name: bad
      llm: {provider: openai, base_url: http://127.0.0.1:9/v1, model: m}
      stages:
        - {kind: read, path: \(repositoryPath("Seeds/self-instruct/seed_tasks.jsonl")), format: self_instruct}
        - {kind: self_instruct, target: 2, topics: topics.txt}
      """)
    let result = try await instill(expect: 2, "validate", p)
    #expect(result.stderr.contains("topics.txt:2"), "\(result.stderr)")
    dir.write("topics.txt", "cooking\n")
    let template = dir.write(
      "t.yaml",
      """
      name: bad
      llm: {provider: openai, base_url: http://127.0.0.1:9/v1, model: m}
      stages:
        - {kind: read, path: \(repositoryPath("Seeds/self-instruct/seed_tasks.jsonl")), format: self_instruct}
        - {kind: self_instruct, target: 2, topics: topics.txt, topic_template: "Write about things."}
      """)
    let second = try await instill(expect: 2, "validate", template)
    #expect(second.stderr.contains("topic_template must contain {topic}"), "\(second.stderr)")
  }

  @Test func weightedEntriesAreDrawnInProportion() throws {
    let entries = try Steering.entries(
      text: "a\n{\"topic\": \"b\", \"weight\": 3}\n# comment\n\n{\"text\": \"c\"}\n", file: "t", kind: "topic")
    #expect(entries.map(\.text) == ["a", "b", "c"] && entries.map(\.weight) == [1, 3, 1])
    let list = Steering.List(kind: "topic", entries: entries, template: "About {topic}.")
    var random = SeededRandom(seed: 1)
    var counts: [String: Int] = [:]
    for _ in 0..<5000 { counts[list.draw(&random), default: 0] += 1 }
    #expect(abs(Double(counts["b"] ?? 0) / 5000 - 0.6) < 0.03, "\(counts)")
    #expect(list.sentence("rivers") == "About rivers.")
  }

  @Test func diversityMeasureCountsOpeningsAndNearestNeighbours() {
    let same = Diversity.measure(sample: Array(repeating: "Can you help me cook rice?", count: 4), records: 4)
    #expect(same.openingsPer100 == 25, "one opening in 4 instructions is 25 per 100")
    #expect(same.nearestRougeL == 1)
    #expect(same.topOpenings == [Diversity.OpeningCount(opening: "can you help", count: 4)])
    let varied = Diversity.measure(
      sample: ["Write a poem about rain.", "List three prime numbers.", "How do trains brake?", "Name a red fruit."],
      records: 4)
    #expect(varied.openingsPer100 == 100)
    #expect((varied.nearestRougeL ?? 1) < 0.3)
    // Blocks of 100: 200 instructions with 10 openings each block are 10 per 100.
    let blocks = (0..<200).map { "Opening\($0 % 10) word here and then \($0)" }
    #expect(Diversity.measure(sample: blocks, records: 200).openingsPer100 == 10)
  }
}
