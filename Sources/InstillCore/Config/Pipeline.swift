import Foundation
import Yams

/// A stage of a loaded pipeline, ready to run.
public struct PlannedStage: Sendable {
  /// 1-based position in the pipeline.
  public let index: Int
  public let name: String
  public let kind: String
  public let stage: any Stage
  /// `NN-name`, the stage's folder under `DIR/stages/`.
  public let folder: String
  /// Changes whenever this stage's parameters, input files, the pipeline seed
  /// or any earlier stage's fingerprint changes.
  public let fingerprint: String
  public let line: Int?
}

/// A parsed and checked pipeline file.
public struct Pipeline: Sendable {
  public let name: String
  public let seed: UInt64
  public let file: String
  public let directory: String
  public let text: String
  public let llm: ConfigNode?
  /// The pipeline's named `endpoints`: LLM sections (same keys as `llm`) that a
  /// stage picks with `llm: NAME`, e.g. a judge on another server than the generator.
  public let endpoints: [(name: String, node: ConfigNode)]
  public let stages: [PlannedStage]
  /// How many dropped examples the statistics keep per filter and reason.
  public var examplesPerReason = FilterStats.defaultExampleLimit
  /// The user's `prices` (per model), if any: cost in the statistics and `--max-cost`.
  public var prices: PriceTable?

  public static func load(file: String, catalog: StageCatalog, llmOverrides: [LLMOverride] = [])
    throws(InstillError) -> Pipeline
  {
    try parse(
      text: try FileSystem.readString(file, what: "pipeline file"), file: file, catalog: catalog,
      llmOverrides: llmOverrides)
  }

  /// A key that the command line sets in the `llm` section and every named
  /// endpoint (`instill run --reasoning keep`), as if the file said so: it joins
  /// the fingerprints like any key there. A stage's own key still wins.
  public struct LLMOverride: Sendable {
    public var key: String
    public var value: String
    /// The value is the key's default: a section that does not set the key is left as it is.
    public var isDefault: Bool
    public init(key: String, value: String, isDefault: Bool) {
      self.key = key
      self.value = value
      self.isDefault = isDefault
    }
  }

  public static func parse(text: String, file: String, catalog: StageCatalog, llmOverrides: [LLMOverride] = [])
    throws(InstillError) -> Pipeline
  {
    let top = try ConfigNode.parse(yaml: text, file: file, what: "pipeline file").mapping()
    let name = try top.string("name")
    _ = try top.optionalString("description")
    let seedValue = try top.int("seed", default: 0)
    guard seedValue >= 0 else { throw try top.require("seed").error("must be zero or positive") }
    let seed = UInt64(seedValue)
    let examplesPerReason = try top.int("examples_per_reason", default: FilterStats.defaultExampleLimit, in: 0...10_000)
    var llm = top.node("llm")
    if let llm { _ = try llm.mapping() }
    var endpoints: [(name: String, node: ConfigNode)] = []
    if let section = try top.map("endpoints") {
      for key in section.keys {
        let node = try section.require(key)
        _ = try node.mapping()
        endpoints.append((key, node.overriding(llmOverrides)))
      }
    }
    llm = llm?.overriding(llmOverrides) ?? ConfigNode.section(llmOverrides, file: file, path: "llm")
    let directory = (file as NSString).deletingLastPathComponent
    let prices = try top.node("prices").map { node throws(InstillError) in
      try PriceTable.parse(node, pipelineDirectory: directory)
    }
    let stageNodes = try top.require("stages").list()
    try top.finish()
    guard !stageNodes.isEmpty else { throw top.owner.error("the pipeline has no stages", field: "stages") }

    var stages: [PlannedStage] = []
    var previous = StageFingerprint.start(seed: seed)
    var names = Set<String>()
    for (offset, node) in stageNodes.enumerated() {
      let params = try node.mapping()
      let kindNode = try params.require("kind")
      let kind = try kindNode.string()
      let stageName = try params.string("name", default: kind)
      guard stageName.range(of: "^[a-z0-9][a-z0-9_-]*$", options: .regularExpression) != nil else {
        throw try params.require("name").error("stage names use lower-case letters, digits, '-' and '_'")
      }
      guard names.insert(stageName).inserted else {
        throw (params.node("name") ?? kindNode).error("two stages are named '\(stageName)'; give each a unique name")
      }
      guard let factory = catalog.factories[kind] else {
        throw kindNode.error("unknown stage kind '\(kind)' (known kinds: \(catalog.kinds.joined(separator: ", ")))")
      }
      let files = FileCollector()
      let context = StageBuildContext(
        pipelineName: name, pipelineFile: file, pipelineDirectory: directory, seed: seed,
        stageName: stageName, stageIndex: offset + 1, isFirstStage: offset == 0,
        isLastStage: offset == stageNodes.count - 1, llm: llm,
        services: catalog.services, files: files)
      let stage = try factory(params, context)
      try params.finish()
      // A stage's `llm: NAME` (accepted by LLM stages only) names one of the endpoints.
      func endpoint(_ nameNode: ConfigNode, allowingOwn: Bool = false) throws(InstillError) -> ConfigNode? {
        let endpoint = try nameNode.string()
        if allowingOwn && endpoint == "llm" { return llm }
        guard let found = endpoints.first(where: { $0.name == endpoint }) else {
          throw nameNode.error(
            "no endpoint '\(endpoint)' in the pipeline's endpoints section"
              + (endpoints.isEmpty ? "" : " (endpoints: \(endpoints.map(\.name).joined(separator: ", ")))"))
        }
        return found.node
      }
      var stageLLMs = [llm]
      if let nameNode = try node.mapping().node("llm") { stageLLMs = [try endpoint(nameNode)] }
      // `cascade: [cheap, …, strong]`: endpoint names, `llm` for the pipeline's own.
      if let cascadeNode = try node.mapping().node("cascade") {
        guard stage.acceptsCascade else {
          throw cascadeNode.error(
            "cascade works on per-record LLM stages (generate, judge, instances, unnatural_outputs, …); "
              + "\(kind) is not one")
        }
        stageLLMs = []
        for tier in try cascadeNode.list() { stageLLMs.append(try endpoint(tier, allowingOwn: true)) }
      }

      let fingerprint = try StageFingerprint(
        previous: previous, kind: kind, name: stageName, entry: node, files: files,
        usesLLM: stage.usesLLM, llms: stageLLMs
      ).hex
      previous = fingerprint
      let index = offset + 1
      stages.append(
        PlannedStage(
          index: index, name: stageName, kind: kind, stage: stage,
          folder: (index < 10 ? "0" : "") + "\(index)-\(stageName)", fingerprint: fingerprint, line: node.line))
    }
    var pipeline = Pipeline(
      name: name, seed: seed, file: file, directory: directory, text: text, llm: llm, endpoints: endpoints,
      stages: stages)
    pipeline.examplesPerReason = examplesPerReason
    pipeline.prices = prices
    return pipeline
  }

