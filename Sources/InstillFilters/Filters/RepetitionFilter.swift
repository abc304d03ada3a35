import InstillCore

/// `repetition`: Gopher-style repetition checks on a field (see `Repetition`):
/// `duplicate_lines`, `duplicate_paragraphs`, `repeated_2grams` …
/// `repeated_4grams`, thresholds configurable.
public struct RepetitionFilter: RecordFilter {
  public let name: String
  public let field: String
  public let rules: Repetition

  public var exampleField: String { field }

  public func check(_ record: Record) -> String? {
    rules.check(record.string(field) ?? "")
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("repetition") { map, _ throws(InstillError) in
      var rules = Repetition()
      try rules.parse(map)
      return RepetitionFilter(
        name: try map.string("name", default: "repetition"),
        field: try map.string("field", default: "output"), rules: rules)
    }
  }
}
