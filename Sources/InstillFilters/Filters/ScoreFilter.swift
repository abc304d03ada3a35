import InstillCore

/// `score`: a threshold on a number anywhere in the record, by a dotted path
/// (`meta.curation.score`, `avg_similarity_score`): keep `min` ≤ value ≤ `max`
/// (either may be left out). A record without a number there is dropped as
/// `missing` unless `missing: keep`. Reasons `below_MIN`, `above_MAX`, `missing`.
public struct ScoreFilter: RecordFilter {
  public let name: String
  public let path: [String]
  public let min: Double?
  public let max: Double?
  public let keepMissing: Bool

  public var exampleField: String { "instruction" }

  public func check(_ record: Record) -> String? {
    guard let value = Self.number(in: record, at: path) else { return keepMissing ? nil : "missing" }
    if let min, value < min { return "below_\(Text.number(min))" }
    if let max, value > max { return "above_\(Text.number(max))" }
    return nil
  }

  static func number(in record: Record, at path: [String]) -> Double? {
    record.value(at: path)?.doubleValue
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("score") { map, node throws(InstillError) in
      guard let parts = Record.path(try map.string("path")) else {
        throw (map.node("path") ?? node).error("a dotted path such as meta.curation.score")
      }
      let min = try map.optionalDouble("min")
      let max = try map.optionalDouble("max")
      guard min != nil || max != nil else { throw node.error("a score filter needs 'min', 'max' or both") }
      if let min, let max, min > max { throw node.error("min (\(min)) is larger than max (\(max))") }
      return ScoreFilter(
        name: try map.string("name", default: "score"), path: parts, min: min, max: max,
        keepMissing: try map.choice("missing", ["drop", "keep"], default: "drop") == "keep")
    }
  }
}
