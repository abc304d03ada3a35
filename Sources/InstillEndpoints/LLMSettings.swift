import Foundation
import InstillCore
import InstillLLM

/// The pipeline's `llm` section.
public struct LLMSettings: Sendable {
  public enum Provider: String, Sendable, CaseIterable {
    /// The embedded llama.cpp server with a small local model.
    case local
    /// Any OpenAI-compatible endpoint (OpenAI, vLLM, SGLang, llama-server, Ollama, TGI).
    case openai
    /// No server: a local command answers batch input files (`batch: {command: …}`).
    case command
  }

  public var provider: Provider = .local
  /// e.g. `http://127.0.0.1:8000/v1` (the part before `/chat/completions`).
  public var baseURL: String?
  public var model: String?
  /// Name of the environment variable holding the API key (never the key itself).
  public var apiKeyEnv: String?
  public var maxConcurrency = 4
  public var requestsPerMinute: Int?
  public var tokensPerMinute: Int?
  /// Seconds for one attempt, from sending to the last byte of the reply.
  public var timeout = 120.0
  public var maxRetries = 5
  /// First retry delay in seconds; doubles each retry (with jitter), at most `maxRetryDelay`.
  public var retryBaseDelay = 1.0
  public var maxRetryDelay = 60.0

  /// How failed requests are retried (`max_retries`, `retry_base_delay`, `max_retry_delay`).
  public var retryPolicy: RetryPolicy {
    RetryPolicy(maxRetries: maxRetries, baseDelay: retryBaseDelay, maxDelay: maxRetryDelay)
  }
  /// Seconds one request may spend waiting on 429 replies before it counts as failed
  /// (429 retries do not use up `maxRetries`).
  public var maxRateLimitWait = 900.0
  /// A request that failed transiently (timeouts, 5xx, dropped connections)
  /// after its retries leaves its record for the next run; after failing so in
  /// this many separate runs it is given up and the record dropped.
  public var transientRuns = 3
  /// Defaults for every stage; a stage's `sampling` overrides them.
  public var sampling = Sampling()
  /// Server-specific fields merged into every request body; a stage's `extra_body` overrides its keys.
  public var extraBody: JSONObject = [:]
  /// `local` only: one slot, one request at a time, no prompt cache, a seed per
  /// request from its content, so a fresh rerun gets the same replies.
  public var localReproducible = false
  /// `local` only: threads of llama-server and context tokens per parallel slot.
  public var localThreads: Int?
  public var localContextPerSlot = 2048
  /// `batch`: the endpoint's batch API (provider openai only).
  public var batch = BatchSettings()
  /// `reasoning` and `reasoning_tags`: what a thinking model's trace becomes.
  public var reasoning = ReasoningSettings()

  public init() {}

  public static let keys = [
    "provider", "base_url", "model", "api_key_env", "max_concurrency", "requests_per_minute", "tokens_per_minute",
    "timeout", "max_retries", "retry_base_delay", "max_retry_delay", "max_rate_limit_wait", "transient_runs",
    "extra_body", "sampling", "local", "batch", "reasoning", "reasoning_tags",
  ]

