import Foundation
import InstillCore

/// Benchmarks that print figures. Build with `-c release`; see Benchmarks/README.md.
///
///   instill-bench io [--records N] [--dir D]   gzip JSONL write + read throughput, peak RSS
///   instill-bench sha [--mb N]                 SHA-256 throughput
///   instill-bench instructions --count N --out F   realistic generated instructions (JSONL)
///   instill-bench rouge --input F [--limit N] [--threads T]   greedy ROUGE-L dedup timing
///   instill-bench corpus --count N --vocab V [--zipf] --near F --out F   ROUGE-L scale corpora
///   instill-bench cosine [--pool N] [--dim D] [--queries Q]   semantic dedup's exact search
@main
struct Bench {
  static func main() throws {
    var args = Array(CommandLine.arguments.dropFirst())
    let command = args.isEmpty ? "io" : args.removeFirst()
    func option(_ name: String, _ fallback: String) -> String {
      if let i = args.firstIndex(of: name), i + 1 < args.count { return args[i + 1] }
      return fallback
    }
    switch command {
    case "io":
      try io(
        records: Int(option("--records", "1000000")) ?? 1_000_000, dir: option("--dir", NSTemporaryDirectory()),
        level: Int(option("--level", "1")) ?? 1)
    case "sha":
      sha(megabytes: Int(option("--mb", "64")) ?? 64)
    case "instructions":
      try instructions(count: Int(option("--count", "52000")) ?? 52000, out: option("--out", "instructions.jsonl"))
    case "rouge":
      try rouge(
        input: option("--input", "instructions.jsonl"), limit: Int(option("--limit", "0")) ?? 0,
        threads: Int(option("--threads", "2")) ?? 2, batch: Int(option("--batch", "512")) ?? 512,
        reportFloor: Double(option("--report-floor", "0.5")) ?? 0.5)
    case "corpus":
      try corpus(
        count: Int(option("--count", "1000000")) ?? 1_000_000, vocabularySize: Int(option("--vocab", "30000")) ?? 30000,
        zipf: args.contains("--zipf"), near: Double(option("--near", "0.2")) ?? 0.2,
        min: Int(option("--min", "8")) ?? 8, max: Int(option("--max", "25")) ?? 25,
        out: option("--out", "corpus.jsonl.gz"))
    case "cosine":
      cosine(
        pool: Int(option("--pool", "100000")) ?? 100_000, dimension: Int(option("--dim", "576")) ?? 576,
        queries: Int(option("--queries", "200")) ?? 200)
    default:
      print("usage: instill-bench io|sha|instructions|rouge|corpus|cosine [options]")
      exit(2)
    }
  }

  /// Peak resident set size of this process so far (VmHWM), in MiB.
  static func peakRSS() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
      return kb / 1024
    }
    return 0
  }

  static func elapsed(_ start: ContinuousClock.Instant) -> Double {
    let d = ContinuousClock.now - start
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
  }

  /// Realistic ~300-byte instruction records.
  static func record(_ i: Int, _ random: inout SeededRandom) -> Record {
    let words = [
      "explain", "the", "difference", "between", "summarize", "following", "article", "in", "three", "sentences",
      "write", "a", "short", "poem", "about", "autumn", "leaves", "translate", "this", "into", "French",
      "classify", "review", "as", "positive", "or", "negative", "list", "reasons", "why", "rivers", "flood",
    ]
    func text(_ n: Int) -> String { (0..<n).map { _ in words[random.below(words.count)] }.joined(separator: " ") }
    return Record([
      "id": .string("gen-\(i)"),
      "instruction": .string(text(8 + random.below(8))),
      "input": .string(random.below(2) == 0 ? "" : text(6 + random.below(6))),
      "output": .string(text(18 + random.below(14))),
      "meta": .object(["method": .string("self_instruct"), "round": .int(i / 1000)]),
    ])
  }

  static func io(records count: Int, dir: String, level: Int) throws {
    let path = dir + "/instill-bench-\(getpid()).jsonl.gz"
    defer { unlink(path) }
    var random = SeededRandom(seed: 1)
    // Pre-generate a pool so that generation is not timed.
    let pool = (0..<10_000).map { record($0, &random) }

    let writeStart = ContinuousClock.now
    let writer = try RecordWriter(path: path, level: level)
    for i in 0..<count { try writer.write(pool[i % pool.count]) }
    try writer.finish()
    let writeSeconds = elapsed(writeStart)
    let rawBytes = writer.uncompressedBytes
    let gzBytes = FileSystem.fileSize(path)

    let readStart = ContinuousClock.now
    let reader = try RecordReader(path: path)
    var n = 0, chars = 0
    while let r = try reader.read() {
      n += 1
      chars &+= r.instruction.utf8.count
    }
    reader.close()
    let readSeconds = elapsed(readStart)
    precondition(n == count, "read \(n) of \(count) records")

    let mb = Double(rawBytes) / 1e6
    print("records:            \(count) (\(rawBytes / count) bytes each on average)")
    print(
      "uncompressed:       \(String(format: "%.1f", mb)) MB; gzip level \(level): \(String(format: "%.1f", Double(gzBytes) / 1e6)) MB"
    )
    print(
      "write:              \(String(format: "%.2f", writeSeconds)) s = \(String(format: "%.1f", mb / writeSeconds)) MB/s"
    )
    print(
      "read:               \(String(format: "%.2f", readSeconds)) s = \(String(format: "%.1f", mb / readSeconds)) MB/s")
    print("write+read:         \(String(format: "%.1f", 2 * mb / (writeSeconds + readSeconds))) MB/s")
    print("peak RSS:           \(String(format: "%.1f", peakRSS())) MiB")
  }

  static func sha(megabytes: Int) {
    let chunk = [UInt8](repeating: 0x61, count: 1 << 20)
    let start = ContinuousClock.now
    var h = SHA256()
    for _ in 0..<megabytes { h.update(chunk) }
    let digest = h.hexDigest()
    let s = elapsed(start)
    print(
      "sha256: \(megabytes) MiB in \(String(format: "%.2f", s)) s = \(String(format: "%.0f", Double(megabytes) / s)) MiB/s (\(digest.prefix(12))…)"
    )
  }
}
