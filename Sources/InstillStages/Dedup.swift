import Foundation
import InstillCore
import InstillFilters
import InstillRouge

/// Settings of near-duplicate removal (the `dedup` stage and `instill dedup`).
public struct DedupOptions: Sendable {
  /// The fields compared; several are joined with a newline (e.g. input and output).
  public var fields = ["instruction"]
  /// Lineage: dotted paths (`meta.root`), the first one a record has naming its
  /// group; a record is compared only with records of other groups (and with
  /// every record that has none). Empty: every record is compared with all.
  public var group: [[String]] = []
  /// Drop a record whose ROUGE-L F against a kept one is above this.
  public var threshold = 0.7
  public var tokenizer = RougeTokenizer.rougeScore
  /// First drop exact repeats (case and white space folded).
  public var exact = true
  /// Nearest neighbours at or above this similarity are reported exactly.
  public var reportFloor = 0.5
  public var batchSize = 512
  public var threads = max(1, ProcessInfo.processInfo.activeProcessorCount)

  public init() {}

  /// Reads the stage keys shared with the command line.
  public static func parse(_ params: ConfigMap) throws(InstillError) -> DedupOptions {
    var o = DedupOptions()
    o.fields = try TextFields.given(params) ?? o.fields
    if let node = params.node("group") {
      let paths: [String]
      if case .scalar = node.node { paths = [try node.string()] } else { paths = try params.stringList("group") ?? [] }
      guard !paths.isEmpty else { throw node.error("group is an empty list") }
      o.group = try paths.map { path throws(InstillError) in
        guard let parts = Record.path(path) else {
          throw node.error("'\(path)' is not a dotted path such as meta.root or id")
        }
        return parts
      }
    }
    o.threshold = try params.double("threshold", default: o.threshold, in: 0...1)
    o.tokenizer = try params.choice("tokenizer", default: RougeTokenizer.rougeScore)
    o.exact = try params.bool("exact", default: true)
    o.reportFloor = try params.double("report_floor", default: o.reportFloor, in: 0...1)
    o.batchSize = try params.int("batch_size", default: o.batchSize, in: 1...1_000_000)
    o.threads = try params.int("threads", default: o.threads, in: 1...256)
    return o
  }
}

extension DedupOptions {
  /// The record's group: the value at the first `group` path it has (text as
  /// is, anything else as JSON), or nil.
  public func groupKey(of record: Record) -> String? {
    for path in group {
      switch record.value(at: path) {
      case nil, .null?: continue
      case .string(let s)?: return s
      case let value?: return JSONWriter.string(value)
      }
    }
    return nil
  }
}

/// Greedy near-duplicate removal over record streams, in input order, global
/// over all inputs. Kept records get `meta.rouge_l_max` (their highest ROUGE-L
/// F against the records kept before them, or null when below the report
/// floor) and `meta.rouge_l_nearest` (that record's id).
public final class DedupEngine {
  public let options: DedupOptions
  let dedup: GreedyDedup
  var poolIDs: [String] = []
  var poolTexts: [String] = []
  var exactSeen = Set<String>()
  var groupIDs: [String: Int32] = [:]
  let keepTexts: Bool

  /// - Parameters:
  ///   - order: the token order for prefix filtering (see `order(tokenizer:vocabulary:texts:)`).
  ///   - vocabulary: the vocabulary the order's token ids come from.
  public init(
    options: DedupOptions, order: TokenOrder = TokenOrder(), vocabulary: Vocabulary = Vocabulary(),
    keepTextsForExamples: Bool = true
  ) {
    self.options = options
    self.keepTexts = keepTextsForExamples
    dedup = GreedyDedup(
      threshold: options.threshold, reportFloor: options.reportFloor, tokenizer: options.tokenizer,
      order: order, threads: options.threads, vocabulary: vocabulary)
  }

  /// Token document frequencies over `texts`, for a rare-first token order.
  public static func order(
    tokenizer: RougeTokenizer, vocabulary: Vocabulary, texts: (((String) -> Void)) throws -> Void
  ) rethrows -> TokenOrder {
    var df: [Int] = []
    try texts { text in
      var seen = Set<UInt32>()
      tokenizer.forEachToken(text) { token in
        let id = vocabulary.id(token)
        if Int(id) >= df.count { df.append(contentsOf: repeatElement(0, count: Int(id) + 1 - df.count)) }
        if seen.insert(id).inserted { df[Int(id)] += 1 }
      }
    }
    return TokenOrder(documentFrequencies: df)
  }

  public var vocabulary: Vocabulary { dedup.vocabulary }

  static func normalized(_ text: String) -> String {
    Text.collapsingWhitespace(text.lowercased())
  }

  /// Adds records that are kept unconditionally (`--against`, seeds).
  public func addReference(id: String, text: String) {
    dedup.seed([text])
    poolIDs.append(id)
    if keepTexts { poolTexts.append(text) }
    if options.exact { exactSeen.insert(Self.normalized(text)) }
  }

  /// A small number for a group name (the pool compares numbers).
  func groupID(_ key: String?) -> Int32 {
    guard let key else { return RougePool.noGroup }
    if let id = groupIDs[key] { return id }
    let id = Int32(groupIDs.count)
    groupIDs[key] = id
    return id
  }

