import Foundation
import InstillCore
import Synchronization

/// `kind: decontaminate` (map) — drops every record that shares an `ngram`-word
/// sequence (default 13, after the `Words` normalization) with an item of a
/// benchmark file. Reason `contaminated:FILE`, so the drop counts are per
/// benchmark file; the example shows the shared words and the benchmark item.
///
/// Memory grows with the benchmark's n-grams (one 64-bit hash and an item number
/// each), not with the records, which stream through shard by shard. A benchmark
/// item shorter than `ngram` words is matched as a whole when it has at least
/// `min_words` words (the record must contain all of it, in order); shorter
/// items are too common to mean anything and are skipped.
public struct DecontaminateStage: MapStage {
  public struct Source: Sendable {
    public var path: String
    public var name: String
    public var fields: [String]
  }

  public let sources: [Source]
  public let fields: [String]
  public let ngram: Int
  public let minWords: Int
  let index: IndexCache
  /// CPU-bound: one shard per core.
  public var shardParallelism: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("decontaminate") { params, context throws(InstillError) in
      let ngram = try params.int("ngram", default: 13, in: 1...64)
      let minWords = try params.int("min_words", default: min(8, ngram), in: 1...64)
      let defaultFields = try TextFields.given(params)
      let nodes = try params.require("against").list()
      guard !nodes.isEmpty else { throw try params.require("against").error("'against' is an empty list") }
      var sources: [Source] = []
      for node in nodes {
        let pathNode: ConfigNode
        var fields = defaultFields
        if case .scalar = node.node {
          pathNode = node
        } else {
          let entry = try node.mapping()
          pathNode = try entry.require("path")
          if let own = try TextFields.given(entry) { fields = own }
          try entry.finish()
        }
        guard let fields else {
          throw node.error("say which field of the benchmark items to compare: field: question (here or on the stage)")
        }
        let source = try context.inputSource(pathNode)
        let files =
          FileSystem.isDirectory(source)
          ? FileSystem.filesBelow(source).filter { $0.hasSuffix(".jsonl") || $0.hasSuffix(".jsonl.gz") }
          : [source]
        guard !files.isEmpty else { throw pathNode.error("no .jsonl or .jsonl.gz files in \(source)") }
        for file in files {
          sources.append(Source(path: file, name: (file as NSString).lastPathComponent, fields: fields))
        }
      }
      let checked = try params.stringList("check") ?? ["instruction", "input", "output"]
      guard !checked.isEmpty else { throw try params.require("check").error("check is an empty list") }
      return DecontaminateStage(
        sources: sources, fields: checked, ngram: ngram, minWords: minWords, index: IndexCache())
    }
  }

  /// The benchmark's n-grams, built once per process and shared by its shards.
  final class IndexCache: Sendable {
    let built = Mutex<BenchmarkIndex?>(nil)
  }

  public struct BenchmarkIndex: Sendable {
    public struct Item: Sendable {
      var source: Int
      var line: Int
      var text: String
    }
    var grams: [UInt64: Int32] = [:]
    var items: [Item] = []
    /// Lengths of the short items matched whole (below `ngram`, at least `min_words`).
    var shortLengths: [Int] = []
    public var ngramCount: Int { grams.count }
    public var itemCount: Int { items.count }
  }

  public func buildIndex() throws(InstillError) -> BenchmarkIndex {
    var index = BenchmarkIndex()
    var short = Set<Int>()
    for (s, source) in sources.enumerated() {
      let reader = try RecordReader(path: source.path)
      defer { reader.close() }
      while let item = try reader.read() {
        for field in source.fields {
          guard let value = item[field] else {
            throw InstillError.input(
              "the benchmark item has no field '\(field)'", file: source.path, line: reader.lineNumber, field: field)
          }
          guard case .string(let text) = value else { continue }
          let words = Words.hashes(text)
          if words.count < minWords { continue }
          let number = Int32(index.items.count)
          index.items.append(.init(source: s, line: reader.lineNumber, text: String(text.prefix(300))))
          if words.count < ngram {
            short.insert(words.count)
            let h = Words.ngram(words, 0, words.count)
            if index.grams[h] == nil { index.grams[h] = number }
          } else {
            for i in 0...(words.count - ngram) {
              let h = Words.ngram(words, i, ngram)
              if index.grams[h] == nil { index.grams[h] = number }
            }
          }
        }
      }
    }
    index.shortLengths = short.sorted()
    return index
  }

  func sharedIndex() throws(InstillError) -> BenchmarkIndex {
    try index.built.withLock { built throws(InstillError) in
      if let built { return built }
      let made = try buildIndex()
      built = made
      return made
    }
  }

  /// The first benchmark item a text shares an n-gram with: the item and the shared words.
  public static func match(_ text: String, in index: BenchmarkIndex, ngram: Int) -> (
    item: BenchmarkIndex.Item, words: String
  )? {
    let words = Words.hashes(text)
    for length in [ngram] + index.shortLengths where words.count >= length {
      for i in 0...(words.count - length) {
        if let number = index.grams[Words.ngram(words, i, length)] {
          let shared = Words.words(text)[i..<(i + length)].joined(separator: " ")
          return (index.items[Int(number)], shared)
        }
      }
    }
    return nil
  }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    let index = try sharedIndex()
    context.stats.declareFilters(["decontaminate"])
    var n = 0
    while let record = try input.read() {
      context.stats.recordIn()
      var found: (item: BenchmarkIndex.Item, words: String)?
      for field in fields {
        guard let text = record.string(field) else { continue }
        if let hit = Self.match(text, in: index, ngram: ngram) {
          found = hit
          break
        }
      }
      if let found {
        let source = sources[found.item.source]
        context.stats.filter(
          "decontaminate", kept: false, reason: "contaminated:\(source.name)",
          example: "«\(found.words)» — \(source.name):\(found.item.line): \(found.item.text)")
      } else {
        context.stats.filter("decontaminate", kept: true)
        try output.write(record)
        context.stats.recordOut()
      }
      n += 1
      if n & 1023 == 0 { try context.checkStop() }
    }
  }
}
