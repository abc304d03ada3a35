import InstillCore

/// Drops records whose field is shorter than `min` or longer than `max`, counted
/// in words (whitespace-separated) or characters.
public struct LengthFilter: RecordFilter {
  public enum Unit: String, Sendable, CaseIterable { case words, chars }
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

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("length") { map, node throws(InstillError) in
      let field = try map.string("field", default: "output")
      let unit = try map.choice("unit", default: Unit.words)
      let min = try map.optionalInt("min", in: 0...Int.max)
      let max = try map.optionalInt("max", in: 0...Int.max)
      if min == nil && max == nil { throw node.error("a length filter needs 'min', 'max' or both") }
      if let min, let max, min > max { throw node.error("'min' (\(min)) is larger than 'max' (\(max))") }
      return LengthFilter(
        name: try map.string("name", default: "length-\(field)"), field: field, unit: unit, min: min, max: max)
    }
  }
}
