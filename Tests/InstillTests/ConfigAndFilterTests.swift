import InstillCore
import InstillFilters
import InstillStages
import InstillTestSupport
import Testing

struct ConfigTests {
  var catalog: StageCatalog {
    var c = StageCatalog()
    c.registerBuiltins()
    return c
  }

  func load(_ yaml: String, in dir: TempDir) throws(InstillError) -> Pipeline {
    let file = dir.write("p.yaml", yaml)
    return try Pipeline.load(file: file, catalog: catalog)
  }

  func expectError(_ yaml: String, line: Int?, contains: String, field: String? = nil) {
    let dir = TempDir()
    dir.write("seeds.jsonl", "{\"instruction\":\"x\",\"output\":\"y\"}\n")
    do {
      _ = try load(yaml, in: dir)
      Issue.record("accepted: \(yaml)")
    } catch {
      #expect(error.kind == .invalidInput)
      #expect(error.file?.hasSuffix("p.yaml") == true)
      if let line { #expect(error.line == line, "\(error)") }
      if let field { #expect(error.field == field, "\(error)") }
      #expect(error.description.contains(contains), "\(error)")
    }
  }

  @Test func unknownKeyNamesFileLineAndField() {
    expectError(
      """
      name: t
      stages:
        - kind: read
          path: seeds.jsonl
          recods_per_shard: 5
        - kind: export
      """, line: 5, contains: "unknown key 'recods_per_shard'", field: "stages[0].recods_per_shard")
  }

  @Test func wrongTypeNamesTheField() {
    expectError(
      """
      name: t
      seed: abc
      stages:
        - kind: read
          path: seeds.jsonl
      """, line: 2, contains: "expected a whole number", field: "seed")
  }

  @Test func missingSeedFileIsReported() {
    expectError(
      """
      name: t
      stages:
        - kind: read
          path: nowhere.jsonl
      """, line: 4, contains: "file not found")
  }

  @Test func unknownStageKindListsKnownKinds() {
    expectError(
      """
      name: t
      stages:
        - kind: reed
          path: seeds.jsonl
      """, line: 3, contains: "unknown stage kind 'reed'")
  }

  @Test func duplicateKeysAndBadYAMLAreReported() {
    expectError("name: t\nname: u\nstages: []\n", line: nil, contains: "duplicate key")
    expectError("name: t\nstages: [\n", line: nil, contains: "invalid YAML")
  }

  @Test func filterParametersAreChecked() {
    expectError(
      """
      name: t
      stages:
        - kind: read
          path: seeds.jsonl
        - kind: filter
          filters:
            - type: length
              min: 10
              max: 2
      """, line: 7, contains: "larger than 'max'")
  }

  @Test func fingerprintsChangeWithParametersAndSeedFiles() async throws {
    let dir = TempDir()
    dir.write("seeds.jsonl", "{\"instruction\":\"x\",\"output\":\"y\"}\n")
    let yaml =
      "name: t\nstages:\n  - kind: read\n    path: seeds.jsonl\n  - kind: filter\n    filters: [{type: length, min: 1}]\n"
    let a = try load(yaml, in: dir)
    let b = try load(yaml.replacingOccurrences(of: "min: 1", with: "min: 2"), in: dir)
    #expect(a.stages[0].fingerprint == b.stages[0].fingerprint)
    #expect(a.stages[1].fingerprint != b.stages[1].fingerprint)
    dir.write("seeds.jsonl", "{\"instruction\":\"x\",\"output\":\"z\"}\n")
    let c = try load(yaml, in: dir)
    #expect(c.stages[0].fingerprint != a.stages[0].fingerprint)
    #expect(c.stages[1].fingerprint != a.stages[1].fingerprint)
  }
}

struct FilterTests {
  func rec(_ instruction: String, output: String = "ok") -> Record {
    Record(["instruction": .string(instruction), "output": .string(output)])
  }

  @Test func lengthCountsWordsLikePythonSplit() {
    let f = LengthFilter(name: "len", field: "instruction", unit: .words, min: 4, max: 6)
    #expect(f.check(rec("one two  three")) == "too_short")
    #expect(f.check(rec(" one\ttwo\nthree four ")) == nil)
    #expect(f.check(rec("a b c d e f g")) == "too_long")
    let chars = LengthFilter(name: "c", field: "output", unit: .chars, min: 3, max: nil)
    #expect(chars.check(rec("x", output: "日本")) == "too_short")
    #expect(chars.check(rec("x", output: "日本語")) == nil)
  }

  @Test func keywordsMatchWholeWordsCaseInsensitively() {
    let f = KeywordFilter(name: "kw", fields: ["instruction"], keywords: ["image", "go to"], wholeWord: true)
    #expect(f.check(rec("Describe this Image please")) == "keyword:image")
    #expect(f.check(rec("Describe the imagery")) == nil)
    #expect(f.check(rec("an image-based task")) == "keyword:image")
    #expect(f.check(rec("Go to the store")) == "keyword:go to")
    #expect(f.check(rec("ago tomorrow")) == nil)
    let sub = KeywordFilter(name: "kw", fields: ["instruction"], keywords: ["image"], wholeWord: false)
    #expect(sub.check(rec("imagery")) == "keyword:image")
  }

  @Test func chainCountsEachFilterAndAddsUp() {
    let chain = FilterChain([
      LengthFilter(name: "len", field: "instruction", unit: .words, min: 2, max: nil),
      KeywordFilter(name: "kw", fields: ["instruction"], keywords: ["image"], wholeWord: true),
    ])
    let stats = StatsRecorder()
    let inputs = ["short", "draw an image", "tell a story", "image", "write a haiku"]
    let kept = inputs.filter { chain.keep(rec($0), stats: stats) }
    #expect(kept == ["tell a story", "write a haiku"])
    let s = stats.snapshot
    #expect(s.filters.map(\.name) == ["len", "kw"])
    #expect(s.filters[0].seen == 5 && s.filters[0].kept == 3 && s.filters[0].dropped == ["too_short": 2])
    #expect(s.filters[1].seen == 3 && s.filters[1].kept == 2 && s.filters[1].dropped == ["keyword:image": 1])
    #expect(s.filters[1].examples["keyword:image"] == ["draw an image"])
  }
}
