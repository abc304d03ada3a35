import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Odd input files a user really has: empty ones, gzip with junk after it, and
/// files that start with a UTF-8 byte-order mark.
struct InputFileTests {
  static func pipeline(_ dir: TempDir, seeds: String, format: String = "jsonl", extra: String = "") -> String {
    dir.write(
      "p.yaml",
      """
      name: inputs
      stages:
        - kind: read
          path: \(seeds)
          format: \(format)
      \(extra)
        - kind: export
          format: alpaca
          shuffle: false
      """)
  }

  @Test(arguments: ["", "\n\n   \n"])
  func anEmptySeedFileIsAnInputErrorUnlessAllowed(content: String) async throws {
    let dir = TempDir()
    dir.write("seeds.jsonl", content)
    let p = Self.pipeline(dir, seeds: "seeds.jsonl")
    let refused = try await instill(expect: 2, "run", p, "--run-dir", dir.file("run"))
    #expect(refused.stderr.contains("seeds.jsonl: no records"), "\(refused.stderr)")
    #expect(!FileSystem.exists(dir.file("run") + "/data"))
    try await instill(expect: 2, "validate", p)

    let allowed = Self.pipeline(dir, seeds: "seeds.jsonl", extra: "    allow_empty: true")
    try await instill(expect: 0, "run", allowed, "--run-dir", dir.file("run2"))
    let manifest = try JSONParser.parse(try FileSystem.read(dir.file("run2") + "/data/dataset.json")).objectValue
    #expect(manifest?["records"]?.intValue == 0)
  }

  @Test func bytesAfterTheLastGzipMemberAreCorruptionNamedWithTheirOffset() async throws {
    let dir = TempDir()
    let clean = dir.file("clean.jsonl.gz")
    let writer = try RecordWriter(path: clean)
    for i in 0..<50 {
      try writer.write(Record(["instruction": .string("task \(i)"), "output": .string("answer \(i)")]))
    }
    try writer.finish()
    let good = try FileSystem.read(clean)
    // Two members are fine; a member followed by anything else is not.
    dir.write("two.jsonl.gz", bytes: good + good)
    #expect(try RecordReader.count(path: dir.file("two.jsonl.gz")) == 100)
    for junk: [UInt8] in [Array("garbage\n".utf8), [0x1F], [0, 0, 0, 0]] {
      let path = dir.write("junk.jsonl.gz", bytes: good + junk)
      do {
        _ = try RecordReader.count(path: path)
        Issue.record("accepted \(junk.count) bytes of junk after the gzip data")
      } catch {
        #expect(error.kind == .invalidInput)
        #expect(error.message.contains("byte offset \(good.count)"), "\(error)")
      }
    }
    let p = Self.pipeline(dir, seeds: "junk.jsonl.gz")
    let result = try await instill(expect: 2, "run", p, "--run-dir", dir.file("run"))
    #expect(result.stderr.contains("junk.jsonl.gz"), "\(result.stderr)")
    #expect(
      result.stderr.contains("unexpected bytes after the gzip data at byte offset \(good.count)"), "\(result.stderr)")
  }

  @Test func aByteOrderMarkAtTheStartIsSkippedAndOnlyThere() async throws {
    let dir = TempDir()
    let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
    let line = Array("{\"instruction\":\"Say hi.\",\"output\":\"Hi\"}\n".utf8)
    dir.write("bom.jsonl", bytes: bom + line + line)
    dir.write("bom.json", bytes: bom + Array("[{\"instruction\":\"Say hi.\",\"input\":\"\",\"output\":\"Hi\"}]".utf8))
    _ = Self.pipeline(dir, seeds: "bom.jsonl")
    let text = try String(contentsOfFile: dir.file("p.yaml"), encoding: .utf8)
    let p = dir.write("bom.yaml", bytes: bom + Array(text.utf8))
    let run = dir.file("run")
    try await instill(expect: 0, "run", p, "--run-dir", run)
    let records = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(records.map(\.instruction) == ["Say hi.", "Say hi."])

    let alpaca = Self.pipeline(dir, seeds: "bom.json", format: "alpaca")
    try await instill(expect: 0, "run", alpaca, "--run-dir", dir.file("run-alpaca"))

    // A mark anywhere else is not skipped: the line is not JSON.
    dir.write("middle.jsonl", bytes: line + bom + line)
    let middle = Self.pipeline(dir, seeds: "middle.jsonl")
    let refused = try await instill(expect: 2, "run", middle, "--run-dir", dir.file("run-middle"))
    #expect(refused.stderr.contains("middle.jsonl:2"), "\(refused.stderr)")
  }
}
