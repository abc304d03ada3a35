import Yams

/// A node of a pipeline file with its location, for errors that name file,
/// line and field (`quickstart.yaml:14: field 'stages[2].min': expected an integer`).
public struct ConfigNode: @unchecked Sendable {
  // Yams.Node is a value type of plain strings and arrays; it is safe to share.
  public let node: Node
  public let file: String
  /// Dotted path of this node from the top, e.g. `stages[1].filters[0]`.
  public let path: String

  public init(node: Node, file: String, path: String) {
    self.node = node
    self.file = file
    self.path = path
  }

  public var line: Int? { node.mark?.line }

  /// The root of a YAML document (a pipeline or another configuration file);
  /// invalid YAML and an empty document are input errors naming the file and line.
  public static func parse(yaml: String, file: String, what: String) throws(InstillError) -> ConfigNode {
    do {
      guard let node = try Yams.compose(yaml: yaml) else {
        throw InstillError.input("the \(what) is empty", file: file)
      }
      return ConfigNode(node: node, file: file, path: "")
    } catch let error as InstillError {
      throw error
    } catch let error as YamlError {
      throw InstillError.input("invalid YAML: \(yamlMessage(error))", file: file, line: yamlLine(error))
    } catch {
      throw InstillError.input("invalid YAML: \(error)", file: file)
    }
  }

