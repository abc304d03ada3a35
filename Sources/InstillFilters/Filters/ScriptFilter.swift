import InstillCore

/// `script`: keeps records whose field is written mostly in one Unicode
/// script: at least `min_fraction` (0.5) of its letters belong to `script`
/// (`latin`, `cyrillic`, `greek`, `arabic`, `hebrew`, `devanagari`, `han`,
/// `hiragana_katakana`, `hangul`, `thai`). Text without letters is kept.
/// Reason `not_<script>`.
public struct ScriptFilter: RecordFilter {
  public static let scripts: [String: [ClosedRange<UInt32>]] = [
    "latin": [0x41...0x5A, 0x61...0x7A, 0xC0...0x24F, 0x1E00...0x1EFF],
    "cyrillic": [0x400...0x52F],
    "greek": [0x370...0x3FF, 0x1F00...0x1FFF],
    "arabic": [0x600...0x6FF, 0x750...0x77F],
    "hebrew": [0x590...0x5FF],
    "devanagari": [0x900...0x97F],
    "han": [0x3400...0x4DBF, 0x4E00...0x9FFF, 0xF900...0xFAFF, 0x20000...0x2A6DF],
    "hiragana_katakana": [0x3040...0x30FF],
    "hangul": [0xAC00...0xD7AF, 0x1100...0x11FF],
    "thai": [0xE00...0xE7F],
  ]

  public let name: String
  public let field: String
  public let script: String
  public let minFraction: Double

  public init(name: String, field: String, script: String, minFraction: Double) {
    self.name = name
    self.field = field
    self.script = script
    self.minFraction = minFraction
  }

  public var exampleField: String { field }

  public func check(_ record: Record) -> String? {
    guard let ranges = Self.scripts[script] else { return nil }
    var letters = 0
    var inScript = 0
    for scalar in (record.string(field) ?? "").unicodeScalars where scalar.properties.isAlphabetic {
      letters += 1
      if ranges.contains(where: { $0.contains(scalar.value) }) { inScript += 1 }
    }
    guard letters > 0 else { return nil }
    return Double(inScript) / Double(letters) >= minFraction ? nil : "not_\(script)"
  }

  public static func register(in catalog: inout FilterCatalog) {
    catalog.register("script") { map, node throws(InstillError) in
      let script = try map.choice("script", scripts.keys.sorted(), default: "latin")
      return ScriptFilter(
        name: try map.string("name", default: "script"), field: try map.string("field", default: "output"),
        script: script, minFraction: try map.double("min_fraction", default: 0.5, in: 0...1))
    }
  }
}
