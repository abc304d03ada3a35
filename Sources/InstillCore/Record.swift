/// One item flowing through a pipeline: a JSON object with the conventional
/// fields `id`, `instruction`, `input`, `output` and `meta`, plus whatever else a
/// stage or seed file carries. Key order is kept, so output is reproducible.
public struct Record: Sendable, Hashable {
  public var fields: JSONObject

  public init(_ fields: JSONObject = JSONObject()) { self.fields = fields }

  public subscript(key: String) -> JSONValue? {
    get { fields[key] }
    set { fields[key] = newValue }
  }

  /// The field's text, or nil when absent or not a string.
  public func string(_ key: String) -> String? { fields[key]?.stringValue }

  public var id: String? {
    get {
      switch fields["id"] {
      case .string(let s): return s
      case .number(let n): return n
      default: return nil
      }
    }
    set { fields["id"] = newValue.map(JSONValue.string) }
  }

  public var instruction: String { string("instruction") ?? "" }
  public var input: String { string("input") ?? "" }
  /// What a user asks: the instruction, then the input (when there is one) after a blank line.
  public var prompt: String { input.isEmpty ? instruction : instruction + "\n\n" + input }
  public var output: String { string("output") ?? "" }

  public var meta: JSONObject {
    get { fields["meta"]?.objectValue ?? JSONObject() }
    set { fields["meta"] = .object(newValue) }
  }

  /// Changes `meta` in place: `record.updateMeta { $0["round"] = .int(2) }`.
  public mutating func updateMeta(_ change: (inout JSONObject) throws -> Void) rethrows {
    var meta = self.meta
    try change(&meta)
    self.meta = meta
  }

  /// A dotted path split into keys: `meta.root` → ["meta", "root"]; nil when a part is empty.
  public static func path(_ dotted: String) -> [String]? {
    let parts = dotted.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    return parts.isEmpty || parts.contains(where: \.isEmpty) ? nil : parts
  }

  /// The value at a dotted path split into keys (`["meta", "root"]`), or nil.
  public func value(at path: [String]) -> JSONValue? {
    guard let first = path.first else { return nil }
    var value = fields[first]
    for key in path.dropFirst() { value = value?.objectValue?[key] }
    return value
  }
}
