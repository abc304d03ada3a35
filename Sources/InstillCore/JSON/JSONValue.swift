/// A JSON value whose objects keep their keys in order and whose numbers keep
/// their source text, so that a record read and written again is byte-identical.
public enum JSONValue: Sendable, Hashable {
  case null
  case bool(Bool)
  /// The number's literal text, e.g. `12`, `-0.5`, `1e3`.
  case number(String)
  case string(String)
  case array([JSONValue])
  case object(JSONObject)

  public static func int(_ value: Int) -> JSONValue { .number(String(value)) }

  /// A double written the shortest way that reads back exactly (`1`, `0.25`).
  public static func double(_ value: Double) -> JSONValue {
    if value.isNaN || value.isInfinite { return .null }
    if value == value.rounded(), abs(value) < 1e15 { return .number(String(Int(value))) }
    return .number("\(value)")
  }

  public var stringValue: String? {
    if case .string(let s) = self { return s }
    return nil
  }

  public var boolValue: Bool? {
    if case .bool(let b) = self { return b }
    return nil
  }

  public var intValue: Int? {
    if case .number(let n) = self { return Int(n) ?? Double(n).flatMap { $0 == $0.rounded() ? Int($0) : nil } }
    return nil
  }

  public var doubleValue: Double? {
    if case .number(let n) = self { return Double(n) }
    return nil
  }

  public var arrayValue: [JSONValue]? {
    if case .array(let a) = self { return a }
    return nil
  }

  public var objectValue: JSONObject? {
    if case .object(let o) = self { return o }
    return nil
  }

  /// The value's short description for error messages ("a string", "an array").
  public var kindDescription: String {
    switch self {
    case .null: return "null"
    case .bool: return "a boolean"
    case .number: return "a number"
    case .string: return "a string"
    case .array: return "an array"
    case .object: return "an object"
    }
  }
}

/// A JSON object that keeps its keys in insertion order. Lookups are linear,
/// which is the fastest choice for the handful of keys a record carries.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
  public private(set) var pairs: [(key: String, value: JSONValue)]

  public init() { pairs = [] }
  public init(_ pairs: [(String, JSONValue)]) { self.pairs = pairs.map { (key: $0.0, value: $0.1) } }
  public init(dictionaryLiteral elements: (String, JSONValue)...) { self.init(elements) }

  public var count: Int { pairs.count }
  public var keys: [String] { pairs.map(\.key) }
  public func makeIterator() -> IndexingIterator<[(key: String, value: JSONValue)]> { pairs.makeIterator() }

  public subscript(key: String) -> JSONValue? {
    get {
      for pair in pairs where pair.key == key { return pair.value }
      return nil
    }
    set {
      if let index = pairs.firstIndex(where: { $0.key == key }) {
        if let newValue { pairs[index].value = newValue } else { pairs.remove(at: index) }
      } else if let newValue {
        pairs.append((key: key, value: newValue))
      }
    }
  }

  /// Appends without checking for an existing key (the parser checks once).
  mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
    pairs.append((key: key, value: value))
  }

  public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
    lhs.pairs.count == rhs.pairs.count
      && zip(lhs.pairs, rhs.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
  }

  public func hash(into hasher: inout Hasher) {
    for pair in pairs {
      hasher.combine(pair.key)
      hasher.combine(pair.value)
    }
  }
}
