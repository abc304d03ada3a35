import InstillCore

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

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("non_empty") { map, _ throws(InstillError) in
      NonEmptyFilter(
        name: try map.string("name", default: "non_empty"),
        fields: try map.stringList("fields") ?? ["instruction", "output"])
    }
  }
}
