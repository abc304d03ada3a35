import Foundation
import InstillCore
import InstillTestSupport
import Synchronization
import Testing

/// A corpus of random-word documents with planted near-duplicates, for MinHash.
enum PlantedCorpus {
  /// `bases` documents of `words` words, then one near-duplicate (one word changed,
  /// Jaccard about 0.92 over 5-word shingles) of every `nearEvery`-th base and one far
  /// variant (every third word changed, Jaccard near 0) of every other base.
  static func make(bases: Int, words: Int = 120, nearEvery: Int = 3, seed: UInt64 = 7) -> (
    jsonl: String, near: Set<String>, far: Set<String>
  ) {
    var random = SeededRandom(seed: seed)
    func word() -> String { "w\(random.below(3000))" }
    var documents: [(String, [String])] = []
    var near = Set<String>()
    var far = Set<String>()
    var originals: [[String]] = []
    for b in 0..<bases {
      let text = (0..<words).map { _ in word() }
      originals.append(text)
      documents.append(("base-\(b)", text))
    }
    for b in 0..<bases {
      var copy = originals[b]
      if b % nearEvery == 0 {
        copy[words / 2] = "changed"
        near.insert("near-\(b)")
        documents.append(("near-\(b)", copy))
      } else if b % 2 == 0 {
        for i in stride(from: 0, to: words, by: 3) { copy[i] = word() }
        far.insert("far-\(b)")
        documents.append(("far-\(b)", copy))
      }
    }
    let jsonl = documents.map { id, text in
      "{\"id\": \"\(id)\", \"text\": \"\(text.joined(separator: " ").capitalized).\"}\n"
    }.joined()
    return (jsonl, near, far)
  }
}

/// MinHash-LSH deduplication and benchmark decontamination, run through the CLI.
struct CorpusDedupTests {
  static func pipeline(
    _ dir: TempDir, name: String = "p", corpus: String = "c.jsonl", perShard: Int = 25,
    signatures: String = "", buckets: String = ""
  ) -> String {
    dir.write(
      "\(name).yaml",
      """
      name: mh
      seed: 11
      stages:
        - {kind: read, path: \(corpus), records_per_shard: \(perShard)}
        - {kind: minhash_signatures\(signatures)}
        - {kind: minhash_buckets\(buckets)}
        - {kind: minhash_remove}
      """)
  }

  static func keptIDs(_ run: String, shards: Int) throws -> [String] {
    try stageRecords(run, "04-minhash_remove", shards: 0..<shards).compactMap(\.id)
  }

