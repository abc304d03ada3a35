import Foundation
import InstillCore
import InstillLLM

/// A principle an answer is critiqued and revised by.
public struct Principle: Sendable, Equatable {
  public var name: String
  /// What the critique request asks the model to look for.
  public var critique: String
  /// What the revision request asks the model to fix.
  public var revision: String
}

/// Principles from YAML (the built-in set is `Principles/principles.yaml`, in the same format):
///
///     principles:
///       - name: inaccurate
///         critique: List the statements in the answer that are false …
///         revision: Rewrite the answer so that every statement in it is accurate …
public struct PrincipleSet: Sendable, Equatable {
  public var name: String
  public var principles: [Principle]

  public static let builtinName = "constitutional"

  public static func named(_ node: ConfigNode?, context: StageBuildContext) throws(InstillError) -> PrincipleSet {
    guard let node, try node.string() != builtinName else {
      return try parse(
        yaml: PromptText.embedded(PackageResources.principles_yaml), file: "builtin:\(builtinName)",
        name: builtinName)
    }
    let path = try context.inputFile(node)
    return try parse(yaml: try FileSystem.readString(path, what: "principles file"), file: path, name: path)
  }

  public static func parse(yaml: String, file: String, name: String) throws(InstillError) -> PrincipleSet {
    let top = try ConfigNode.parse(yaml: yaml, file: file, what: "principles file").mapping()
    let listNode = try top.require("principles")
    var principles: [Principle] = []
    for item in try listNode.list() {
      let map = try item.mapping()
      let nameNode = try map.require("name")
      let principle = Principle(
        name: try nameNode.string(), critique: try nonEmpty(map, "critique"), revision: try nonEmpty(map, "revision"))
      try map.finish()
      guard !principles.contains(where: { $0.name == principle.name }) else {
        throw nameNode.error("two principles are named '\(principle.name)'")
      }
      principles.append(principle)
    }
    try top.finish()
    guard !principles.isEmpty else { throw listNode.error("no principles") }
    return PrincipleSet(name: name, principles: principles)
  }

  static func nonEmpty(_ map: ConfigMap, _ key: String) throws(InstillError) -> String {
    let node = try map.require(key)
    let text = try node.string().trimmingCharacters(in: .whitespacesAndNewlines)
    guard !text.isEmpty else { throw node.error("\(key) is empty") }
    return text
  }

  /// A principle drawn uniformly.
  public func pick(_ random: inout SeededRandom) -> Principle {
    principles[Int(random.next() % UInt64(principles.count))]
  }
}
