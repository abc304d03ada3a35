import Foundation
import InstillCore
import InstillFilters

/// `kind: export` — writes the dataset to `DIR/data/` (through the runner, which
/// publishes the folder only when the stage has succeeded): gzip JSONL shards named
/// `train-00000-of-00003.jsonl.gz` (and `validation-…`), `dataset.json` with each
/// shard's records, bytes and sha256, and a dataset card `README.md`.
///
/// The shuffle is deterministic and external: each record gets a rank from the
/// pipeline seed and its position, records are spilled to one bucket file per
/// output shard, and each bucket is sorted in memory, so memory stays at one
/// output shard however large the dataset.
public struct ExportStage: GlobalStage {
  public enum Format: String, Sendable, CaseIterable {
    case messages, alpaca, sharegpt
    /// `prompt` / `chosen` / `rejected` texts from judged `responses`.
    case preference
    /// The same pairs as chat messages (`prompt` a user turn, `chosen` and `rejected` assistant turns).
    case preferenceMessages = "preference_messages"

    var isPreference: Bool { self == .preference || self == .preferenceMessages }
  }

  /// How kept thinking traces (`output_reasoning`, a turn's `reasoning_content`)
  /// reach the rows: beside the answer, inlined before it, or not at all.
  public enum ReasoningExport: String, Sendable, CaseIterable {
    /// The assistant turn's `reasoning_field` (`reasoning_content`, the field Qwen3's and
    /// DeepSeek's chat templates read); alpaca and preference texts: a column.
    case field
    /// `<think>TRACE</think>` then the answer, in the assistant's text.
    case inline
    /// The answer only.
    case omit
  }

  /// Which pairs of judged responses become preference rows.
  public enum Pairs: String, Sendable, CaseIterable {
    /// The best response against the worst.
    case bestWorst = "best_worst"
    /// Every two responses whose scores differ by more than the margin.
    case all
  }

