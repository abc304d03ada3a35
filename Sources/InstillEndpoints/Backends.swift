import Foundation
import InstillCore
import InstillLLM
import Logging
import Synchronization

/// `provider: local`: starts the embedded server on first use with `--parallel`
/// equal to `max_concurrency`, then talks to it like any OpenAI endpoint. The
/// first embedding request starts a second server with `--embeddings`, so the
/// generation server runs as it always does.
public final class LocalBackend: LLMBackend {
  let settings: LLMSettings
  let logger: Logger
  let logPath: String
  /// The generation server, and the `--embeddings` one (started by the first embedding request).
  private let servers = Mutex<[Bool: (server: LocalServer, client: OpenAIClient)]>([:])
  private let starting = AsyncSemaphore(1)

  public init(settings: LLMSettings, logPath: String, logger: Logger) {
    self.settings = settings
    self.logPath = logPath
    self.logger = logger
  }

  public var defaultModel: String { settings.model ?? LocalModel.modelName }
  public var defaultSampling: Sampling { settings.sampling }
  public var maxConcurrency: Int { settings.maxConcurrency }
  public var reasoning: ReasoningSettings { settings.reasoning }
  /// In reproducible mode every request also says `cache_prompt: false`: llama-server's
  /// prompt cache makes a reply depend on what its slot processed before.
  public var defaultExtraBody: JSONObject {
    var body = settings.extraBody
    if settings.localReproducible { body["cache_prompt"] = .bool(false) }
    return body
  }

  func client(embeddings: Bool = false) async throws -> OpenAIClient {
    if let running = servers.withLock({ $0[embeddings] }) { return running.client }
    await starting.acquire()
    defer { Task { await starting.release() } }
    if let running = servers.withLock({ $0[embeddings] }) { return running.client }
    let log =
      embeddings ? (logPath.hasSuffix(".log") ? String(logPath.dropLast(4)) : logPath) + "-embeddings.log" : logPath
    let server = try await LocalServer.start(
      parallel: settings.maxConcurrency, threads: settings.localThreads, contextPerSlot: settings.localContextPerSlot,
      logPath: log, logger: logger, embeddings: embeddings)
    let client = try OpenAIClient(
      baseURL: server.baseURL, settings: settings, defaultModel: LocalModel.modelName, logger: logger)
    servers.withLock { $0[embeddings] = (server, client) }
    return client
  }

  public func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts) {
    if request.endpoint == .embedding { return try await client(embeddings: true).send(request) }
    guard settings.localReproducible, request.sampling.seed == nil, request.extraBody["seed"] == nil else {
      return try await client().send(request)
    }
    // Without a seed llama-server draws a random one; this one follows from the request's content.
    var seeded = request
    seeded.sampling.seed = Int(UInt64(SHA256.hex(JSONWriter.bytes(.object(request.body))).prefix(8), radix: 16) ?? 0)
    return try await client().send(seeded)
  }

  public func applyChatTemplate(_ messages: [ChatMessage]) async throws -> String? {
    try await client().applyChatTemplate(messages)
  }

  /// Stops the servers (those that were started) and closes their clients.
  public func shutdown() async {
    let running = servers.withLock { s in
      let current = s
      s = [:]
      return current
    }
    for (embeddings, (server, client)) in running.sorted(by: { !$0.key && $1.key }) {
      await client.shutdown()
      server.stop()
      logger.info("stopped llama-server (pid \(server.pid)\(embeddings ? ", --embeddings" : ""))")
    }
  }
}

/// Makes the backend a pipeline asks for.
public enum LLMBackends {
  /// - Parameter serverLog: where the embedded server (provider `local`) writes its log.
  public static func make(_ settings: LLMSettings, serverLog: String, logger: Logger) throws(InstillError)
    -> any ShutdownableBackend
  {
    switch settings.provider {
    case .local:
      return LocalBackend(settings: settings, logPath: serverLog, logger: logger)
    case .openai:
      return try OpenAIClient(
        baseURL: settings.baseURL ?? "", settings: settings, defaultModel: "default", logger: logger)
    case .command:
      return CommandBatches(settings: settings, logger: logger)
    }
  }
}

/// A backend that holds resources to release at exit.
public protocol ShutdownableBackend: LLMBackend {
  func shutdown() async
}

extension OpenAIClient: ShutdownableBackend {}
extension LocalBackend: ShutdownableBackend {}
extension CommandBatches: ShutdownableBackend {}
