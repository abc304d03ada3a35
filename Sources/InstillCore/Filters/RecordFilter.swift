/// A quality check on one record. Returns nil to keep the record, or the reason
/// it is dropped (a short, stable key such as `too_short` or `keyword:image`).
public protocol RecordFilter: Sendable {
  /// Unique within its stage; the key of its counts in the statistics.
  var name: String { get }
  /// The field whose text is shown as the example of a drop.
  var exampleField: String { get }
  func check(_ record: Record) -> String?
}

/// Filters applied in order; the first to object drops the record. Each
/// filter's counts go to `stats`, so seen(n+1) == kept(n).
public struct FilterChain: Sendable {
  public let filters: [any RecordFilter]

  public init(_ filters: [any RecordFilter]) { self.filters = filters }

  public var names: [String] { filters.map(\.name) }

  /// True when every filter keeps the record.
  public func keep(_ record: Record, stats: StatsRecorder) -> Bool {
    for filter in filters {
      if let reason = filter.check(record) {
        stats.filter(filter.name, kept: false, reason: reason, example: record.string(filter.exampleField) ?? record.instruction)
        return false
      }
      stats.filter(filter.name, kept: true)
    }
    return true
  }
}

/// Counts words the way Python's `str.split()` does: runs of whitespace separate.
public func wordCount(_ text: String) -> Int { Text.wordCount(text) }

/// Drops records whose field is shorter than `min` or longer than `max`, counted
/// in words (whitespace-separated) or characters.
public struct LengthFilter: RecordFilter {
  public enum Unit: String, Sendable { case words, chars }
  public let name: String
  public let field: String
  public let unit: Unit
  public let min: Int?
  public let max: Int?

  public init(name: String, field: String, unit: Unit, min: Int?, max: Int?) {
    self.name = name
    self.field = field
    self.unit = unit
    self.min = min
    self.max = max
  }

  public var exampleField: String { field }

  public func check(_ record: Record) -> String? {
    let text = record.string(field) ?? ""
    let length = unit == .words ? Text.wordCount(text) : text.count
    if let min, length < min { return "too_short" }
    if let max, length > max { return "too_long" }
    return nil
  }
}

/// Drops records whose fields contain a listed keyword, case-insensitively, as
/// a whole word (default) or anywhere. The reason names the keyword found.
public struct KeywordFilter: RecordFilter {
  public let name: String
  public let fields: [String]
  public let keywords: [String]
  public let wholeWord: Bool
  private let lowered: [[Unicode.Scalar]]

  public init(name: String, fields: [String], keywords: [String], wholeWord: Bool) {
    self.name = name
    self.fields = fields
    self.keywords = keywords
    self.wholeWord = wholeWord
    self.lowered = keywords.map { Array($0.lowercased().unicodeScalars) }
  }

  public var exampleField: String { fields.first ?? "instruction" }

  public func check(_ record: Record) -> String? {
    for field in fields {
      guard let text = record.string(field), !text.isEmpty else { continue }
      let scalars = Array(text.lowercased().unicodeScalars)
      for (i, keyword) in lowered.enumerated() where contains(scalars, keyword) {
        return "keyword:\(keywords[i])"
      }
    }
    return nil
  }

  /// Whole-word matching follows regex `\b`: a keyword end that is a word
  /// character must not touch another word character.
  private func contains(_ text: [Unicode.Scalar], _ keyword: [Unicode.Scalar]) -> Bool {
    guard let first = keyword.first, let last = keyword.last, keyword.count <= text.count else { return false }
    let firstIsWord = Text.isWordScalar(first), lastIsWord = Text.isWordScalar(last)
    var i = 0
    while i + keyword.count <= text.count {
      if text[i] == first, text[i..<(i + keyword.count)].elementsEqual(keyword) {
        if !wholeWord { return true }
        let startOK = i == 0 || !(firstIsWord && Text.isWordScalar(text[i - 1]))
        let end = i + keyword.count
        let endOK = end == text.count || !(lastIsWord && Text.isWordScalar(text[end]))
        if startOK && endOK { return true }
      }
      i += 1
    }
    return false
  }
}

/// Drops records where any of `fields` is missing or only whitespace.
public struct NonEmptyFilter: RecordFilter {
  public let name: String
  public let fields: [String]

  public init(name: String, fields: [String]) {
    self.name = name
    self.fields = fields
  }

  public var exampleField: String { "instruction" }

  public func check(_ record: Record) -> String? {
    for field in fields where Text.isBlank(record.string(field) ?? "") {
      return "empty_\(field)"
    }
    return nil
  }
}

/// Reads the `filters:` list of a pipeline stage.
public enum FilterSpec {
  public static let types = ["length", "keywords", "non_empty"]

  public static func parse(_ nodes: [ConfigNode]) throws(InstillError) -> [any RecordFilter] {
    var filters: [any RecordFilter] = []
    var names = Set<String>()
    for node in nodes {
      let map = try node.mapping()
      let type = try map.choice("type", types, default: "")
      if type.isEmpty { throw node.error("missing required key 'type' (one of \(types.joined(separator: ", ")))") }
      let filter: any RecordFilter
      switch type {
      case "length":
        let field = try map.string("field", default: "output")
        let unit = LengthFilter.Unit(rawValue: try map.choice("unit", ["words", "chars"], default: "words")) ?? .words
        let min = try map.optionalInt("min", in: 0...Int.max)
        let max = try map.optionalInt("max", in: 0...Int.max)
        if min == nil && max == nil { throw node.error("a length filter needs 'min', 'max' or both") }
        if let min, let max, min > max { throw node.error("'min' (\(min)) is larger than 'max' (\(max))") }
        filter = LengthFilter(name: try map.string("name", default: "length-\(field)"), field: field, unit: unit, min: min, max: max)
      case "keywords":
        var fields = [try map.string("field", default: "instruction")]
        if let list = try map.stringList("fields") { fields = list }
        guard let words = try map.stringList("words"), !words.isEmpty else {
          throw node.error("a keywords filter needs a non-empty 'words' list")
        }
        let match = try map.choice("match", ["whole_word", "substring"], default: "whole_word")
        filter = KeywordFilter(name: try map.string("name", default: "keywords"), fields: fields, keywords: words, wholeWord: match == "whole_word")
      default:
        let fields = try map.stringList("fields") ?? ["instruction", "output"]
        filter = NonEmptyFilter(name: try map.string("name", default: "non_empty"), fields: fields)
      }
      try map.finish()
      guard names.insert(filter.name).inserted else {
        throw node.error("two filters are named '\(filter.name)'; set 'name' to tell them apart")
      }
      filters.append(filter)
    }
    return filters
  }
}