  public var usesLLM: Bool { stages.contains { $0.stage.usesLLM } }

  /// Runs every stage's own checks (seed files parse, parameters agree).
  public func validate() throws(InstillError) {
    for planned in stages { try planned.stage.validate() }
  }
}

/// A stage's identity for resume: it changes whenever the stage's entry, its
/// input files (content; large sources by size and modification time), the
/// `llm` settings that change replies (for LLM stages), the pipeline seed or
/// any earlier stage's fingerprint changes. A run directory refuses a pipeline
/// whose fingerprints differ from the ones it was started with.
struct StageFingerprint {
  let hex: String

  /// The fingerprint before the first stage.
  static func start(seed: UInt64) -> String { SHA256.hex("instill-pipeline/\(seed)") }

  init(
    previous: String, kind: String, name: String, entry: ConfigNode, files: FileCollector, usesLLM: Bool,
    llms: [ConfigNode?]
  ) throws(InstillError) {
    var hasher = SHA256()
    hasher.update(previous)
    hasher.update("\n\(kind)\n\(name)\n\(entry.canonical)\n")
    for path in files.paths {
      hasher.update(path)
      try FileSystem.forEachChunk(path) { hasher.update($0) }
    }
    for path in files.statted {
      for file in FileSystem.isDirectory(path) ? FileSystem.filesBelow(path) : [path] {
        hasher.update("\(file)\n\(FileSystem.identity(file) ?? "missing")\n")
      }
    }
    if usesLLM { hasher.update("llm:" + llms.map(Self.llmIdentity).joined(separator: "|")) }
    hex = hasher.hexDigest()
  }

  /// The parts of the `llm` section that change what an LLM stage produces
  /// (provider, model, sampling defaults, extra request fields), not how it is reached.
  static func llmIdentity(_ llm: ConfigNode?) -> String {
    guard let llm, case .mapping(let map) = llm.node else { return "local" }
    let relevant = ["provider", "model", "sampling", "extra_body", "reasoning", "reasoning_tags"]
    return map.compactMap { (key, value) -> String? in
      guard case .scalar(let k) = key, relevant.contains(k.string) else { return nil }
      return k.string + "=" + ConfigNode(node: value, file: llm.file, path: "").canonical
    }.sorted().joined(separator: ";")
  }
}

extension ConfigNode {
  /// This mapping with the overrides' keys set (a default is set only where the key is already).
  func overriding(_ overrides: [Pipeline.LLMOverride]) -> ConfigNode {
    guard case .mapping(var map) = node else { return self }
    for o in overrides where !o.isDefault || map[Node(o.key)] != nil {
      map[Node(o.key)] = Node(o.value)
    }
    return ConfigNode(node: .mapping(map), file: file, path: path)
  }

  /// A section holding only the overrides that are not defaults; nil when there are none.
  static func section(_ overrides: [Pipeline.LLMOverride], file: String, path: String) -> ConfigNode? {
    let set = overrides.filter { !$0.isDefault }
    guard !set.isEmpty else { return nil }
    return ConfigNode(node: .mapping(Node.Mapping(set.map { (Node($0.key), Node($0.value)) })), file: file, path: path)
  }
}
