import InstillCore

/// `starts_with` / `ends_with`: drops records whose field starts (ends) with
/// one of `values` (`action: drop`, the default), or keeps only those that do
/// (`action: require`). Case-insensitive unless `case_sensitive: true`;
/// leading (trailing) white space is ignored.
public struct AffixFilter: RecordFilter {
  public enum Side: String, Sendable { case start = "starts_with", end = "ends_with" }

  public let name: String
  public let side: Side
  public let field: String
  public let values: [String]
  public let require: Bool
  public let caseSensitive: Bool

  public init(
    name: String, side: Side, field: String, values: [String], require: Bool = false, caseSensitive: Bool = false
  ) {
    self.name = name
    self.side = side
    self.field = field
    self.values = values
    self.require = require
    self.caseSensitive = caseSensitive
  }

  public var exampleField: String { field }

  public func check(_ record: Record) -> String? {
    var text = Text.trimmed(record.string(field) ?? "")
    if !caseSensitive { text = text.lowercased() }
    let hit = values.first { value in
      let v = caseSensitive ? value : value.lowercased()
      return side == .start ? text.hasPrefix(v) : text.hasSuffix(v)
    }
    if require { return hit == nil ? "\(side == .start ? "not_starts_with" : "not_ends_with")" : nil }
    return hit.map { "\(side.rawValue):\($0)" }
  }

  public static func register(in catalog: inout FilterCatalog) {
    for side in [Side.start, .end] {
      catalog.register(side.rawValue) { map, node throws(InstillError) in
        guard let values = try map.stringList("values"), !values.isEmpty, values.allSatisfy({ !$0.isEmpty }) else {
          throw node.error("a \(side.rawValue) filter needs a non-empty 'values' list of non-empty texts")
        }
        return AffixFilter(
          name: try map.string("name", default: side.rawValue), side: side,
          field: try map.string("field", default: "output"), values: values,
          require: try map.choice("action", ["drop", "require"], default: "drop") == "require",
          caseSensitive: try map.bool("case_sensitive", default: false))
      }
    }
  }
}
