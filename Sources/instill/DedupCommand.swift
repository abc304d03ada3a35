import ArgumentParser
import Foundation
import InstillCore
import InstillRouge
import InstillStages

struct Dedup: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove ROUGE-L near-duplicates from JSONL or JSONL.gz files.",
    discussion: """
      Greedy in input order over all inputs: a record is kept when its ROUGE-L F against every record kept \
      before it (and every --against record) is at most the threshold, as Self-Instruct and Alpaca do, with \
      rouge-score's default tokenizer. Exact repeats (case and white space folded) are dropped first. Records \
      keep their order; kept ones get meta.rouge_l_max and meta.rouge_l_nearest. With --group, a record is \
      compared only with records of other groups (an Evol lineage, a core example and its paraphrases).
      """)

  @Argument(help: "Input files (.jsonl or .jsonl.gz), read in order.")
  var inputs: [String]

  @Option(name: .shortAndLong, help: "Output file; gzip when it ends in .gz.")
  var output: String

  @Option(help: "Drop a record whose ROUGE-L F against a kept one is above this.")
  var threshold: Double = 0.7

  @Option(help: "The text field compared; repeat it to compare several fields joined by newlines.")
  var field: [String] = ["instruction"]

  @Option(
    help: ArgumentHelp(
      "Lineage: a dotted path (meta.root, id) naming a record's group; records are compared only with other groups. "
        + "Repeat it for fallbacks: the first path a record has counts (e.g. --group meta.parent --group id).",
      valueName: "path"))
  var group: [String] = []

  @Option(parsing: .upToNextOption, help: "Reference files: their records are kept in the pool but not written.")
  var against: [String] = []

  @Option(help: "rouge_score (default, compatible with rouge-score) or unicode (any script; not compatible).")
  var tokenizer: String = "rouge_score"

  @Flag(name: .customLong("no-exact"), help: "Skip the exact-repeat pass.")
  var noExact = false

  @Option(
    name: .customLong("report-floor"), help: "Nearest neighbours at or above this similarity are reported exactly.")
  var reportFloor: Double = 0.5

  @Option(help: "Worker threads (default: all cores).")
  var threads: Int?

  func validate() throws {
    guard (0...1).contains(threshold) else { throw ValidationError("--threshold must be between 0 and 1") }
    guard (0...1).contains(reportFloor) else { throw ValidationError("--report-floor must be between 0 and 1") }
    guard RougeTokenizer(rawValue: tokenizer) != nil else {
      throw ValidationError("--tokenizer is rouge_score or unicode")
    }
  }

  func run() async throws {
    try await withExitCodes {
      for path in inputs + against where !FileSystem.exists(path) {
        throw InstillError.input("file not found", file: path)
      }
      var options = DedupOptions()
      options.fields = field
      options.threshold = threshold
      options.group = try group.map { path throws(InstillError) in
        guard let parts = Record.path(path) else {
          throw InstillError.input("'\(path)' is not a dotted path such as meta.root or id", field: "--group")
        }
        return parts
      }
      options.tokenizer = RougeTokenizer(rawValue: tokenizer) ?? .rougeScore
      options.exact = !noExact
      options.reportFloor = reportFloor
      if let threads { options.threads = max(1, threads) }
      let stats = StatsRecorder()
      let started = ContinuousClock.now
      let writer = try RecordWriter(path: output)
      do {
        _ = try DedupRunner.run(options: options, against: against, inputs: inputs, stats: stats) { record in
          try writer.write(record)
        }
        try writer.finish()
      } catch {
        writer.abandon()
        throw error
      }
      let s = stats.snapshot
      let elapsed = ContinuousClock.now - started
      var report = "instill dedup: \(s.recordsIn) in, \(s.recordsOut) kept, \(s.droppedTotal) dropped"
      for f in s.filters where f.droppedTotal > 0 {
        report +=
          "; \(f.name): " + f.dropped.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
      }
      report += " (\(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 2)))))\n"
      FileHandle.standardError.write(Data(report.utf8))
    }
  }
}
