import Foundation
import InstillCore
import InstillTestSupport
import Synchronization
import Testing

/// Every shipped recipe, shrunk, against an ideal scripted model (IdealModel):
/// what each method makes must reach the dataset. A recipe whose own filters
/// or dedup throw away the data that defines its method fails here.
@Suite(.serialized)
struct RecipeTransparencyTests {
  /// Shipped pipelines with their large targets made small.
  static let recipes: [(file: String, shrink: [(String, String)])] = [
    ("self-instruct.yaml", [("target: 200", "target: 16")]),
    ("quickstart.yaml", [("target: 30", "target: 12")]),
    ("alpaca.yaml", [("target: 100", "target: 16")]),
    ("evol-instruct.yaml", []),
    ("evol-code.yaml", []),
    ("unnatural-instructions.yaml", [("target: 100", "target: 16")]),
    ("reverse-instructions.yaml", []),
    ("backtranslation.yaml", []),
    ("slurm/reverse-instructions.yaml", []),
    ("preference.yaml", [("target: 100", "target: 12")]),
    ("critique-revise.yaml", []),
    ("magpie.yaml", [("target: 100", "target: 16")]),
    ("topic-guided.yaml", [("target: 100", "target: 16")]),
    ("reasoning.yaml", []),
  ]

  /// Recipes made for a thinking teacher (they keep traces and drop answers without one):
  /// ReasoningRecipeTests runs them against every form of thinking.
  static let thinking: Set = ["reasoning.yaml"]

  static func everyShippedPipelineIsListed() -> Bool {
    let shipped = FileSystem.filesBelow(repositoryPath("Pipelines")).filter { $0.hasSuffix(".yaml") }
      .map { String($0.dropFirst(repositoryPath("Pipelines").count + 1)) }
    return Set(shipped) == Set(recipes.map(\.file))
  }

  @Test func everyShippedPipelineIsCovered() {
    #expect(Self.everyShippedPipelineIsListed(), "a pipeline under Pipelines/ is missing from the transparency test")
  }

  /// Runs a shipped recipe (seed paths made absolute, targets shrunk) against
  /// the ideal model, through `--base-url` and `--model` as a user would.
  /// `think` makes the ideal model think in that form; `edit` changes the
  /// pipeline text; `arguments` are added to `instill run`.
  static func run(
    _ file: String, shrink: [(String, String)], in dir: TempDir, think: ThinkingModel.Form? = nil,
    edit: (String) -> String = { $0 }, arguments: [String] = [], runDir: String = "run", expect status: Int32 = 0,
    requests: RequestCount? = nil
  ) async throws -> String {
    var text = String(decoding: try FileSystem.read(repositoryPath("Pipelines/" + file)), as: UTF8.self)
    let seeds = repositoryPath("Seeds")
    text = text.replacingOccurrences(of: "../../Seeds", with: seeds).replacingOccurrences(of: "../Seeds", with: seeds)
    for (old, new) in shrink {
      #expect(text.contains(old), "\(file) no longer says \(old)")
      text = text.replacingOccurrences(of: old, with: new)
    }
    let pipeline = dir.write((file as NSString).lastPathComponent, edit(text))
    let server = try TestHTTPServer { _, _, body in
      requests?.add()
      let reply = IdealModel.reply(to: body)
      return think.map { ThinkingModel.thinking(reply, form: $0) } ?? reply
    }
    defer { server.stop() }
    let run = dir.file(runDir)
    let result = try await runProgram(
      Binary.path, ["run", pipeline, "--run-dir", run, "--base-url", server.baseURL, "--model", "ideal"] + arguments)
    #expect(result.status == status, "\(file): \(result.stderr.suffix(2000))")
    return run
  }

  /// Every exported record (train and validation).
  static func dataset(_ run: String) throws -> [Record] {
    let data = run + "/data"
    return try FileSystem.list(data).filter { $0.hasSuffix(".jsonl.gz") }.sorted()
      .flatMap { try RecordReader.readAll(path: data + "/" + $0) }
  }

  static func counter(_ stats: JSONObject, _ name: String) -> Int {
    stats["counters"]?.objectValue?[name]?.intValue ?? 0
  }

  @Test(arguments: ["self-instruct.yaml", "quickstart.yaml", "topic-guided.yaml"])
  func selfInstructKeepsEveryInstanceThatPassedTheInstanceFilters(file: String) async throws {
    let dir = TempDir()
    let recipe = Self.recipes.first { $0.file == file }!
    let run = try await Self.run(file, shrink: recipe.shrink, in: dir)
    let instances = try await stageStats(run, "instances")["records_out"]?.intValue ?? 0
    let data = try Self.dataset(run)
    #expect(instances > 30, "\(file): only \(instances) instances from the ideal model")
    #expect(data.count == instances, "\(file): \(data.count) of \(instances) instances reached the dataset")
  }

  @Test func alpacaKeepsEveryTask() async throws {
    let dir = TempDir()
    let run = try await Self.run("alpaca.yaml", shrink: Self.recipes[2].shrink, in: dir)
    let tasks = try await stageStats(run, "alpaca")["records_out"]?.intValue ?? 0
    #expect(tasks == 16)
    #expect(try Self.dataset(run).count == tasks)
  }