  /// Decides a batch in order; calls `kept` or `dropped` for each record.
  /// Exact repeats are dropped whatever their group (a literal copy is never
  /// new data); the ROUGE-L test compares a record only with other groups.
  public func process(
    _ batch: [(record: Record, id: String, text: String)], stats: StatsRecorder,
    emit: (Record) throws -> Void
  ) throws {
    var survivors: [Int] = []
    var tokens: [[UInt32]] = []
    var groups: [Int32] = []
    var duplicateOfBatch = Set<String>()
    for (i, item) in batch.enumerated() {
      if options.exact {
        let key = Self.normalized(item.text)
        if exactSeen.contains(key) || duplicateOfBatch.contains(key) {
          stats.filter("exact", kept: false, reason: "exact_duplicate", example: item.text)
          continue
        }
        duplicateOfBatch.insert(key)
        stats.filter("exact", kept: true)
      }
      survivors.append(i)
      tokens.append(dedup.tokens(item.text))
      groups.append(options.group.isEmpty ? RougePool.noGroup : groupID(options.groupKey(of: item.record)))
    }
    // Exact duplicates within the batch were dropped above only if an equal text
    // came first; the ROUGE pass below then sees each text once.
    let decisions = dedup.process(tokens: tokens, groups: options.group.isEmpty ? nil : groups)
    for (k, i) in survivors.enumerated() {
      let item = batch[i]
      let decision = decisions[k]
      let nearestID = decision.nearest.item.map { poolIDs[$0] }
      if decision.kept {
        stats.filter("rouge_l", kept: true)
        var record = item.record
        record.updateMeta { meta in
          meta["rouge_l_max"] = decision.nearest.item == nil ? .null : .double(Self.rounded(decision.nearest.score))
          meta["rouge_l_nearest"] = nearestID.map(JSONValue.string) ?? .null
        }
        poolIDs.append(item.id)
        if keepTexts { poolTexts.append(item.text) }
        if options.exact { exactSeen.insert(Self.normalized(item.text)) }
        try emit(record)
      } else {
        let other = decision.nearest.item.flatMap { keepTexts ? poolTexts[$0] : nil }
        let example = item.text + (other.map { "  ≈  " + $0 } ?? "")
        stats.filter("rouge_l", kept: false, reason: "rouge_l>\(options.threshold)", example: example)
      }
    }
  }

  /// Similarities are written with 6 decimals; decisions use the exact value.
  static func rounded(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }

  public var keptBytes: Int { dedup.pool.approximateBytes }
}

/// Runs an engine over records: pass 1 builds the token order, pass 2 decides.
public enum DedupRunner {
  /// - Parameters:
  ///   - against: reference files whose records are kept unconditionally.
  ///   - inputs: files of records to deduplicate, in order.
  public static func run(
    options: DedupOptions, against: [String], inputs: [String], stats: StatsRecorder,
    control: RunControl? = nil, emit: (Record) throws -> Void
  ) throws -> DedupEngine {
    let vocabulary = Vocabulary()
    let order = try DedupEngine.order(tokenizer: options.tokenizer, vocabulary: vocabulary) { visit in
      for path in against + inputs {
        try forEach(path, fields: options.fields) { _, _, text in visit(text) }
      }
    }
    let engine = DedupEngine(options: options, order: order, vocabulary: vocabulary)
    for path in against {
      try forEach(path, fields: options.fields) { record, index, text in
        engine.addReference(id: record.id ?? "\((path as NSString).lastPathComponent)#\(index)", text: text)
      }
    }
    stats.declareFilters(options.exact ? ["exact", "rouge_l"] : ["rouge_l"])
    var batch: [(record: Record, id: String, text: String)] = []
    var global = 0
    func flush() throws {
      try engine.process(
        batch, stats: stats,
        emit: { record in
          try emit(record)
          stats.recordOut()
        })
      batch.removeAll(keepingCapacity: true)
      try control?.check()
    }
    for path in inputs {
      try forEach(path, fields: options.fields) { record, _, text in
        stats.recordIn()
        batch.append((record, record.id ?? "#\(global)", text))
        global += 1
        if batch.count >= options.batchSize { try flush() }
      }
    }
    if !batch.isEmpty { try flush() }
    return engine
  }

  /// Visits each record of a file with its index and the text of `fields` (joined by newlines).
  static func forEach(_ path: String, fields: [String], _ body: (Record, Int, String) throws -> Void) throws {
    let reader = try RecordReader(path: path)
    defer { reader.close() }
    var index = 0
    while let record = try reader.read() {
      var text = ""
      for (i, field) in fields.enumerated() {
        guard let value = record[field] else {
          throw InstillError.input(
            "the record has no field '\(field)'", file: path, line: reader.lineNumber, field: field)
        }
        guard case .string(let part) = value else {
          throw InstillError.input(
            "expected text, found \(value.kindDescription)", file: path, line: reader.lineNumber, field: field)
        }
        text += i == 0 ? part : "\n" + part
      }
      try body(record, index, text)
      index += 1
    }
  }
}

/// `kind: dedup` — greedy ROUGE-L near-duplicate removal over all shards of the
/// previous stage (global, in input order), after an exact-text pass.
public struct DedupStage: GlobalStage {
  public let options: DedupOptions
  public let against: [String]
  public let recordsPerShard: Int
  public var outputRecordsPerShard: Int { recordsPerShard }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("dedup") { params, context throws(InstillError) in
      var against: [String] = []
      for node in try params.list("against") ?? [] { against.append(try context.inputFile(node)) }
      return DedupStage(
        options: try DedupOptions.parse(params), against: against,
        recordsPerShard: try params.int("records_per_shard", default: 1000, in: 1...10_000_000))
    }
  }

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    let engine = try DedupRunner.run(
      options: options, against: against, inputs: input.shardPaths, stats: context.stats,
      control: context.control
    ) { record in try output.write(record) }
    context.stats.count("pool_bytes", engine.keptBytes)
  }
}
