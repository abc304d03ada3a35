import AsyncHTTPClient
import Foundation
import InstillCore
import InstillLLM
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

/// The client for OpenAI-compatible endpoints (`/chat/completions`,
/// `/completions`). It bounds concurrency, keeps to RPM/TPM limits, retries
/// 429, 5xx, timeouts, dropped connections and malformed replies with
/// exponential backoff and jitter (honouring `Retry-After`), and stops the run
/// when the endpoint is down or most recent requests fail after their retries.
public final class OpenAIClient: LLMBackend {
  public let baseURL: String
  public let defaultModel: String
  public let defaultSampling: Sampling
  public var defaultExtraBody: JSONObject { settings.extraBody }
  public var transientRunLimit: Int { settings.transientRuns }
  public var reasoning: ReasoningSettings { settings.reasoning }
  public let maxConcurrency: Int
  let settings: LLMSettings
  let apiKey: String?
  let http: HTTPClient
  let semaphore: AsyncSemaphore
  let limiter: RateLimiter
  let breaker = FailureBreaker()
  let logger: Logger
  /// The batches of each shard (by journal path) when stages batch.
  let batchShards = Mutex<[String: ShardBatches]>([:])

  public init(baseURL: String, settings: LLMSettings, defaultModel: String, logger: Logger) throws(InstillError) {
    self.baseURL = baseURL
    self.settings = settings
    self.defaultModel = settings.model ?? defaultModel
    self.defaultSampling = settings.sampling
    self.maxConcurrency = settings.maxConcurrency
    self.logger = logger
    if let env = settings.apiKeyEnv {
      guard let key = ProcessInfo.processInfo.environment[env], !key.isEmpty else {
        throw InstillError.input(
          "the environment variable \(env) (llm.api_key_env) is not set", field: "llm.api_key_env")
      }
      apiKey = key
    } else {
      apiKey = nil
    }
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(8, settings.maxConcurrency)
    // A refused connection fails the attempt at once (our retries and the breaker
    // handle it) instead of being retried inside the pool until the timeout.
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.timeout.connect = .seconds(Int64(min(30, max(1, settings.timeout))))
    configuration.timeout.read = .milliseconds(Int64(settings.timeout * 1000))
    http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    semaphore = AsyncSemaphore(settings.maxConcurrency)
    limiter = RateLimiter(requestsPerMinute: settings.requestsPerMinute, tokensPerMinute: settings.tokensPerMinute)
  }

  public func shutdown() async {
    try? await http.shutdown()
  }

  /// Raised when the endpoint is unusable; ends the run with exit 1.
  public static func endpointFailing(_ message: String) -> InstillError { .failure(message) }

