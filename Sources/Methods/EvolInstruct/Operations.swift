import Foundation
import InstillCore
import InstillLLM

/// One way of evolving an instruction: a prompt template with `{instruction}`.
public struct EvolOperation: Sendable, Equatable {
  public enum Kind: String, Sendable, CaseIterable { case depth, breadth }
  public var name: String
  public var kind: Kind
  public var template: String
  /// Relative chance of being picked (default 1).
  public var weight: Double

  /// The evolving prompt for `instruction`.
  public func render(_ instruction: String) -> String {
    template.replacingOccurrences(of: "{instruction}", with: instruction)
  }
}

/// A list of operations, from a YAML file (or a built-in set in the same format):
///
///     operations:
///       - name: add_constraints
///         kind: depth          # or breadth
///         weight: 1            # optional
///         template: |
///           … {instruction} …
public struct OperationSet: Sendable {
  public let name: String
  public let operations: [EvolOperation]
  /// The `#…#` field names of the templates: an evolved instruction that
  /// contains one has copied the evolving prompt.
  public let markers: [String]

  public static let builtinNames = ["general", "code"]

  /// `general`, `code`, or a YAML file.
  public static func named(_ name: String) throws(InstillError) -> OperationSet {
    switch name {
    // Written in the format of a user's own `operations:` file, loaded by the same code (Prompts/*.yaml).
    case "general":
      return try parse(yaml: PromptText.embedded(PackageResources.general_yaml), file: "builtin:general", name: name)
    case "code":
      return try parse(yaml: PromptText.embedded(PackageResources.code_yaml), file: "builtin:code", name: name)
    default:
      return try parse(yaml: try FileSystem.readString(name, what: "operations file"), file: name, name: name)
    }
  }

  public static func parse(yaml: String, file: String, name: String) throws(InstillError) -> OperationSet {
    let top = try ConfigNode.parse(yaml: yaml, file: file, what: "operations file").mapping()
    let items = try top.require("operations").list()
    try top.finish()
    guard !items.isEmpty else { throw top.owner.error("no operations", field: "operations") }
    var operations: [EvolOperation] = []
    for item in items {
      let map = try item.mapping()
      let nameNode = try map.require("name")
      let opName = try nameNode.string()
      let kind = try map.choice("kind", default: EvolOperation.Kind.depth)
      let templateNode = try map.require("template")
      let template = try templateNode.string()
      guard template.contains("{instruction}") else {
        throw templateNode.error("the template has no {instruction} placeholder")
      }
      let weight = try map.double("weight", default: 1, in: 0...1_000_000)
      try map.finish()
      guard weight > 0 else { throw try map.require("weight").error("must be above 0") }
      guard !operations.contains(where: { $0.name == opName }) else {
        throw nameNode.error("two operations are named '\(opName)'")
      }
      operations.append(EvolOperation(name: opName, kind: kind, template: template, weight: weight))
    }
    var markers: [String] = []
    for operation in operations {
      for match in operation.template.matches(of: /#[A-Za-z][A-Za-z ]*#/) where !markers.contains(String(match.output))
      {
        markers.append(String(match.output))
      }
    }
    return OperationSet(name: name, operations: operations, markers: markers)
  }

  /// Picks an operation with probability proportional to its weight
  /// (`weights` overrides weights by name).
  public func pick(_ random: inout SeededRandom, weights: [String: Double] = [:]) -> EvolOperation {
    let effective = operations.map { weights[$0.name] ?? $0.weight }
    let total = effective.reduce(0, +)
    var x = random.unit() * total
    for (i, w) in effective.enumerated() {
      if x < w { return operations[i] }
      x -= w
    }
    return operations[operations.count - 1]
  }
}
