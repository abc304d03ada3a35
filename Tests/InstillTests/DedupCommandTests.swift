import Foundation
import InstillCore
import InstillRouge
import InstillTestSupport
import Testing

/// `instill dedup` and the `dedup` stage, through the built binary.
struct DedupCommandTests {
  static func greedyFixture() throws -> [JSONObject] { try RougeTests.fixture("rouge-greedy.jsonl") }

  /// The fixture's texts as records with ids, split over two input files.
  func inputs(_ dir: TempDir) throws -> (String, String, [JSONObject]) {
    let rows = try Self.greedyFixture()
    var a = "", b = ""
    for (i, row) in rows.enumerated() {
      let line = JSONWriter.string(.object(["id": .string("t\(i)"), "instruction": row["text"] ?? .string("")])) + "\n"
      if i < rows.count / 2 { a += line } else { b += line }
    }
    return (dir.write("a.jsonl", a), dir.write("b.jsonl", b), rows)
  }

  @Test func commandKeepsWhatRougeScoreKeepsInOrderAcrossFiles() async throws {
    let dir = TempDir()
    let (a, b, rows) = try inputs(dir)
    let out = dir.file("out.jsonl.gz")
    let result = try await instill("dedup", a, b, "--output", out, "--no-exact")
    #expect(result.status == 0, "\(result.stderr)")
    let kept = try RecordReader.readAll(path: out)
    let expected = rows.enumerated().filter { $0.element["kept"]?.boolValue == true }.map { "t\($0.offset)" }
    #expect(kept.compactMap(\.id) == expected)
    #expect(result.stderr.contains("\(rows.count) in, \(expected.count) kept"))
    // Annotations: the highest similarity and the nearest kept record, when ≥ the floor.
    let byID = Dictionary(uniqueKeysWithValues: rows.enumerated().map { ("t\($0.offset)", $0.element) })
    let keptIDs = expected
    for record in kept {
      let row = byID[record.id ?? ""]!
      let maxF = row["max_f"]?.doubleValue ?? 0
      let meta = record.meta
      if maxF >= 0.5 {
        #expect(abs((meta["rouge_l_max"]?.doubleValue ?? -1) - maxF) < 1e-6)
        if let nearest = row["nearest"]?.intValue { #expect(meta["rouge_l_nearest"]?.stringValue == keptIDs[nearest]) }
      } else {
        #expect(meta["rouge_l_max"] == .null)
      }
    }
  }

  @Test func againstFilesSeedThePoolAndExactRepeatsGoFirst() async throws {
    let dir = TempDir()
    let reference = dir.write(
      "ref.jsonl",
      """
      {"id":"r1","instruction":"Write a short poem about the sea."}
      """)
    let input = dir.write(
      "in.jsonl",
      """
      {"id":"x1","instruction":"Write a short poem about the sea!"}
      {"id":"x2","instruction":"Explain how tides work to a child."}
      {"id":"x3","instruction":"explain how   tides work to a child."}
      {"id":"x4","instruction":"日本語だけの指示"}
      {"id":"x5","instruction":"日本語だけの指示"}
      """)
    let out = dir.file("out.jsonl")
    let result = try await instill("dedup", input, "--output", out, "--against", reference)
    #expect(result.status == 0, "\(result.stderr)")
    let kept = try RecordReader.readAll(path: out).compactMap(\.id)
    // x1 is too close to the reference; x3 repeats x2; x5 repeats x4 (which has no ROUGE tokens).
    #expect(kept == ["x2", "x4"])
    #expect(result.stderr.contains("exact_duplicate=2"))
    #expect(result.stderr.contains("rouge_l>0.7=1"))
    let missingField = dir.write("bad.jsonl", "{\"id\":\"y\",\"text\":\"no instruction here\"}\n")
    let bad = try await instill("dedup", missingField, "--output", dir.file("bad-out.jsonl"))
    #expect(bad.status == 2)
    #expect(bad.stderr.contains("bad.jsonl:1"))
    #expect(!FileSystem.exists(dir.file("bad-out.jsonl")))
  }

  @Test func dedupStageIsGlobalAcrossShardsAndCountsAddUp() async throws {
    let dir = TempDir()
    let (a, _, rows) = try inputs(dir)
    _ = a
    var all = ""
    for (i, row) in rows.enumerated() {
      all +=
        JSONWriter.string(
          .object(["id": .string("t\(i)"), "instruction": row["text"] ?? .string(""), "output": .string("ok")])) + "\n"
    }
    dir.write("all.jsonl", all)
    let p = dir.write(
      "p.yaml",
      """
      name: dedup-stage
      stages:
        - kind: read
          path: all.jsonl
          records_per_shard: 100
        - kind: dedup
          exact: false
          records_per_shard: 300
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let expected = rows.filter { $0["kept"]?.boolValue == true }.count
    let stage = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue
    let counts = stage?["stats"]?.objectValue
    #expect(counts?["records_in"]?.intValue == rows.count)
    #expect(counts?["records_out"]?.intValue == expected)
    #expect(stage?["counts_add_up"] == .bool(true))
    let filter = counts?["filters"]?.arrayValue?.first?.objectValue
    #expect(filter?["name"]?.stringValue == "rouge_l")
    #expect(filter?["dropped"]?.objectValue?["rouge_l>0.7"]?.intValue == rows.count - expected)
    let examples = filter?["examples"]?.objectValue?["rouge_l>0.7"]?.arrayValue ?? []
    #expect(examples.first?.stringValue?.contains("≈") == true)
  }

  /// Instances of one task share the instruction: compared on input and output,
  /// different examples of a task stay and repeated examples go.
  /// An Evol-like set: each lineage's rounds grow their parent by a few words.
  /// Without a group, dedup removes most rounds; with `--group meta.root` (or
  /// the stage's `group:`) only a near copy from another lineage goes.
  @Test func groupsCompareRecordsOnlyAcrossLineages() async throws {
    let dir = TempDir()
    var lines = ""
    let roots = [
      "Explain why the sky looks blue during the day.", "Give three tips for keeping houseplants alive in winter.",
    ]
    for (r, root) in roots.enumerated() {
      var text = root
      for round in 0...3 {
        if round > 0 { text += " Also mention detail number \(round) clearly." }
        let record: JSONObject = [
          "id": .string("r\(r)-e\(round)"), "instruction": .string(text),
          "meta": .object(["root": .string("r\(r)"), "round": .int(round)]),
        ]
        lines += JSONWriter.string(.object(record)) + "\n"
      }
    }
    // A near copy of the first lineage's seed from another lineage, and one with no lineage at all.
    lines +=
      JSONWriter.string(
        .object([
          "id": .string("x"), "instruction": .string("Explain why the sky looks so blue during the day."),
          "meta": .object(["root": .string("x")]),
        ])) + "\n"
    lines +=
      JSONWriter.string(
        .object([
          "id": .string("y"), "instruction": .string("Give three tips for keeping houseplants alive in the winter."),
        ])) + "\n"
    let input = dir.write("evol.jsonl", lines)
    let plain = dir.file("plain.jsonl")
    try await instill(expect: 0, "dedup", input, "--output", plain)
    #expect(try RecordReader.readAll(path: plain).compactMap(\.id) == ["r0-e0", "r0-e2", "r1-e0", "r1-e2"])
    let grouped = dir.file("grouped.jsonl")
    try await instill(expect: 0, "dedup", input, "--output", grouped, "--group", "meta.root")
    let kept = try RecordReader.readAll(path: grouped)
    #expect(kept.compactMap(\.id) == ["r0-e0", "r0-e1", "r0-e2", "r0-e3", "r1-e0", "r1-e1", "r1-e2", "r1-e3"])
    // The nearest neighbour reported is of another lineage (or none).
    #expect(kept.allSatisfy { ($0.meta["rouge_l_nearest"]?.stringValue ?? "r9").prefix(2) != ($0.id ?? "").prefix(2) })
    // Fallback paths: the first one a record has names its group.
    let fallback = dir.file("fallback.jsonl")
    try await instill(expect: 0, "dedup", input, "--output", fallback, "--group", "meta.parent", "--group", "meta.root")
    #expect(try RecordReader.readAll(path: fallback).count == 8)
    let bad = try await instill("dedup", input, "--output", dir.file("bad.jsonl"), "--group", "meta..root")
    #expect(bad.status == 2 && bad.stderr.contains("--group"), "\(bad.stderr)")
  }

  @Test func severalFieldsAreComparedJoined() async throws {
    let dir = TempDir()
    let input = dir.write(
      "in.jsonl",
      """
      {"id":"a","instruction":"Convert the temperature to Fahrenheit.","input":"25 °C","output":"77 °F"}
      {"id":"b","instruction":"Convert the temperature to Fahrenheit.","input":"-10 °C","output":"14 °F"}
      {"id":"c","instruction":"Give the temperature in Fahrenheit.","input":"25 °C","output":"77 °F"}
      {"id":"d","instruction":"Name a primary color.","input":"","output":"77 F"}
      """)
    let p = dir.write(
      "p.yaml",
      """
      name: fields
      stages:
        - kind: read
          path: in.jsonl
        - kind: dedup
          fields: [input, output]
        - kind: export
          format: alpaca
          shuffle: false
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let kept = try stageRecords(run, "02-dedup").compactMap(\.id)
    // c repeats a's example (ROUGE 1.0); d's "\n77 F" shares 2 of a's 4 tokens (F = 2/3 ≤ 0.7).
    #expect(kept == ["a", "b", "d"])
    let out = dir.file("out.jsonl")
    let command = try await instill("dedup", input, "--output", out, "--field", "input", "--field", "output")
    #expect(command.status == 0, "\(command.stderr)")
    #expect(try RecordReader.readAll(path: out).compactMap(\.id) == ["a", "b", "d"])
    // On the instruction alone, b repeats a.
    let byInstruction = try await instill("dedup", input, "--output", dir.file("i.jsonl"))
    #expect(byInstruction.status == 0)
    #expect(try RecordReader.readAll(path: dir.file("i.jsonl")).compactMap(\.id) == ["a", "c", "d"])
    let both = dir.write(
      "both.yaml",
      """
      name: both
      stages:
        - kind: read
          path: in.jsonl
        - kind: dedup
          field: input
          fields: [input, output]
      """)
    let rejected = try await instill("validate", both)
    #expect(rejected.status == 2)
    #expect(rejected.stderr.contains("both.yaml:7"), "\(rejected.stderr)")
  }
}