  @Test func plantedNearDuplicatesAreRemovedAndVerifyChecksTheExactJaccard() async throws {
    let dir = TempDir()
    let corpus = PlantedCorpus.make(bases: 60)
    dir.write("c.jsonl", corpus.jsonl)
    let run = dir.file("run")
    try await instill(expect: 0, "run", Self.pipeline(dir), "--run-dir", run)
    let total = 60 + corpus.near.count + corpus.far.count
    let kept = Set(try Self.keptIDs(run, shards: (total + 24) / 25))
    #expect(kept.count == total - corpus.near.count)
    #expect(kept.isDisjoint(with: corpus.near), "every planted near-duplicate is removed")
    #expect(kept.isSuperset(of: corpus.far), "variants with a third of their words changed stay")
    #expect(kept.isSuperset(of: (0..<60).map { "base-\($0)" }), "the first of each cluster in input order stays")

    let buckets = try await stageStats(run, "minhash_buckets")
    let counters = buckets["counters"]?.objectValue
    #expect(counters?["clusters"]?.intValue == corpus.near.count)
    #expect(counters?["clusters_of_2"]?.intValue == corpus.near.count)
    #expect(counters?["duplicates"]?.intValue == corpus.near.count)
    let removal = try await stageStats(run, "minhash_remove")
    #expect(filterDrops(removal)["minhash"] == ["near_duplicate": corpus.near.count])
    let stats = try await instill(expect: 0, "stats", run)
    #expect(stats.stdout.contains("near_duplicate"))
    let examples = try await instill(expect: 0, "stats", run, "--examples", "near_duplicate")
    #expect(examples.stdout.contains("  ≈  W"), "examples show the removed text beside the kept one")
    let record = try stageRecords(run, "04-minhash_remove", shards: 0..<3).first { $0.id == "base-0" }
    #expect(record?.meta["minhash"]?.objectValue?["cluster_size"] == .int(2))
    #expect(record?.meta["minhash"]?.objectValue?["bands"] == nil, "signatures are not carried on")

    // verify: 0.95 is above the planted pairs' exact Jaccard (~0.92): every candidate is rejected.
    let strict = dir.file("strict")
    try await instill(
      expect: 0, "run", Self.pipeline(dir, name: "strict", buckets: ", verify: 0.95"), "--run-dir", strict)
    #expect(Set(try Self.keptIDs(strict, shards: (total + 24) / 25)).count == total)
    let strictCounters = try await stageStats(strict, "minhash_buckets")["counters"]?.objectValue
    #expect(strictCounters?["pairs_below_verify"]?.intValue == corpus.near.count)
    #expect(strictCounters?["verified_pairs"]?.intValue == 0)
    // verify: 0.8 accepts them.
    let loose = dir.file("loose")
    try await instill(
      expect: 0, "run", Self.pipeline(dir, name: "loose", buckets: ", verify: 0.8"), "--run-dir", loose)
    #expect(Set(try Self.keptIDs(loose, shards: (total + 24) / 25)) == kept)
  }

