import InstillCore
import Logging

enum LLMBackendKey: ServiceKey {
  typealias Value = any LLMBackend
}

extension Services {
  /// The pipeline's LLM endpoint, when it has one.
  public var llm: (any LLMBackend)? {
    get { self[LLMBackendKey.self] }
    set { self[LLMBackendKey.self] = newValue }
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

  /// Opens the LLM session of this shard or global stage, with its journal.
  public func llmSession() throws -> LLMSession {
    guard let backend = llm else {
      throw InstillError.input("stage \(stageName) needs an LLM, but the pipeline has no usable `llm` section")
    }
    let journal = try Journal(path: journalPath)
    return LLMSession(backend: backend, journal: journal, control: control, stats: stats)
  }
}