  public let format: Format
  public let recordsPerShard: Int
  public let validationRatio: Double
  public let shuffle: Bool
  public let includeMeta: Bool
  public let systemPrompt: String?
  public let compressionLevel: Int
  public let title: String
  public var pairs = Pairs.bestWorst
  /// Preference rows need the chosen score above the rejected by more than this.
  public var margin = 0.0
  /// Traces: `field` for messages and preference_messages, `inline` for sharegpt, `omit` for alpaca and preference.
  public var reasoning = ReasoningExport.omit
  /// The name of the trace's field (`reasoning: field`).
  public var reasoningField = "reasoning_content"

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("export") { params, context throws(InstillError) in
      guard context.isLastStage else { throw params.owner.error("the export stage must be the last stage") }
      guard !context.isFirstStage else { throw params.owner.error("the export stage needs a stage before it") }
      let format = try params.choice("format", default: Format.messages)
      var s = ExportStage(
        format: format,
        recordsPerShard: try params.int("records_per_shard", default: 50_000, in: 1...100_000_000),
        validationRatio: try params.double("validation_ratio", default: 0, in: 0...0.9),
        shuffle: try params.bool("shuffle", default: true),
        // Preference trainers take the three columns; meta is asked for explicitly there.
        includeMeta: try params.bool("include_meta", default: !format.isPreference),
        systemPrompt: try params.optionalString("system_prompt"),
        compressionLevel: try params.int("compression_level", default: 6, in: 1...9),
        title: context.pipelineName)
      for key in ["pairs", "margin"] where params.has(key) && !format.isPreference {
        throw try params.require(key).error("\(key) is for the preference formats")
      }
      s.pairs = try params.choice("pairs", default: .bestWorst)
      s.margin = try params.double("margin", default: 0, in: 0...1_000_000)
      s.reasoning = try params.choice("reasoning", default: Self.defaultReasoning(format))
      s.reasoningField = try params.string("reasoning_field", default: "reasoning_content")
      guard s.reasoningField.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil else {
        throw try params.require("reasoning_field").error("a field name: letters, digits and '_'")
      }
      return s
    }
  }

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    guard let dataset = context.dataset else {
      throw InstillError.failure("stage \(context.stageName) has no dataset folder")
    }
    let tmp = try dataset.open()
    let plan = try rank(input, context: context)
    let (buckets, traced) = try spill(input, plan: plan, into: tmp, context: context)
    var manifestSplits: [(String, JSONValue)] = []
    for (s, split) in plan.splits.enumerated() {
      let files = try writeShards(
        split: s, name: split.name, count: plan.shardCounts[s], buckets: buckets, into: tmp,
        context: context)
      manifestSplits.append((split.name, .object(["records": .int(split.records), "shards": .array(files)])))
    }
    let manifest: JSONObject = [
      "name": .string(title),
      "format": .string(format.rawValue),
      "records": .int(plan.kept),
      "splits": .object(JSONObject(manifestSplits)),
    ]
    try FileSystem.writeAtomically(JSONWriter.bytes(.object(manifest)) + [0x0A], to: "\(tmp)/dataset.json")
    try FileSystem.writeAtomically(
      card(splits: plan.splits.map { ($0.name, $0.records) }, total: plan.kept, traced: traced),
      to: "\(tmp)/README.md")
    context.logger.info("exported \(plan.kept) records for \(dataset.target)")
  }

  /// Where every usable record goes: its rank in the (shuffled) order, and the splits.
  struct Plan {
    /// Rows each input record becomes.
    var usable: [Int]
    var kept: Int
    /// Rank of the k-th usable record.
    var ranks: [Int]
    var validationCount: Int
    var splits: [(name: String, records: Int)]
    var shardCounts: [Int]
  }

  /// Pass 1: counts the usable records and ranks them.
  func rank(_ input: StageInput, context: StageContext) throws -> Plan {
    var usable: [Int] = []
    try input.forEach { record in
      let (rows, drops) = self.rows(record)
      usable.append(rows.count)
      context.stats.recordIn(rows.count + drops.reduce(0) { $0 + $1.1 })
      for (reason, n) in drops { context.stats.drop(reason, n) }
    }
    let kept = usable.reduce(0, +)
    var ranks = [Int](repeating: 0, count: kept)
    if shuffle {
      var keys: [(UInt64, Int)] = []
      keys.reserveCapacity(kept)
      var random = SeededRandom(seed: context.seed, stream: "export/\(context.stageName)")
      for k in 0..<kept { keys.append((random.next(), k)) }
      keys.sort { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
      for (rank, key) in keys.enumerated() { ranks[key.1] = rank }
    } else {
      for k in 0..<kept { ranks[k] = k }
    }
    var validationCount = Int((Double(kept) * validationRatio).rounded())
    if validationRatio > 0, kept > 1 { validationCount = min(max(validationCount, 1), kept - 1) }
    let splits = [(name: "train", records: kept - validationCount), (name: "validation", records: validationCount)]
      .filter { $0.records > 0 || $0.name == "train" }
    let shardCounts = splits.map { max(1, ($0.records + recordsPerShard - 1) / recordsPerShard) }
    return Plan(
      usable: usable, kept: kept, ranks: ranks, validationCount: validationCount, splits: splits,
      shardCounts: shardCounts)
  }

  typealias Buckets = [[Int]: (writer: RecordWriter, ranks: [Int])]

  /// Pass 2: spills formatted records to one bucket file per output shard, remembering ranks;
  /// also counts the rows that carry a thinking trace.
  func spill(_ input: StageInput, plan: Plan, into tmp: String, context: StageContext) throws -> (Buckets, Int) {
    var buckets: Buckets = [:]
    var traced = 0
    var k = 0
    var i = 0
    try input.forEach { record in
      defer { i += 1 }
      guard plan.usable[i] > 0 else { return }
      if writesTrace(record) { traced += 1 }
      for row in rows(record).rows {
        let rank = plan.ranks[k]
        k += 1
        let key =
          rank < plan.validationCount
          ? [1, rank / recordsPerShard] : [0, (rank - plan.validationCount) / recordsPerShard]
        if buckets[key] == nil {
          buckets[key] = (try RecordWriter(path: "\(tmp)/.bucket-\(key[0])-\(key[1]).jsonl"), [])
        }
        try buckets[key]?.writer.write(row)
        buckets[key]?.ranks.append(rank)
        if k & 1023 == 0 { try context.checkStop() }
      }
    }
    for (_, bucket) in buckets { try bucket.writer.finish() }
    return (buckets, traced)
  }

  /// Whether the record's row gets a thinking trace (preference rows never do).
  func writesTrace(_ record: Record) -> Bool {
    guard reasoning != .omit, !format.isPreference else { return false }
    return Self.turns(record, prompt: record.prompt).contains { !($0.reasoning ?? "").isEmpty }
  }

  /// Pass 3: sorts each bucket of a split by rank into its final shard; returns the manifest entries.
  func writeShards(
    split s: Int, name split: String, count: Int, buckets: Buckets, into tmp: String,
    context: StageContext
  ) throws -> [JSONValue] {
    var files: [JSONValue] = []
    for shard in 0..<count {
      let name = "\(split)-\(ShardFiles.pad5(shard))-of-\(ShardFiles.pad5(count)).jsonl.gz"
      let writer = try RecordWriter(path: "\(tmp)/\(name)", level: compressionLevel)
      if let bucket = buckets[[s, shard]] {
        let records = try RecordReader.readAll(path: bucket.writer.path)
        let order = bucket.ranks.indices.sorted { bucket.ranks[$0] < bucket.ranks[$1] }
        for j in order { try writer.write(records[j]) }
        FileSystem.remove(bucket.writer.path)
      }
      let written = writer.count
      try writer.finish()
      let path = "\(tmp)/\(name)"
      files.append(
        .object([
          "file": .string(name), "records": .int(written), "bytes": .int(FileSystem.fileSize(path)),
          "sha256": .string(try SHA256.hexOfFile(path)),
        ]))
      context.stats.recordOut(written)
      try context.checkStop()
    }
    return files
  }

  /// The rows a record becomes, and why the rest of it was dropped. In the
  /// preference formats a record's unit is a candidate pair (one for
  /// `best_worst`, every two responses for `all`), so records in counts pairs.
  func rows(_ record: Record) -> (rows: [Record], drops: [(String, Int)]) {
    guard format.isPreference else {
      if let reason = Self.unusable(record) { return ([], [(reason, 1)]) }
      return ([formatted(record)], [])
    }
    if Text.isBlank(record.instruction) { return ([], [("empty_instruction", 1)]) }
    let (pairs, drops) = preferencePairs(record)
    return (pairs.map { preferenceRow(record, chosen: $0.chosen, rejected: $0.rejected) }, drops)
  }

  /// Why a record cannot become a training example, if it cannot.
  static func unusable(_ record: Record) -> String? {
    if Text.isBlank(record.instruction) { return "empty_instruction" }
    if Text.isBlank(record.output) { return "empty_output" }
    return nil
  }

  /// Where traces go when the export says nothing: where the format's trainers look for them.
  public static func defaultReasoning(_ format: Format) -> ReasoningExport {
    switch format {
    case .messages, .preferenceMessages: .field
    case .sharegpt: .inline
    case .alpaca, .preference: .omit
    }
  }

  /// The answer with its trace inlined (`reasoning: inline`), else the answer.
  func answerText(_ answer: String, trace: String?) -> String {
    guard reasoning == .inline, let trace, !trace.isEmpty else { return answer }
    return "<think>\n\(trace)\n</think>\n\n\(answer)"
  }

  /// A chat message, with the assistant's trace as `reasoning_field` or inline.
  func message(_ role: String, _ content: String, trace: String? = nil) -> JSONValue {
    var object: JSONObject = ["role": .string(role), "content": .string(answerText(content, trace: trace))]
    if reasoning == .field, let trace, !trace.isEmpty { object[reasoningField] = .string(trace) }
    return .object(object)
  }

  func formatted(_ record: Record) -> Record {
    let instruction = record.instruction
    let input = record.input
    let prompt = record.prompt
    var out = Record()
    if let id = record.id { out["id"] = .string(id) }
    switch format {
    case .messages:
      var messages: [JSONValue] = []
      if let system = systemPrompt ?? record.string("system") {
        messages.append(.object(["role": .string("system"), "content": .string(system)]))
      }
      for turn in Self.turns(record, prompt: prompt) {
        messages.append(message(turn.role, turn.content, trace: turn.reasoning))
      }
      out["messages"] = .array(messages)
    case .alpaca:
      let trace = record.string(Record.reasoningField(for: "output"))
      out["instruction"] = .string(instruction)
      out["input"] = .string(input)
      out["output"] = .string(answerText(record.output, trace: trace))
      if reasoning == .field, let trace { out[reasoningField] = .string(trace) }
    case .sharegpt:
      var turns: [JSONValue] = []
      if let system = systemPrompt ?? record.string("system") {
        turns.append(.object(["from": .string("system"), "value": .string(system)]))
      }
      for turn in Self.turns(record, prompt: prompt) {
        var object: JSONObject = [
          "from": .string(turn.role == "user" ? "human" : "gpt"),
          "value": .string(answerText(turn.content, trace: turn.reasoning)),
        ]
        if reasoning == .field, let trace = turn.reasoning { object[reasoningField] = .string(trace) }
        turns.append(.object(object))
      }
      out["conversations"] = .array(turns)
    case .preference, .preferenceMessages:
      break  // rows come from `preferenceRow`
    }
    if includeMeta, case .object(let meta)? = record["meta"], meta.count > 0 {
      // Nested values are flattened to JSON text so every record has one schema.
      out["meta"] = .object(JSONObject(meta.map { ($0.key, Self.flat($0.value)) }))
    }
    return out
  }

  /// The user and assistant turns of a record: its `conversation` ([{role,
  /// content, reasoning_content}], multi-turn records) when it has one, else the
  /// prompt and the output (with `output_reasoning`).
  static func turns(_ record: Record, prompt: String) -> [(role: String, content: String, reasoning: String?)] {
    if case .array(let list)? = record["conversation"] {
      let turns = list.compactMap { item -> (role: String, content: String, reasoning: String?)? in
        guard let o = item.objectValue, let role = o["role"]?.stringValue, let content = o["content"]?.stringValue
        else { return nil }
        return (role, content, o[Record.turnReasoningKey]?.stringValue)
      }
      if turns.count == list.count, !turns.isEmpty { return turns }
    }
    return [
      ("user", prompt, nil), ("assistant", record.output, record.string(Record.reasoningField(for: "output"))),
    ]
  }

  static func flat(_ value: JSONValue) -> JSONValue {
    switch value {
    case .string: return value
    case .null: return .null
    default: return .string(JSONWriter.string(value))
    }
  }

  func card(splits: [(String, Int)], total: Int, traced: Int) -> String {
    var text = "---\nconfigs:\n- config_name: default\n  data_files:\n"
    for split in splits {
      text += "  - split: \(split.0)\n    path: \"\(split.0)-*.jsonl.gz\"\n"
    }
    text += "---\n\n# \(title)\n\n"
    text += "Instruction-tuning data generated by the Instill pipeline `\(title)`.\n\n"
    text += "- Format: `\(format.rawValue)`"
    switch format {
    case .messages: text += " (`messages`: `role`/`content` turns, user and assistant, a system turn first if any)\n"
    case .alpaca: text += " (`instruction`, `input`, `output`)\n"
    case .sharegpt: text += " (`conversations` with `from`/`value`)\n"
    case .preference: text += " (`prompt`, `chosen`, `rejected` texts, with `score_chosen` and `score_rejected`)\n"
    case .preferenceMessages:
      text +=
        " (`prompt` a user turn, `chosen` and `rejected` assistant turns, with `score_chosen` and `score_rejected`)\n"
    }
    text += "- Records: \(total)\n"
    for split in splits { text += "- Split `\(split.0)`: \(split.1) records\n" }
    if traced > 0 {
      let place =
        reasoning == .inline
        ? "inline at the start of the assistant's text, between `<think>` and `</think>`"
        : format == .alpaca ? "in the `\(reasoningField)` column" : "in the assistant turns' `\(reasoningField)`"
      text += "- Thinking traces: \(traced) of \(total) records carry the teacher's reasoning, \(place)\n"
    }
    text += "\nShards, record counts and SHA-256 checksums are listed in `dataset.json`.\n"
    text += "Each record may carry an `id` and a `meta` object (method, parents, model, scores).\n"
    return text
  }
}
