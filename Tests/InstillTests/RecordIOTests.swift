import Foundation
import InstillCore
import InstillTestSupport
import Testing

struct RecordIOTests {
  func records(_ n: Int) -> [Record] {
    (0..<n).map { i in Record(["id": .string("r\(i)"), "instruction": .string("Do thing \(i) ✓"), "n": .int(i)]) }
  }

  @Test func gzipRoundTripIsAtomic() async throws {
    let dir = TempDir()
    let path = dir.file("a.jsonl.gz")
    let writer = try RecordWriter(path: path)
    try writer.write(contentsOf: records(5000))
    #expect(!FileSystem.exists(path), "the final name must not exist before finish()")
    try writer.finish()
    #expect(FileSystem.exists(path))
    #expect(!FileSystem.exists(path + ".tmp"))
    let back = try RecordReader.readAll(path: path)
    #expect(back == records(5000))
    // The file is real gzip: the system's gzip accepts it.
    #expect(try await runProgram("/bin/gzip", ["-t", path]).status == 0)
  }

  @Test func abandonedWriterLeavesNothing() async throws {
    let dir = TempDir()
    let path = dir.file("b.jsonl.gz")
    let writer = try RecordWriter(path: path)
    try writer.write(contentsOf: records(10))
    writer.abandon()
    #expect(FileSystem.list(dir.path).isEmpty)
  }

  @Test func readsConcatenatedGzipMembers() async throws {
    let dir = TempDir()
    let one = dir.file("one.jsonl"), two = dir.file("two.jsonl")
    dir.write("one.jsonl", "{\"a\":1}\n{\"a\":2}\n")
    dir.write("two.jsonl", "{\"a\":3}\n")
    try await runProgram("/bin/gzip", ["-k", one, two])
    let a = try FileSystem.read(one + ".gz"), b = try FileSystem.read(two + ".gz")
    let joined = dir.write("joined.jsonl.gz", bytes: a + b)
    let back = try RecordReader.readAll(path: joined)
    #expect(back.map { $0["a"] } == [.number("1"), .number("2"), .number("3")])
  }

  @Test func truncatedGzipIsAnErrorNotAShortRead() async throws {
    let dir = TempDir()
    let path = dir.file("full.jsonl.gz")
    let writer = try RecordWriter(path: path)
    try writer.write(contentsOf: records(20000))
    try writer.finish()
    let bytes = try FileSystem.read(path)
    let cut = dir.write("cut.jsonl.gz", bytes: Array(bytes.prefix(bytes.count / 2)))
    do {
      _ = try RecordReader.count(path: cut)
      Issue.record("a truncated file was read without error")
    } catch {
      #expect(error.kind == .invalidInput)
      #expect(error.file == cut)
      #expect(error.message.contains("truncated") || error.message.contains("corrupt"))
    }
    // A file cut in its last few bytes (the gzip trailer) is also refused.
    let tail = dir.write("tail.jsonl.gz", bytes: Array(bytes.dropLast(4)))
    #expect(throws: InstillError.self) { _ = try RecordReader.count(path: tail) }
  }

  @Test func corruptGzipIsAnError() async throws {
    let dir = TempDir()
    let path = dir.file("c.jsonl.gz")
    let writer = try RecordWriter(path: path)
    try writer.write(contentsOf: records(2000))
    try writer.finish()
    var bytes = try FileSystem.read(path)
    for i in stride(from: 100, to: min(bytes.count - 20, 400), by: 7) { bytes[i] ^= 0xFF }
    let bad = dir.write("bad.jsonl.gz", bytes: bytes)
    #expect(throws: InstillError.self) { _ = try RecordReader.count(path: bad) }
    let notGzip = dir.write("plain.jsonl.gz", "{\"a\":1}\n")
    #expect(throws: InstillError.self) { _ = try RecordReader.count(path: notGzip) }
  }

  @Test func badLinesNameFileAndLine() async throws {
    let dir = TempDir()
    let path = dir.write("x.jsonl", "{\"a\":1}\n\n[1,2]\n")
    do {
      _ = try RecordReader.readAll(path: path)
      Issue.record("accepted a non-object line")
    } catch {
      #expect(error.line == 3)
      #expect(error.description.contains("x.jsonl:3"))
    }
    let utf8 = dir.write(
      "u.jsonl", bytes: Array("{\"a\":\"ok\"}\n{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}\n".utf8))
    do {
      _ = try RecordReader.readAll(path: utf8)
      Issue.record("accepted invalid UTF-8")
    } catch {
      #expect(error.line == 2)
      #expect(error.message.contains("UTF-8"))
    }
  }

  @Test func longLinesCrossBufferBoundaries() async throws {
    let dir = TempDir()
    let big = String(repeating: "word ", count: 400_000)
    let path = dir.file("long.jsonl.gz")
    let writer = try RecordWriter(path: path)
    try writer.write(Record(["t": .string(big)]))
    try writer.write(Record(["t": .string("small")]))
    try writer.finish()
    let back = try RecordReader.readAll(path: path)
    #expect(back.count == 2)
    #expect(back[0].string("t") == big)
  }
}
