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
  public var output: String { string("output") ?? "" }

  public var meta: JSONObject {
    get { fields["meta"]?.objectValue ?? JSONObject() }
    set { fields["meta"] = .object(newValue) }
  }

  /// The value at a dotted path split into keys (`["meta", "root"]`), or nil.
  public func value(at path: [String]) -> JSONValue? {
    guard let first = path.first else { return nil }
    var value = fields[first]
    for key in path.dropFirst() { value = value?.objectValue?[key] }
    return value
  }

  /// The compact JSON line for this record (no trailing newline).
  public var jsonBytes: [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(256)
    JSONWriter.write(fields, into: &out)
    return out
  }
}