  @Test(arguments: ["evol-instruct.yaml", "evol-code.yaml"])
  func evolKeepsTheSeedsAndEveryRound(file: String) async throws {
    let dir = TempDir()
    let run = try await Self.run(file, shrink: [], in: dir)
    let evolve = try await stageStats(run, "evolve")
    let seeds = try await stageStats(run, "seeds")["records_out"]?.intValue ?? 0
    let data = try Self.dataset(run)
    func inData(round: Int) -> Int { data.filter { $0.meta["round"] == .string("\(round)") }.count }
    #expect(inData(round: 0) == seeds, "\(file): \(inData(round: 0)) of \(seeds) seeds in the dataset")
    for round in 1...4 {
      let succeeded = Self.counter(evolve, "round.\(round).succeeded")
      #expect(succeeded == seeds, "\(file): the ideal model's round \(round) should always succeed")
      #expect(
        Double(inData(round: round)) >= 0.9 * Double(succeeded),
        "\(file) round \(round): \(inData(round: round)) of \(succeeded) evolutions reached the dataset")
    }
  }

  @Test func unnaturalKeepsTheParaphrases() async throws {
    let dir = TempDir()
    let run = try await Self.run("unnatural-instructions.yaml", shrink: Self.recipes[5].shrink, in: dir)
    let paraphrase = try await stageStats(run, "paraphrase")
    let core = try await stageStats(run, "outputs")["records_out"]?.intValue ?? 0
    let kept = (paraphrase["records_out"]?.intValue ?? 0) - core
    let data = try Self.dataset(run)
    let paraphrases = data.filter { $0.meta["method"] == .string("unnatural_paraphrase") }.count
    #expect(core == 16)
    #expect(kept == 2 * core, "the ideal model's paraphrases should all pass the paraphrase checks")
    #expect(Double(paraphrases) >= 0.9 * Double(kept), "\(paraphrases) of \(kept) paraphrases reached the dataset")
    #expect(data.count - paraphrases == core, "every core example reaches the dataset")
  }

  @Test(arguments: ["reverse-instructions.yaml", "backtranslation.yaml", "slurm/reverse-instructions.yaml"])
  func reverseInstructionsKeepEverySegment(file: String) async throws {
    let dir = TempDir()
    let run = try await Self.run(file, shrink: [], in: dir)
    let segments = try await stageStats(run, "documents")["records_out"]?.intValue ?? 0
    let data = try Self.dataset(run)
    #expect(segments > 50)
    #expect(data.count == segments, "\(file): \(data.count) of \(segments) segments reached the dataset")
  }

  /// Every prompt whose candidates the judge told apart becomes a preference pair.
  @Test func preferenceKeepsEveryPromptWithDistinctScores() async throws {
    let dir = TempDir()
    let run = try await Self.run("preference.yaml", shrink: Self.recipes[9].shrink, in: dir)
    let prompts = try await stageStats(run, "candidates")["records_in"]?.intValue ?? 0
    let judged = try await stageStats(run, "judge")["records_out"]?.intValue ?? 0
    let ties = try await stageStats(run, "export")["dropped"]?.objectValue?["tie"]?.intValue ?? 0
    let data = try Self.dataset(run)
    #expect(prompts >= 12 && judged == prompts, "every prompt's candidates were judged")
    #expect(
      data.count == judged - ties && ties * 10 <= judged, "\(data.count) pairs of \(judged) prompts, \(ties) ties")
    #expect(data.allSatisfy { $0["chosen"] != $0["rejected"] })
  }

  /// Every seed prompt, answered and revised twice, passes the recipe's judge.
  @Test func critiqueReviseKeepsEveryRevisedAnswer() async throws {
    let dir = TempDir()
    let run = try await Self.run("critique-revise.yaml", shrink: [], in: dir)
    let seeds = try await stageStats(run, "prompts")["records_out"]?.intValue ?? 0
    let revised = try await stageStats(run, "revise")["counters"]?.objectValue?["passes_2"]?.intValue ?? 0
    #expect(seeds == 40 && revised == seeds)
    let judge = try await stageStats(run, "judge")
    #expect(try Self.dataset(run).count == seeds, "judge: \(filterDrops(judge)), \(judge["counters"] ?? .null)")
  }

  /// Every user turn the ideal model writes is kept, answered and exported, with its system prompt.
  @Test func magpieKeepsEveryAnsweredInstruction() async throws {
    let dir = TempDir()
    let run = try await Self.run("magpie.yaml", shrink: [("target: 100", "target: 16")], in: dir)
    let magpie = try await stageStats(run, "magpie")
    #expect(magpie["records_out"]?.intValue == 16, "\(filterDrops(magpie))")
    #expect(magpie["records_in"]?.intValue == 16, "the ideal model's user turns should pass every check")
    let data = try Self.dataset(run)
    #expect(data.count == 16, "\(data.count) of 16 conversations reached the dataset")
    let systems = Set(data.compactMap { $0["messages"]?.arrayValue?.first?.objectValue?["content"]?.stringValue })
    #expect(systems.count > 4, "the rotated system prompts reach the dataset")
  }

  /// The topics the prompts carried are recorded on what reached the dataset.
  @Test func topicGuidedKeepsTheTopicOfEveryRecord() async throws {
    let dir = TempDir()
    let run = try await Self.run("topic-guided.yaml", shrink: [("target: 100", "target: 16")], in: dir)
    let bootstrap = try await stageStats(run, "bootstrap")
    let steering = bootstrap["steering"]?.objectValue?["topic"]?.objectValue ?? [:]
    let kept = steering.map(\.value).compactMap { $0.objectValue?["kept"]?.intValue }.reduce(0, +)
    #expect(kept == 16, "every bootstrapped instruction is counted under its topic")
    let topics = try stageRecords(run, "02-bootstrap").compactMap { $0.meta["topic"]?.stringValue }
    #expect(topics.count == 16 && Set(topics).count > 1)
  }
}

/// Requests a scripted server answered, across the runs that share it.
final class RequestCount: Sendable {
  private let count = Mutex(0)
  func add() { count.withLock { $0 += 1 } }
  var value: Int { count.withLock { $0 } }
}