  private static func yamlMessage(_ error: YamlError) -> String {
    switch error {
    case .scanner(let context, let problem, _, _), .parser(let context, let problem, _, _),
      .composer(let context, let problem, _, _):
      return [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
    case .duplicatedKeysInMapping(let duplicates, _):
      return "duplicate key '\(duplicates.joined(separator: "', '"))'"
    default:
      return "\(error)"
    }
  }

  private static func yamlLine(_ error: YamlError) -> Int? {
    switch error {
    case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
    case .duplicatedKeysInMapping(_, let context): return context.mark.line
    default: return nil
    }
  }

  public func error(_ message: String, field: String? = nil) -> InstillError {
    .input(message, file: file, line: line, field: field ?? (path.isEmpty ? nil : path))
  }

  func child(_ node: Node, key: String) -> ConfigNode {
    ConfigNode(node: node, file: file, path: path.isEmpty ? key : "\(path).\(key)")
  }

  func element(_ node: Node, index: Int) -> ConfigNode {
    ConfigNode(node: node, file: file, path: "\(path)[\(index)]")
  }

  /// A short rendering of the node's value for messages.
  var shown: String {
    switch node {
    case .scalar(let s): return "\"\(s.string)\""
    case .mapping: return "a mapping"
    case .sequence: return "a list"
    case .alias: return "an alias"
    }
  }

  public func mapping() throws(InstillError) -> ConfigMap {
    guard case .mapping(let mapping) = node else {
      throw error("expected a mapping of keys to values, found \(shown)")
    }
    var seen = Set<String>()
    var entries: [(String, ConfigNode)] = []
    for (key, value) in mapping {
      guard case .scalar(let k) = key else { throw error("mapping keys must be plain text") }
      guard seen.insert(k.string).inserted else {
        throw InstillError.input(
          "duplicate key '\(k.string)'", file: file, line: key.mark?.line,
          field: path.isEmpty ? k.string : "\(path).\(k.string)")
      }
      entries.append((k.string, child(value, key: k.string)))
    }
    return ConfigMap(owner: self, entries: entries)
  }

  public func list() throws(InstillError) -> [ConfigNode] {
    guard case .sequence(let sequence) = node else { throw error("expected a list, found \(shown)") }
    return sequence.enumerated().map { element($0.element, index: $0.offset) }
  }

  public func string() throws(InstillError) -> String {
    guard case .scalar(let s) = node else { throw error("expected text, found \(shown)") }
    return s.string
  }

  public func int() throws(InstillError) -> Int {
    guard case .scalar(let s) = node, let value = Int(s.string.replacingOccurrences(of: "_", with: "")) else {
      throw error("expected a whole number, found \(shown)")
    }
    return value
  }

  public func double() throws(InstillError) -> Double {
    guard case .scalar(let s) = node, let value = Double(s.string) else {
      throw error("expected a number, found \(shown)")
    }
    return value
  }

  public func bool() throws(InstillError) -> Bool {
    guard case .scalar(let s) = node else { throw error("expected true or false, found \(shown)") }
    switch s.string.lowercased() {
    case "true", "yes", "on": return true
    case "false", "no", "off": return false
    default: throw error("expected true or false, found \(shown)")
    }
  }

  public var isNull: Bool {
    guard case .scalar(let s) = node, s.style == .plain else { return false }
    return s.string == "null" || s.string == "~" || s.string.isEmpty
  }

  /// The node as JSON, for values passed through to an endpoint (`extra_body`):
  /// plain scalars that read as YAML 1.2 core numbers, booleans or null become
  /// those; quoted scalars stay text; mapping keys keep their order.
  public func json() throws(InstillError) -> JSONValue {
    switch node {
    case .scalar(let s):
      guard s.style == .plain else { return .string(s.string) }
      let text = s.string
      if text == "null" || text == "~" || text.isEmpty { return .null }
      if text == "true" || text == "True" || text == "TRUE" { return .bool(true) }
      if text == "false" || text == "False" || text == "FALSE" { return .bool(false) }
      if text.wholeMatch(of: /[-+]?[0-9]+/) != nil, let i = Int(text) { return .int(i) }
      if text.wholeMatch(of: /[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?/) != nil, let d = Double(text) {
        return .double(d)
      }
      return .string(text)
    case .sequence:
      var items: [JSONValue] = []
      for item in try list() { items.append(try item.json()) }
      return .array(items)
    case .mapping:
      let map = try mapping()
      var fields: [(String, JSONValue)] = []
      for key in map.keys { fields.append((key, try map.node(key)?.json() ?? .null)) }
      return .object(JSONObject(fields))
    case .alias:
      throw error("YAML aliases are not supported here")
    }
  }

  /// The node as canonical JSON (keys sorted), used to fingerprint configuration.
  public var canonical: String {
    switch node {
    case .scalar(let s): return JSONWriter.string(.string(s.string))
    case .sequence(let seq): return "[" + seq.map { child($0, key: "").canonical }.joined(separator: ",") + "]"
    case .mapping(let map):
      let pairs = map.compactMap { (k, v) -> (String, String)? in
        guard case .scalar(let key) = k else { return nil }
        return (key.string, child(v, key: "").canonical)
      }.sorted { $0.0 < $1.0 }
      return "{" + pairs.map { JSONWriter.string(.string($0.0)) + ":" + $0.1 }.joined(separator: ",") + "}"
    case .alias: return "null"
    }
  }
}

/// The keys of one mapping. Reading a key marks it used; `finish()` rejects the
/// keys nobody read, so a typo such as `recods_per_shard` is an error, not a default.
public final class ConfigMap {
  public let owner: ConfigNode
  private let entries: [(String, ConfigNode)]
  private var used = Set<String>()

  init(owner: ConfigNode, entries: [(String, ConfigNode)]) {
    self.owner = owner
    self.entries = entries
  }

  public var file: String { owner.file }
  public var keys: [String] { entries.map(\.0) }

  public func node(_ key: String) -> ConfigNode? {
    used.insert(key)
    guard let found = entries.first(where: { $0.0 == key })?.1, !found.isNull else { return nil }
    return found
  }

  public func has(_ key: String) -> Bool { entries.contains { $0.0 == key } }

  public func require(_ key: String) throws(InstillError) -> ConfigNode {
    guard let n = node(key) else {
      throw owner.error("missing required key '\(key)'", field: owner.path.isEmpty ? key : "\(owner.path).\(key)")
    }
    return n
  }

  public func string(_ key: String) throws(InstillError) -> String { try require(key).string() }
  public func string(_ key: String, default value: String) throws(InstillError) -> String {
    try node(key)?.string() ?? value
  }
  public func optionalString(_ key: String) throws(InstillError) -> String? { try node(key)?.string() }

  public func int(_ key: String, default value: Int, in range: ClosedRange<Int>? = nil) throws(InstillError) -> Int {
    try optionalInt(key, in: range) ?? value
  }

  public func optionalInt(_ key: String, in range: ClosedRange<Int>? = nil) throws(InstillError) -> Int? {
    guard let n = node(key) else { return nil }
    return try Self.checked(try n.int(), in: range, at: n)
  }

  public func double(_ key: String, default value: Double, in range: ClosedRange<Double>? = nil) throws(InstillError)
    -> Double
  {
    try optionalDouble(key, in: range) ?? value
  }

  public func optionalDouble(_ key: String, in range: ClosedRange<Double>? = nil) throws(InstillError) -> Double? {
    guard let n = node(key) else { return nil }
    return try Self.checked(try n.double(), in: range, at: n)
  }

  static func checked<Value: Comparable>(_ value: Value, in range: ClosedRange<Value>?, at node: ConfigNode)
    throws(InstillError) -> Value
  {
    if let range, !range.contains(value) {
      throw node.error("must be between \(range.lowerBound) and \(range.upperBound), found \(value)")
    }
    return value
  }

  public func bool(_ key: String, default value: Bool) throws(InstillError) -> Bool { try node(key)?.bool() ?? value }

  /// One of `allowed`, or `value` when absent.
  public func choice(_ key: String, _ allowed: [String], default value: String) throws(InstillError) -> String {
    guard let n = node(key) else { return value }
    let v = try n.string()
    guard allowed.contains(v) else {
      throw n.error("must be one of \(allowed.joined(separator: ", ")), found \"\(v)\"")
    }
    return v
  }

  /// One of an enumeration's values by its raw name (`emit: last`); an unknown
  /// name is an error that lists the allowed ones in declaration order.
  public func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, default value: Choice)
    throws(InstillError) -> Choice where Choice.RawValue == String
  {
    let name = try choice(key, Choice.allCases.map(\.rawValue), default: value.rawValue)
    return Choice(rawValue: name) ?? value
  }

  public func stringList(_ key: String) throws(InstillError) -> [String]? {
    guard let n = node(key) else { return nil }
    var out: [String] = []
    for item in try n.list() { out.append(try item.string()) }
    return out
  }

  public func list(_ key: String) throws(InstillError) -> [ConfigNode]? { try node(key)?.list() }

  public func map(_ key: String) throws(InstillError) -> ConfigMap? { try node(key)?.mapping() }

  /// Rejects keys that were never read.
  public func finish() throws(InstillError) {
    for (key, node) in entries where !used.contains(key) {
      let known = used.sorted().joined(separator: ", ")
      throw InstillError.input(
        "unknown key '\(key)'" + (known.isEmpty ? "" : " (known keys here: \(known))"),
        file: node.file, line: node.node.mark?.line ?? owner.line, field: node.path)
    }
  }
}
