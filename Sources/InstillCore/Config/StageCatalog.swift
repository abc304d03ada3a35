import Foundation

/// What a stage factory may use while it reads its own parameters.
public struct StageBuildContext {
  public let pipelineName: String
  public let pipelineFile: String
  /// Folder of the pipeline file; relative paths resolve from here.
  public let pipelineDirectory: String
  public let seed: UInt64
  public let stageName: String
  public let stageIndex: Int
  public let isFirstStage: Bool
  public let isLastStage: Bool
  /// The pipeline's `llm` section, if any.
  public let llm: ConfigNode?
  /// What the catalog provides to factories (the filter types, as `context.filters`).
  public let services: Services
  let files: FileCollector

  /// Resolves a path parameter, checks that the file exists, and adds the file
  /// to the stage's fingerprint so that a changed seed file is noticed on resume.
  public func inputFile(_ node: ConfigNode) throws(InstillError) -> String {
    let path = try existing(node, "file")
    files.paths.append(path)
    return path
  }

  /// Resolves a file or folder parameter that may be large (document sources):
  /// its files join the fingerprint by size and modification time, not content.
  public func inputSource(_ node: ConfigNode) throws(InstillError) -> String {
    let path = try existing(node, "file or folder")
    files.statted.append(path)
    return path
  }

  private func existing(_ node: ConfigNode, _ what: String) throws(InstillError) -> String {
    let path = FileSystem.resolve(try node.string(), relativeTo: pipelineDirectory)
    guard FileSystem.exists(path) else { throw node.error("\(what) not found: \(path)") }
    return path
  }
}

final class FileCollector {
  var paths: [String] = []
  /// Files and folders noticed by size and modification time (large inputs).
  var statted: [String] = []
}

/// Builds a stage of one `kind` from its parameters. It must read every key it
/// accepts from `params`; the caller rejects the keys it did not read.
public typealias StageFactory = (ConfigMap, StageBuildContext) throws(InstillError) -> any Stage

/// The stage kinds a pipeline may name. Methods add their kinds here; the runner
/// never needs to know them.
public struct StageCatalog {
  public private(set) var factories: [String: StageFactory] = [:]
  /// What factories are given besides their parameters (the filter types, as
  /// `catalog.filters`); modules register their own.
  public var services = Services()
  public init() {}

  public mutating func register(_ kind: String, _ factory: @escaping StageFactory) {
    factories[kind] = factory
  }

  public var kinds: [String] { factories.keys.sorted() }
}