  /// Reads the section; with no section, the embedded local model is used.
  public static func parse(_ node: ConfigNode?) throws(InstillError) -> LLMSettings {
    var s = LLMSettings()
    guard let node else { return s }
    let map = try node.mapping()
    s.baseURL = try map.optionalString("base_url")
    let provider = try map.choice(
      "provider", Provider.allCases.map(\.rawValue), default: s.baseURL == nil ? "local" : "openai")
    s.provider = Provider(rawValue: provider) ?? .local
    if s.provider == .command && s.baseURL != nil {
      throw node.error("provider command runs batch.command; it has no base_url", field: "llm.base_url")
    }
    if s.provider == .openai && s.baseURL == nil {
      throw node.error("provider openai needs a base_url, e.g. http://127.0.0.1:8000/v1", field: "llm.base_url")
    }
    if s.provider == .local && s.baseURL != nil {
      throw node.error("base_url is for provider openai; provider local starts its own server", field: "llm.base_url")
    }
    if let url = s.baseURL {
      guard let normalized = normalizedURL(url) else {
        throw try map.require("base_url").error("must start with http:// or https://")
      }
      s.baseURL = normalized
    }
    s.model = try map.optionalString("model")
    s.apiKeyEnv = try map.optionalString("api_key_env")
    s.maxConcurrency = try map.int("max_concurrency", default: 4, in: 1...1024)
    s.requestsPerMinute = try map.optionalInt("requests_per_minute", in: 1...10_000_000)
    s.tokensPerMinute = try map.optionalInt("tokens_per_minute", in: 1...1_000_000_000)
    s.timeout = try map.double("timeout", default: 120, in: 0.1...86_400)
    s.maxRetries = try map.int("max_retries", default: 5, in: 0...100)
    s.retryBaseDelay = try map.double("retry_base_delay", default: 1, in: 0...3600)
    s.maxRetryDelay = try map.double("max_retry_delay", default: 60, in: 0...3600)
    s.maxRateLimitWait = try map.double("max_rate_limit_wait", default: 900, in: 0...86_400)
    s.transientRuns = try map.int("transient_runs", default: 3, in: 1...1000)
    s.reasoning = try ReasoningSettings.parse(map)
    if let sampling = try map.map("sampling") {
      s.sampling = try Sampling.parse(sampling)
      try sampling.finish()
    }
    if let extra = map.node("extra_body") {
      guard case .object(let object) = try extra.json() else {
        throw extra.error("expected a mapping of request fields")
      }
      s.extraBody = object
    }
    if let node = map.node("batch") {
      s.batch = try BatchSettings.parse(node)
      if s.provider == .local {
        throw node.error("batch is for provider openai (an endpoint with /v1/files and /v1/batches)")
      }
      if s.provider == .openai, s.batch.command != nil {
        throw node.error("batch.command is for provider command (no server)")
      }
    }
    if s.provider == .command {
      guard s.batch.command != nil else {
        throw node.error(
          "provider command needs batch: {command: \"… {input} … {output}\"}, the command that answers a batch file",
          field: "llm.batch")
      }
      s.batch.enabled = true
      s.batch.retry = .batch
    }
    if let local = try map.map("local") {
      s.localThreads = try local.optionalInt("threads", in: 1...256)
      s.localContextPerSlot = try local.int("context_per_slot", default: 2048, in: 256...131_072)
      s.localReproducible = try local.bool("reproducible", default: false)
      try local.finish()
      if s.localReproducible {
        if s.provider != .local { throw try map.require("local").error("reproducible is for provider local") }
        if let set = map.node("max_concurrency"), s.maxConcurrency != 1 {
          throw set.error("local.reproducible runs one request at a time; remove max_concurrency or set it to 1")
        }
        s.maxConcurrency = 1
      }
    }
    try map.finish()
    return s
  }

  /// The settings of the pipeline's named `endpoints` (provider openai only: a
  /// run starts at most one embedded server, the pipeline's `llm`).
  public static func parseEndpoints(_ pipeline: Pipeline) throws(InstillError) -> [(String, LLMSettings)] {
    var out: [(String, LLMSettings)] = []
    for (name, node) in pipeline.endpoints {
      let settings = try parse(node)
      guard settings.provider != .local else {
        throw node.error(
          "endpoint '\(name)' needs a base_url (provider openai); the embedded model is the pipeline's llm",
          field: "endpoints.\(name)")
      }
      out.append((name, settings))
    }
    return out
  }