  public func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts) {
    if let tripped = breaker.trippedMessage { throw Self.endpointFailing(tripped) }
    await semaphore.acquire()
    defer { Task { await semaphore.release() } }
    var attempts = LLMAttempts()
    let started = ContinuousClock.now
    let body = JSONWriter.bytes(.object(request.body))
    let estimate = request.estimatedPromptTokens + (request.sampling.maxTokens ?? 512)
    var attempt = 0
    var rateLimitedFor = 0.0
    while true {
      if let tripped = breaker.trippedMessage { throw Self.endpointFailing(tripped) }
      let reservation = try await limiter.acquire(tokens: estimate)
      let outcome = await attemptOnce(request, body: body)
      switch outcome {
      case .success(let response):
        await limiter.settle(reservation, tokens: response.promptTokens + response.completionTokens)
        _ = breaker.attempt(connectionFailed: false, endpoint: baseURL)
        _ = breaker.request(failed: false, endpoint: baseURL)
        attempts.milliseconds = elapsedMilliseconds(since: started)
        return (.success(response), attempts)
      case .failure(let failure, let retryable, let retryAfter):
        if let tripped = breaker.attempt(
          connectionFailed: failure.kind == "connection", error: failure.description,
          endpoint: baseURL)
        {
          throw Self.endpointFailing(tripped)
        }
        // 429 slows the run: it does not use up the retries, only the time allowed for rate limits.
        let rateLimited = failure.kind == "http_429"
        let retriesLeft = rateLimited ? rateLimitedFor < settings.maxRateLimitWait : attempt < settings.maxRetries
        guard retryable, retriesLeft else {
          if !rateLimited, let tripped = breaker.request(failed: true, error: failure.description, endpoint: baseURL) {
            throw Self.endpointFailing(tripped)
          }
          attempts.milliseconds = elapsedMilliseconds(since: started)
          return (.failure(failure), attempts)
        }
        attempts.retries += 1
        let delay: Double
        if rateLimited {
          delay = settings.retryPolicy.delay(
            retry: min(attempts.retries, 16), retryAfter: retryAfter, atLeastBackoff: false)
          rateLimitedFor += delay
        } else {
          attempt += 1
          delay = settings.retryPolicy.delay(retry: attempt, retryAfter: retryAfter)
        }
        logger.debug(
          "retrying after \(failure) in \(String(format: "%.2f", delay)) s (attempt \(attempts.retries + 1))")
        try await Task.sleep(for: .milliseconds(Int64(delay * 1000)))
      }
    }
  }

  /// llama-server's `POST /apply-template` (beside `/v1`): the prompt its chat
  /// template makes of `messages`. Nil when the server has no such route.
  public func applyChatTemplate(_ messages: [ChatMessage]) async throws -> String? {
    let root = baseURL.hasSuffix("/v1") ? String(baseURL.dropLast(3)) : baseURL
    var request = HTTPClientRequest(url: root + "/apply-template")
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
    let body: JSONObject = [
      "messages": .array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) })
    ]
    request.body = .bytes(ByteBuffer(bytes: JSONWriter.bytes(.object(body))))
    let timeout = settings.timeout
    let prepared = request
    let (status, bytes) = try await withDeadline(seconds: timeout) { [http] in
      let response = try await http.execute(prepared, timeout: .milliseconds(Int64(timeout * 1000)))
      let buffer = try await response.body.collect(upTo: 16 << 20)
      return (response.status.code, [UInt8](buffer: buffer))
    }
    guard status == 200, let object = (try? JSONParser.parse(bytes))?.objectValue else { return nil }
    return object["prompt"]?.stringValue
  }

  enum Attempt {
    case success(LLMResponse)
    case failure(LLMFailure, retryable: Bool, retryAfter: Double?)
  }

  private func attemptOnce(_ request: LLMRequest, body: [UInt8]) async -> Attempt {
    let path = request.endpoint.path
    var http1 = HTTPClientRequest(url: baseURL + path)
    http1.method = .POST
    http1.headers.add(name: "Content-Type", value: "application/json")
    http1.headers.add(name: "Accept", value: "application/json")
    if let apiKey { http1.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
    http1.body = .bytes(ByteBuffer(bytes: body))
    let timeout = settings.timeout
    let prepared = http1
    do {
      let (status, headers, bytes) = try await withDeadline(seconds: timeout) { [http] in
        let response = try await http.execute(prepared, timeout: .milliseconds(Int64(timeout * 1000)))
        let buffer = try await response.body.collect(upTo: 64 << 20)
        return (response.status, response.headers, [UInt8](buffer: buffer))
      }
      return classify(status: status, headers: headers, bytes: bytes, request: request)
    } catch is DeadlineExceeded {
      return .failure(
        LLMFailure(kind: "timeout", message: "no complete reply within \(timeout) s"), retryable: true, retryAfter: nil)
    } catch let error as HTTPClientError {
      switch error {
      case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout:
        return .failure(LLMFailure(kind: "timeout", message: "\(error)"), retryable: true, retryAfter: nil)
      default:
        return .failure(LLMFailure(kind: "connection", message: "\(error)"), retryable: true, retryAfter: nil)
      }
    } catch {
      return .failure(LLMFailure(kind: "connection", message: "\(error)"), retryable: true, retryAfter: nil)
    }
  }

  func classify(status: HTTPResponseStatus, headers: HTTPHeaders, bytes: [UInt8], request: LLMRequest)
    -> Attempt
  {
    let code = Int(status.code)
    guard code == 200 else {
      let snippet = String(decoding: bytes.prefix(300), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
      let failure = LLMFailure(kind: "http_\(code)", message: "HTTP \(code) from \(baseURL): \(snippet)")
      let retryable = code == 429 || code == 408 || code >= 500
      return .failure(
        failure, retryable: retryable, retryAfter: headers.first(name: "Retry-After").flatMap(Self.retryAfterSeconds))
    }
    guard let value = try? JSONParser.parse(bytes), let object = value.objectValue else {
      return .failure(
        LLMFailure(kind: "malformed_reply", message: "the reply is not a JSON object (\(bytes.count) bytes)"),
        retryable: true, retryAfter: nil)
    }
    return Self.parse(object, for: request)
  }

  /// A 200 reply's JSON object read as a response (or a malformed reply).
  static func parse(_ object: JSONObject, for request: LLMRequest) -> Attempt {
    if request.endpoint == .embedding { return parseEmbedding(object) }
    guard case .array(let list)? = object["choices"], !list.isEmpty else {
      return .failure(
        LLMFailure(kind: "malformed_reply", message: "the reply has no choices"), retryable: true, retryAfter: nil)
    }
    var choices: [LLMChoice] = []
    for item in list {
      guard let choice = item.objectValue else {
        return .failure(
          LLMFailure(kind: "malformed_reply", message: "a choice is not an object"), retryable: true, retryAfter: nil)
      }
      let text: String?
      // A reasoning parser's trace (vLLM, SGLang, DeepSeek's API, llama-server's
      // --reasoning-format deepseek: `reasoning_content`; some gateways: `reasoning`).
      let reasoning: String?
      switch request.endpoint {
      case .chat:
        let message = choice["message"]?.objectValue
        reasoning = message?["reasoning_content"]?.stringValue ?? message?["reasoning"]?.stringValue
        // A null content is an empty answer; so is none at all beside a trace (thinking cut at the limit).
        text =
          message?["content"]?.stringValue
          ?? (message?["content"] == .null || (message?["content"] == nil && reasoning != nil) ? "" : nil)
      case .completion, .embedding:
        text = choice["text"]?.stringValue
        reasoning = choice["reasoning_content"]?.stringValue ?? choice["reasoning"]?.stringValue
      }
      guard let text else {
        return .failure(
          LLMFailure(kind: "malformed_reply", message: "a choice has no text"), retryable: true, retryAfter: nil)
      }
      choices.append(
        LLMChoice(
          text: text, finishReason: choice["finish_reason"]?.stringValue,
          reasoning: reasoning.flatMap { $0.isEmpty ? nil : $0 }))
    }
    let usage = object["usage"]?.objectValue
    return .success(
      LLMResponse(
        choices: choices, promptTokens: usage?["prompt_tokens"]?.intValue ?? 0,
        completionTokens: usage?["completion_tokens"]?.intValue ?? 0,
        cachedPromptTokens: LLMResponse.cachedTokens(in: object),
        reasoningTokens: LLMResponse.reasoningTokens(in: object)))
  }

  /// An `/embeddings` reply: `data[0].embedding`, a list of numbers.
  static func parseEmbedding(_ object: JSONObject) -> Attempt {
    guard let first = object["data"]?.arrayValue?.first?.objectValue,
      let list = first["embedding"]?.arrayValue, !list.isEmpty
    else {
      return .failure(
        LLMFailure(kind: "malformed_reply", message: "the reply has no data[0].embedding"), retryable: true,
        retryAfter: nil)
    }
    var vector: [Float] = []
    vector.reserveCapacity(list.count)
    for value in list {
      guard let x = value.doubleValue, x.isFinite else {
        return .failure(
          LLMFailure(kind: "malformed_reply", message: "the embedding holds something other than numbers"),
          retryable: true, retryAfter: nil)
      }
      vector.append(Float(x))
    }
    let usage = object["usage"]?.objectValue
    return .success(
      LLMResponse(
        choices: [], promptTokens: usage?["prompt_tokens"]?.intValue ?? 0, completionTokens: 0, embedding: vector))
  }

  /// A 200 reply body (from a batch's output file) read as an online reply would be.
  static func reply(_ object: JSONObject, for request: LLMRequest) -> Result<LLMResponse, LLMFailure> {
    switch parse(object, for: request) {
    case .success(let response): return .success(response)
    case .failure(let failure, _, _): return .failure(failure)
    }
  }

  /// `Retry-After` as seconds: a number, or an HTTP date.
  static func retryAfterSeconds(_ value: String) -> Double? {
    let trimmed = value.trimmingCharacters(in: .whitespaces)
    if let seconds = Double(trimmed) { return max(0, seconds) }
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
    guard let date = formatter.date(from: trimmed) else { return nil }
    return max(0, date.timeIntervalSinceNow)
  }
}

struct DeadlineExceeded: Error {}

/// Runs `body`, cancelling it after `seconds`. AHC's own deadline stops at the
/// response head; this one covers the whole body too.
func withDeadline<T: Sendable>(seconds: Double, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
  try await withThrowingTaskGroup(of: T?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
      return nil
    }
    defer { group.cancelAll() }
    guard let first = try await group.next() else { throw DeadlineExceeded() }
    guard let value = first else { throw DeadlineExceeded() }
    return value
  }
}

func elapsedMilliseconds(since start: ContinuousClock.Instant) -> Double {
  let d = ContinuousClock.now - start
  return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}
