import InstillCore
import Logging

enum LLMBackendKey: ServiceKey {
  typealias Value = any LLMBackend
}

enum NamedLLMBackendsKey: ServiceKey {
  typealias Value = [String: any LLMBackend]
}

extension Services {
  /// The pipeline's LLM endpoint, when it has one.
  public var llm: (any LLMBackend)? {
    get { self[LLMBackendKey.self] }
    set { self[LLMBackendKey.self] = newValue }
  }

  /// The pipeline's named `endpoints`.
  public var namedLLMs: [String: any LLMBackend] {
    get { self[NamedLLMBackendsKey.self] ?? [:] }
    set { self[NamedLLMBackendsKey.self] = newValue }
  }
}

extension StageContext {
  /// The pipeline's LLM endpoint, when it has one.
  public var llm: (any LLMBackend)? { services.llm }

  /// A context whose only service is `llm`.
  public init(
    stageName: String, stageIndex: Int, seed: UInt64, shard: Int?, stats: StatsRecorder, control: RunControl,
    logger: Logger, llm: (any LLMBackend)?, journalPath: String, dataset: PublishedFolder?
  ) {
    var services = Services()
    services.llm = llm
    self.init(
      stageName: stageName, stageIndex: stageIndex, seed: seed, shard: shard, stats: stats, control: control,
      logger: logger, services: services, journalPath: journalPath, dataset: dataset)
  }

  /// Opens the LLM session of this shard or global stage, with its journal:
  /// on the pipeline's `llm`, or on the named endpoint the stage picked.
  public func llmSession(endpoint name: String? = nil) throws -> LLMSession {
    let backend = try llmBackend(endpoint: name)
    let journal = try Journal(path: journalPath)
    return LLMSession(backend: backend, journal: journal, control: control, stats: stats)
  }

  /// The pipeline's `llm`, or the named endpoint the stage picked.
  public func llmBackend(endpoint name: String? = nil) throws(InstillError) -> any LLMBackend {
    let found = name.map { services.namedLLMs[$0] } ?? llm
    guard let backend = found else {
      throw InstillError.input(
        name.map { "stage \(stageName) asks for endpoint '\($0)', which the run was not given" }
          ?? "stage \(stageName) needs an LLM, but the pipeline has no usable `llm` section")
    }
    return backend
  }
}