  /// `instill run --base-url URL --model NAME --api-key-env VAR`: point any
  /// pipeline at an OpenAI-compatible endpoint without editing it. A pipeline
  /// of provider local becomes provider openai (its `local:` settings no longer
  /// apply). The address and the key's variable are in no stage's fingerprint
  /// and in no journal key, so moving the server keeps finished work; the model
  /// is sent in every request and so stays in the journal key (another model's
  /// replies are never taken for this one's), but not in the fingerprint.
  public mutating func override(
    baseURL url: String?, model newModel: String?, apiKeyEnv: String?,
    pipelineFile: String
  ) throws(InstillError) {
    if let url {
      guard let normalized = Self.normalizedURL(url) else {
        throw InstillError.input("--base-url must start with http:// or https:// (got '\(url)')", field: "--base-url")
      }
      if provider == .local {
        guard newModel != nil || model != nil else {
          throw InstillError.input(
            "--base-url on a pipeline of the embedded local model needs --model NAME "
              + "(the model the endpoint serves)", file: pipelineFile, field: "--model")
        }
        provider = .openai
        localReproducible = false
      }
      baseURL = normalized
    } else if provider == .local, newModel != nil || apiKeyEnv != nil {
      throw InstillError.input(
        "--model and --api-key-env go with --base-url for a pipeline of the embedded local model "
          + "(llm.provider: local)", file: pipelineFile, field: newModel != nil ? "--model" : "--api-key-env")
    }
    if let newModel {
      guard !newModel.isEmpty else { throw InstillError.input("--model is empty", field: "--model") }
      model = newModel
    }
    if let apiKeyEnv {
      guard !apiKeyEnv.isEmpty else { throw InstillError.input("--api-key-env is empty", field: "--api-key-env") }
      self.apiKeyEnv = apiKeyEnv
    }
  }

  /// An http(s) endpoint without its trailing slash; nil for anything else.
  static func normalizedURL(_ url: String) -> String? {
    guard url.hasPrefix("http://") || url.hasPrefix("https://") else { return nil }
    return url.hasSuffix("/") ? String(url.dropLast()) : url
  }
}

/// The `batch` key of an `llm` section or a named endpoint: `true`, or a
/// mapping of these settings (which also turns batching on unless `enabled: false`).
public struct BatchSettings: Sendable, Equatable {
  /// Per-record stages on this endpoint batch by default (a stage's `batch:` overrides).
  public var enabled = false
  /// The batch API's `completion_window`.
  public var completionWindow = "24h"
  /// Seconds between status polls at first; the interval grows by half each poll up to `maxPollInterval`.
  public var pollInterval = 30.0
  public var maxPollInterval = 300.0
  /// The most requests in one batch.
  public var maxRequests = 50_000
  /// Seconds without a new request before the collected ones are sent as a batch.
  public var flushAfter = 0.5
  /// What happens to a request that failed inside a batch: sent again `online`, or in the next `batch`.
  public enum Retry: String, Sendable, CaseIterable { case online, batch }
  public var retry = Retry.online
  /// Failed requests are tried again this many times before they count as failed.
  public var maxRetries = 2
  /// Provider `command`: the shell command that answers a batch input file,
  /// with `{input}` and `{output}` replaced by the files' quoted paths.
  public var command: String?

  public init() {}

  public static func parse(_ node: ConfigNode) throws(InstillError) -> BatchSettings {
    var s = BatchSettings()
    if case .scalar = node.node {
      s.enabled = try node.bool()
      return s
    }
    let map = try node.mapping()
    s.enabled = try map.bool("enabled", default: true)
    s.completionWindow = try map.string("completion_window", default: "24h")
    s.pollInterval = try map.double("poll_interval", default: 30, in: 0.01...86_400)
    s.maxPollInterval = try map.double("max_poll_interval", default: max(300, s.pollInterval), in: 0.01...86_400)
    s.maxRequests = try map.int("max_requests", default: 50_000, in: 1...10_000_000)
    s.flushAfter = try map.double("flush_after", default: 0.5, in: 0.01...3600)
    s.retry = try map.choice("retry", default: .online)
    s.maxRetries = try map.int("max_retries", default: 2, in: 0...100)
    if let node = map.node("command") {
      let command = try node.string()
      guard command.contains("{input}") && command.contains("{output}") else {
        throw node.error("the command names the batch input and output files as {input} and {output}")
      }
      s.command = command
    }
    try map.finish()
    return s
  }
}
