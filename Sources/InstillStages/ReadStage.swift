import InstillCore

/// `kind: read` — loads seed tasks or examples from a file into the pipeline.
///
/// Formats:
/// - `self_instruct`: Self-Instruct's `seed_tasks.jsonl` (`id`, `name`, `instruction`,
///   `instances: [{input, output}]`, `is_classification`);
/// - `alpaca`: a JSON list of `{instruction, input, output}`;
/// - `jsonl`: any JSON lines (or .jsonl.gz); `fields` maps our field names to yours.
public struct ReadStage: GlobalStage {
  public enum Format: String, Sendable, CaseIterable { case selfInstruct = "self_instruct", alpaca, jsonl, unnatural }

  public let path: String
  public let format: Format
  /// Our field name → the file's field name (jsonl only).
  public let fields: [(String, String)]
  public let limit: Int?
  public let idPrefix: String
  public let recordsPerShard: Int
  /// Accept a file without records (otherwise an input error: most likely a mistake).
  public let allowEmpty: Bool

  public var outputRecordsPerShard: Int { recordsPerShard }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("read") { params, context throws(InstillError) in
      guard context.isFirstStage else {
        throw params.owner.error("a read stage must be the first stage of the pipeline")
      }
      let format = try params.choice("format", default: Format.jsonl)
      var fields: [(String, String)] = []
      if let map = try params.map("fields") {
        for key in map.keys { fields.append((key, try map.string(key))) }
        try map.finish()
        if format != .jsonl { throw params.owner.error("'fields' applies to format jsonl only") }
      }
      return ReadStage(
        path: try context.inputFile(try params.require("path")),
        format: format, fields: fields,
        limit: try params.optionalInt("limit", in: 1...Int.max),
        idPrefix: try params.string("id_prefix", default: context.stageName),
        recordsPerShard: try params.int("records_per_shard", default: 1000, in: 1...10_000_000),
        allowEmpty: try params.bool("allow_empty", default: false))
    }
  }

  public func validate() throws(InstillError) {
    do {
      try forEachRecord { _ in }
    } catch let error as InstillError {
      throw error
    } catch {
      throw InstillError.failure("\(error)", file: path)
    }
  }

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    let total = try forEachRecord { record in
      try output.write(record)
      if output.recordCount & 1023 == 0 { try context.checkStop() }
    }
    context.stats.recordIn(total)
    context.stats.recordOut(total)
  }

  /// Converts every record of the file, in file order; returns the count. A file
  /// without records is an input error unless `allow_empty`.
  @discardableResult
  func forEachRecord(_ body: (Record) throws -> Void) throws -> Int {
    let n = try convertRecords(body)
    if n == 0 && !allowEmpty {
      throw InstillError.input(
        "no records in the file (empty, or only blank lines); set allow_empty: true on the stage "
          + "if that is intended", file: path)
    }
    return n
  }

  private func convertRecords(_ body: (Record) throws -> Void) throws -> Int {
    var n = 0
    switch format {
    case .alpaca:
      let bytes = try FileSystem.readText(path)
      let elements: [(value: JSONValue, offset: Int)]
      do {
        elements = try JSONParser.parseArrayElements(bytes)
      } catch {
        throw InstillError.input(
          "invalid JSON: \(error.message)", file: path, line: JSONParser.line(of: error.offset, in: bytes))
      }
      for (value, offset) in elements {
        if let limit, n >= limit { break }
        let line = JSONParser.line(of: offset, in: bytes)
        guard case .object(let object) = value else {
          throw InstillError.input(
            "expected an object with instruction, input and output, found \(value.kindDescription)",
            file: path, line: line, field: "[\(n)]")
        }
        let where_ = Location(file: path, line: line, prefix: "[\(n)].")
        var record = Record()
        record.id = try idOf(object, n: n)
        record["instruction"] = .string(try where_.string(object, "instruction"))
        record["input"] = .string(try where_.string(object, "input", optional: true) ?? "")
        record["output"] = .string(try where_.string(object, "output", optional: true) ?? "")
        try body(record)
        n += 1
      }
    case .unnatural:
      let reader = try RecordReader(path: path)
      defer { reader.close() }
      var line = 0
      while let source = try reader.read() {
        let where_ = Location(file: path, line: reader.lineNumber, prefix: "")
        for record in try unnaturalExamples(source.fields, where_, line: line) {
          if let limit, n >= limit { return n }
          try body(record)
          n += 1
        }
        line += 1
      }
    case .selfInstruct, .jsonl:
      let reader = try RecordReader(path: path)
      defer { reader.close() }
      while let source = try reader.read() {
        if let limit, n >= limit { break }
        let where_ = Location(file: path, line: reader.lineNumber, prefix: "")
        let record =
          format == .selfInstruct
          ? try selfInstructTask(source.fields, where_, n: n)
          : try mapped(source.fields, where_, n: n)
        try body(record)
        n += 1
      }
    }
    return n
  }

  /// Unnatural Instructions' `core_data.jsonl` / `full_data.jsonl` line: every
  /// instance (and reformulation) becomes a record with `constraints` and
  /// `instruction_with_input`; our seed files add `seed_set`.
  private func unnaturalExamples(_ object: JSONObject, _ at: Location, line: Int) throws(InstillError) -> [Record] {
    let instruction = try at.string(object, "instruction")
    guard case .array(let instances)? = object["instances"], !instances.isEmpty else {
      throw at.error("expected a non-empty list of {input, constraints, output}", field: "instances")
    }
    var records: [Record] = []
    func add(_ item: JSONValue, field: String, index: Int, base: String?) throws(InstillError) {
      guard case .object(let o) = item else { throw at.error("expected an object", field: "\(field)[\(index)]") }
      let sub = Location(file: at.file, line: at.line, prefix: "\(field)[\(index)].")
      var record = Record()
      let suffix = field == "instances" ? "\(index)" : "r\(index)"
      record.id = (object["id"]?.stringValue ?? "\(idPrefix)-\(line)") + "-" + suffix
      record["instruction"] = .string(try sub.string(o, "instruction", optional: true) ?? base ?? instruction)
      record["input"] = .string(try sub.string(o, "input", optional: true) ?? "")
      record["output"] = .string(try sub.string(o, "output", optional: true) ?? "")
      record["constraints"] = .string(try sub.string(o, "constraints", optional: true) ?? "None")
      if let withInput = try sub.string(o, "instruction_with_input", optional: true) {
        record["instruction_with_input"] = .string(withInput)
      }
      var meta: JSONObject = ["source": .string("unnatural")]
      if let set = object["seed_set"] { meta["seed_set"] = set }
      if field == "reformulations" { meta["reformulation"] = .bool(true) }
      record.meta = meta
      records.append(record)
    }
    for (i, item) in instances.enumerated() { try add(item, field: "instances", index: i, base: instruction) }
    if case .array(let reformulations)? = object["reformulations"] {
      for (i, item) in reformulations.enumerated() { try add(item, field: "reformulations", index: i, base: nil) }
    }
    return records
  }

  private func idOf(_ object: JSONObject, n: Int) throws(InstillError) -> String {
    switch object["id"] {
    case .string(let s)?: return s
    case .number(let s)?: return s
    default: return "\(idPrefix)-\(n)"
    }
  }

  private func selfInstructTask(_ object: JSONObject, _ at: Location, n: Int) throws(InstillError) -> Record {
    let instruction = try at.string(object, "instruction")
    guard case .array(let instances)? = object["instances"], !instances.isEmpty else {
      throw at.error("expected a non-empty list of {input, output}", field: "instances")
    }
    var cleaned: [JSONValue] = []
    for (i, item) in instances.enumerated() {
      guard case .object(let instance) = item else {
        throw at.error("expected an object with input and output", field: "instances[\(i)]")
      }
      let sub = Location(file: at.file, line: at.line, prefix: "instances[\(i)].")
      cleaned.append(
        .object([
          "input": .string(try sub.string(instance, "input", optional: true) ?? ""),
          "output": .string(try sub.string(instance, "output")),
        ]))
    }
    var isClassification = false
    if let value = object["is_classification"] {
      guard case .bool(let b) = value else { throw at.error("expected true or false", field: "is_classification") }
      isClassification = b
    }
    var record = Record()
    record.id = try idOf(object, n: n)
    record["instruction"] = .string(instruction)
    record["input"] = cleaned[0].objectValue?["input"] ?? .string("")
    record["output"] = cleaned[0].objectValue?["output"] ?? .string("")
    record["is_classification"] = .bool(isClassification)
    record["instances"] = .array(cleaned)
    var meta: JSONObject = ["source": .string("seed")]
    if let name = object["name"]?.stringValue { meta["name"] = .string(name) }
    record.meta = meta
    return record
  }

  private func mapped(_ object: JSONObject, _ at: Location, n: Int) throws(InstillError) -> Record {
    guard !fields.isEmpty else {
      var record = Record(object)
      if record.id == nil { record.id = "\(idPrefix)-\(n)" }
      return record
    }
    var record = Record()
    record.id = try idOf(object, n: n)
    let sources = Set(fields.map(\.1))
    for (ours, theirs) in fields {
      guard let value = object[theirs] else { throw at.error("missing field (mapped to '\(ours)')", field: theirs) }
      guard case .string = value else { throw at.error("expected text, found \(value.kindDescription)", field: theirs) }
      record[ours] = value
    }
    for (key, value) in object where key != "id" && !sources.contains(key) && record[key] == nil {
      record[key] = value
    }
    return record
  }
}

/// Where in a seed file a value came from, for error messages.
struct Location {
  let file: String
  let line: Int
  let prefix: String

  func error(_ message: String, field: String) -> InstillError {
    .input(message, file: file, line: line, field: prefix + field)
  }

  func string(_ object: JSONObject, _ key: String, optional: Bool = false) throws(InstillError) -> String? {
    guard let value = object[key] else {
      if optional { return nil }
      throw error("missing", field: key)
    }
    guard case .string(let s) = value else { throw error("expected text, found \(value.kindDescription)", field: key) }
    return s
  }

  func string(_ object: JSONObject, _ key: String) throws(InstillError) -> String {
    guard let s = try string(object, key, optional: false) else { throw error("missing", field: key) }
    return s
  }
}