  @Test func aFourTaskJobArrayKeepsWhatOneProcessKeeps() async throws {
    let dir = TempDir()
    let corpus = PlantedCorpus.make(bases: 80, nearEvery: 2)
    dir.write("c.jsonl", corpus.jsonl)
    let pipeline = Self.pipeline(dir, perShard: 10)
    let single = dir.file("single")
    try await instill(expect: 0, "run", pipeline, "--run-dir", single)
    let array = dir.file("array")
    try await instill(expect: 0, "run", pipeline, "--run-dir", array, "--stage", "read")
    for task in 0..<4 {
      try await instill(
        expect: 0, "run", pipeline, "--run-dir", array, "--shard-index", "\(task)", "--shard-count", "4",
        "--stage", "minhash_signatures")
    }
    try await instill(expect: 0, "run", pipeline, "--run-dir", array, "--stage", "minhash_buckets")
    for task in 0..<4 {
      try await instill(
        expect: 0, "run", pipeline, "--run-dir", array, "--shard-index", "\(task)", "--shard-count", "4",
        "--stage", "minhash_remove")
    }
    let shards = (80 + corpus.near.count + corpus.far.count + 9) / 10
    let kept = try Self.keptIDs(single, shards: shards)
    #expect(kept.count == 80 + corpus.far.count)
    #expect(try Self.keptIDs(array, shards: shards) == kept)
    for shard in 0..<shards {
      #expect(
        try RecordReader.readAll(path: shardFile(array, "04-minhash_remove", shard))
          == RecordReader.readAll(path: shardFile(single, "04-minhash_remove", shard)))
    }
  }

  @Test func killedDuringSignaturesResumesToTheSameResult() async throws {
    let dir = TempDir()
    let corpus = PlantedCorpus.make(bases: 1200, words: 300, nearEvery: 4)
    dir.write("c.jsonl", corpus.jsonl)
    // Many bands make the signatures slow enough to be killed half-way.
    let pipeline = Self.pipeline(dir, perShard: 40, signatures: ", bands: 384, rows: 8")
    let total = 1200 + corpus.near.count + corpus.far.count
    let shards = (total + 39) / 40
    let reference = dir.file("reference")
    try await instill(expect: 0, "run", pipeline, "--run-dir", reference)

    let run = dir.file("run")
    let process = try launchInstill(["run", pipeline, "--run-dir", run, "--quiet"])
    var doneAtKill = 0
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline {
      doneAtKill =
        (0..<shards).filter { FileManager.default.fileExists(atPath: shardFile(run, "02-minhash_signatures", $0)) }
        .count
      if doneAtKill >= 2 { break }
      try await Task.sleep(for: .milliseconds(5))
    }
    kill(process.processIdentifier, SIGKILL)
    await waitForExit(process)
    #expect(
      doneAtKill >= 2 && doneAtKill < shards, "killed in the signatures stage (\(doneAtKill) of \(shards) shards)")
    #expect(!FileManager.default.fileExists(atPath: shardFile(run, "03-minhash_buckets", 0)))

    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let kept = try Self.keptIDs(run, shards: shards)
    #expect(kept == (try Self.keptIDs(reference, shards: shards)))
    #expect(Set(kept).isDisjoint(with: corpus.near))
  }

  // MARK: decontamination

  static let benchmarks = repositoryPath("Seeds/benchmarks")

  @Test func plantedBenchmarkItemsAreRemovedPerFileAndNearMissesKept() async throws {
    let dir = TempDir()
    func line(_ id: String, _ instruction: String, output: String = "An answer.") -> String {
      "{\"id\": \"\(id)\", \"instruction\": \"\(instruction)\", \"output\": \"\(output)\"}\n"
    }
    // sci-01 has 22 words; a copy of 13 consecutive ones (other case and punctuation) is contaminated.
    let thirteen = "MOST of the ozone, that absorbs ultraviolet light from the sun before it"
    let twelve = "most of the ozone that absorbs ultraviolet light from the sun before"
    dir.write(
      "gen.jsonl",
      line("c1", "Quiz: name the layer with \(thirteen)? Explain.")
        + line(
          "c2", "Tell me a fact.",
          output:
            "Photosynthesis is the process green plants use to turn water, carbon dioxide and the energy of sunlight into sugar."
        )
        + line(
          "c3",
          "Solve: a baker fills twelve trays with fourteen rolls each and then sells all but nineteen of the rolls.")
        + line("c4", "Riddle time. How many bones are in an adult human hand?")
        + line("n1", "Which part of the sky has \(twelve) us?")
        + line("n2", "How many bones are in a human hand?")
        + line("n3", "Write a poem about bees."))
    let pipeline = dir.write(
      "p.yaml",
      """
      name: dc
      stages:
        - {kind: read, path: gen.jsonl}
        - kind: decontaminate
          against:
            - {path: \(Self.benchmarks)/science-qa.jsonl, field: question}
            - {path: \(Self.benchmarks)/arithmetic.jsonl, fields: [problem, solution]}
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    #expect(try stageRecords(run, "02-decontaminate").compactMap(\.id) == ["n1", "n2", "n3"])
    let stats = try await stageStats(run, "decontaminate")
    #expect(
      filterDrops(stats)["decontaminate"] == ["contaminated:science-qa.jsonl": 3, "contaminated:arithmetic.jsonl": 1])
    let examples = JSONWriter.string(stats["filters"] ?? .null)
    #expect(examples.contains("«most of the ozone that absorbs ultraviolet light from the sun before it»"))
    #expect(examples.contains("science-qa.jsonl:1"), "the example names the benchmark file and line")

    // A folder of benchmark files, with the field on the stage.
    let folder = dir.write(
      "folder.yaml",
      """
      name: dc
      stages:
        - {kind: read, path: gen.jsonl}
        - {kind: decontaminate, against: [\(Self.benchmarks)], field: question, ngram: 12}
      """)
    // arithmetic.jsonl has no 'question' field: an input error naming file, line and field.
    let bad = try await instill(expect: 2, "run", folder, "--run-dir", dir.file("folder"))
    #expect(bad.stderr.contains("arithmetic.jsonl:1") && bad.stderr.contains("question"))
    // ngram 12 catches the 12-word near-miss.
    dir.write(
      "only/science-qa.jsonl", try String(contentsOfFile: Self.benchmarks + "/science-qa.jsonl", encoding: .utf8))
    let twelvePipeline = dir.write(
      "twelve.yaml",
      """
      name: dc
      stages:
        - {kind: read, path: gen.jsonl}
        - {kind: decontaminate, against: [only], field: question, ngram: 12}
      """)
    let twelveRun = dir.file("twelve")
    try await instill(expect: 0, "run", twelvePipeline, "--run-dir", twelveRun)
    #expect(try stageRecords(twelveRun, "02-decontaminate").compactMap(\.id) == ["c3", "n2", "n3"])
  }
}

/// Semantic dedup against a scripted `/embeddings` endpoint whose vectors are the
/// texts themselves ("x,y,z"), so every decision is known in advance.
struct SemanticDedupTests {
  @Test func cosineDecisionsInInputOrderFailuresCountedAndAJournalReplaySendsNothing() async throws {
    let dir = TempDir()
    let asked = Mutex<[String]>([])
    let server = try TestHTTPServer { _, uri, body in
      let object = (try? JSONParser.parse(body))?.objectValue
      let input = object?["input"]?.stringValue ?? ""
      asked.withLock { $0.append(input) }
      guard uri.hasSuffix("/embeddings") else { return .respond(status: 404, headers: [], body: []) }
      if input == "broken" { return .respond(status: 400, headers: [], body: Array("{\"error\": \"bad\"}".utf8)) }
      let numbers = input.split(separator: ",").map { String($0) }.joined(separator: ", ")
      let reply = "{\"data\": [{\"embedding\": [\(numbers)], \"index\": 0}], \"usage\": {\"prompt_tokens\": 3}}"
      return .respond(status: 200, headers: [("Content-Type", "application/json")], body: Array(reply.utf8))
    }
    defer { server.stop() }
    let texts = ["1,0,0", "0.99,0.1,0", "0,1,0", "0.5,0.5,0", "broken", "0,1,0", "0,0.2,0.98", "2,0,0"]
    dir.write(
      "t.jsonl",
      texts.enumerated().map { "{\"id\": \"r\($0)\", \"instruction\": \"\($1)\"}\n" }.joined())
    let pipeline = dir.write(
      "p.yaml",
      """
      name: sem
      llm: {provider: openai, base_url: \(server.baseURL), model: embedder, max_concurrency: 3}
      stages:
        - {kind: read, path: t.jsonl}
        - {kind: semantic_dedup, threshold: 0.9}
        - {kind: export, format: alpaca, shuffle: false}
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let kept = try stageRecords(run, "02-semantic_dedup")
    // r1 ≈ r0 (0.995), r5 repeats r2's text, r7 points the way r0 does (cosine 1); r3 is 0.707 from both.
    #expect(kept.compactMap(\.id) == ["r0", "r2", "r3", "r6"])
    #expect(kept[2].meta["cosine_max"] == .double(0.707107))
    #expect(kept[2].meta["cosine_nearest"] == .string("r0"))
    #expect(kept[0].meta["cosine_max"] == .null)
    let stats = try await stageStats(run, "semantic_dedup")
    #expect(filterDrops(stats)["semantic"] == ["cosine>0.9": 2])
    #expect(filterDrops(stats)["exact"] == ["exact_duplicate": 1])
    #expect(stats["dropped"]?.objectValue?["llm_failed:http_400"]?.intValue == 1)
    #expect(asked.withLock { $0.filter { $0 == "0,1,0" }.count } == 1, "a repeated text is not embedded again")

    // The journal answers everything: a fresh run directory given it asks for nothing.
    let before = asked.withLock { $0.count }
    let replay = dir.file("replay")
    try copyJournals(from: run, to: replay)
    try await instill(expect: 0, "run", pipeline, "--run-dir", replay)
    #expect(asked.withLock { $0.count } == before + 1, "only the failed request is asked again")
    #expect(treeDigest(replay + "/data") == treeDigest(run + "/data"))
  }
}
