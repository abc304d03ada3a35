import Foundation
import InstillCore

/// Sampling parameters of an OpenAI-compatible request. Unset values are not sent.
public struct Sampling: Sendable, Hashable {
  public var temperature: Double?
  public var topP: Double?
  public var maxTokens: Int?
  public var stop: [String]?
  public var presencePenalty: Double?
  public var frequencyPenalty: Double?
  public var seed: Int?
  public var n: Int?
  /// Thinking controls: `reasoning_effort` (OpenAI's reasoning models, gpt-oss),
  /// `enable_thinking` (sent as `chat_template_kwargs.enable_thinking`: Qwen3 and
  /// others on vLLM, SGLang, llama-server), `thinking_budget` (sent as vLLM's
  /// `thinking_token_budget` and llama-server's `reasoning_budget_tokens`).
  public var reasoningEffort: String?
  public var enableThinking: Bool?
  public var thinkingBudget: Int?

  public init(
    temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil, stop: [String]? = nil,
    presencePenalty: Double? = nil, frequencyPenalty: Double? = nil, seed: Int? = nil, n: Int? = nil,
    reasoningEffort: String? = nil, enableThinking: Bool? = nil, thinkingBudget: Int? = nil
  ) {
    self.temperature = temperature
    self.topP = topP
    self.maxTokens = maxTokens
    self.stop = stop
    self.presencePenalty = presencePenalty
    self.frequencyPenalty = frequencyPenalty
    self.seed = seed
    self.n = n
    self.reasoningEffort = reasoningEffort
    self.enableThinking = enableThinking
    self.thinkingBudget = thinkingBudget
  }

  public static let keys = [
    "temperature", "top_p", "max_tokens", "stop", "presence_penalty", "frequency_penalty", "seed", "n",
    "reasoning_effort", "enable_thinking", "thinking_budget",
  ]

  /// The values `reasoning_effort` takes.
  public static let reasoningEfforts = ["none", "minimal", "low", "medium", "high"]

  /// `other`'s set values win.
  public func overridden(by other: Sampling) -> Sampling {
    Sampling(
      temperature: other.temperature ?? temperature, topP: other.topP ?? topP, maxTokens: other.maxTokens ?? maxTokens,
      stop: other.stop ?? stop, presencePenalty: other.presencePenalty ?? presencePenalty,
      frequencyPenalty: other.frequencyPenalty ?? frequencyPenalty, seed: other.seed ?? seed, n: other.n ?? n,
      reasoningEffort: other.reasoningEffort ?? reasoningEffort, enableThinking: other.enableThinking ?? enableThinking,
      thinkingBudget: other.thinkingBudget ?? thinkingBudget)
  }

  /// Reads sampling keys from a mapping (a stage's `sampling:` or the `llm` section's).
  public static func parse(_ map: ConfigMap) throws(InstillError) -> Sampling {
    var stop: [String]?
    if let node = map.node("stop") {
      if case .scalar = node.node { stop = [try node.string()] } else { stop = try map.stringList("stop") }
    }
    var effort: String?
    if map.has("reasoning_effort") { effort = try map.choice("reasoning_effort", reasoningEfforts, default: "medium") }
    return Sampling(
      temperature: try map.optionalDouble("temperature", in: 0...2),
      topP: try map.optionalDouble("top_p", in: 0...1),
      maxTokens: try map.optionalInt("max_tokens", in: 1...1_000_000),
      stop: stop,
      presencePenalty: try map.optionalDouble("presence_penalty", in: -2...2),
      frequencyPenalty: try map.optionalDouble("frequency_penalty", in: -2...2),
      seed: try map.optionalInt("seed"),
      n: try map.optionalInt("n", in: 1...128),
      reasoningEffort: effort,
      enableThinking: map.has("enable_thinking") ? try map.bool("enable_thinking", default: false) : nil,
      thinkingBudget: try map.optionalInt("thinking_budget", in: 0...1_000_000))
  }

  /// The set keys with their values as JSON text (for `instill validate --explain`).
  public var fieldTexts: [String: String] {
    var texts = Dictionary(uniqueKeysWithValues: jsonFields.map { ($0.0, JSONWriter.string($0.1)) })
    if let thinkingBudget {
      texts["thinking_token_budget"] = nil
      texts["reasoning_budget_tokens"] = nil
      texts["thinking_budget"] = String(thinkingBudget)
    }
    if let enableThinking { texts["enable_thinking"] = String(enableThinking) }
    return texts
  }

  /// The top-level body fields (`enable_thinking` goes into `chat_template_kwargs`, see `LLMRequest.body`).
  var jsonFields: [(String, JSONValue)] {
    var out: [(String, JSONValue)] = []
    if let temperature { out.append(("temperature", .double(temperature))) }
    if let topP { out.append(("top_p", .double(topP))) }
    if let maxTokens { out.append(("max_tokens", .int(maxTokens))) }
    if let stop, !stop.isEmpty { out.append(("stop", .array(stop.map(JSONValue.string)))) }
    if let presencePenalty { out.append(("presence_penalty", .double(presencePenalty))) }
    if let frequencyPenalty { out.append(("frequency_penalty", .double(frequencyPenalty))) }
    if let seed { out.append(("seed", .int(seed))) }
    if let n { out.append(("n", .int(n))) }
    if let reasoningEffort { out.append(("reasoning_effort", .string(reasoningEffort))) }
    if let thinkingBudget {
      out.append(("thinking_token_budget", .int(thinkingBudget)))
      out.append(("reasoning_budget_tokens", .int(thinkingBudget)))
    }
    return out
  }
}

/// One chat message.
public struct ChatMessage: Sendable, Hashable {
  public var role: String
  public var content: String
  public init(role: String, content: String) {
    self.role = role
    self.content = content
  }
  public static func system(_ text: String) -> ChatMessage { ChatMessage(role: "system", content: text) }
  public static func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: text) }
  public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: "assistant", content: text) }
}

/// A request to an OpenAI-compatible endpoint: chat completions (instruction
/// models) or plain completions (base models, the original Self-Instruct prompts).
public struct LLMRequest: Sendable, Hashable {
  public enum Endpoint: String, Sendable, CaseIterable {
    case chat, completion
    /// `/embeddings`: `prompt` is the text embedded; no sampling.
    case embedding

    /// The path after the base URL.
    public var path: String {
      switch self {
      case .chat: "/chat/completions"
      case .completion: "/completions"
      case .embedding: "/embeddings"
      }
    }
  }

  public var endpoint: Endpoint
  public var model: String
  public var messages: [ChatMessage]
  public var prompt: String
  public var sampling: Sampling
  /// Tells apart repeated draws of the same prompt (e.g. several samples).
  public var draw: Int
  /// Server-specific fields merged into the body (`extra_body`), e.g. `top_k`,
  /// `min_p`, guided decoding or `chat_template_kwargs`; they replace fields of the
  /// same name.
  public var extraBody: JSONObject = [:]

  public static func chat(
    _ messages: [ChatMessage], model: String, sampling: Sampling, draw: Int = 0,
    extraBody: JSONObject = [:]
  ) -> LLMRequest {
    LLMRequest(
      endpoint: .chat, model: model, messages: messages, prompt: "", sampling: sampling, draw: draw,
      extraBody: extraBody)
  }

  public static func completion(
    _ prompt: String, model: String, sampling: Sampling, draw: Int = 0,
    extraBody: JSONObject = [:]
  ) -> LLMRequest {
    LLMRequest(
      endpoint: .completion, model: model, messages: [], prompt: prompt, sampling: sampling, draw: draw,
      extraBody: extraBody)
  }

  /// An embedding of `text` (OpenAI's `/embeddings`, one input).
  public static func embedding(_ text: String, model: String, extraBody: JSONObject = [:]) -> LLMRequest {
    LLMRequest(
      endpoint: .embedding, model: model, messages: [], prompt: text, sampling: Sampling(), draw: 0,
      extraBody: extraBody)
  }

  /// The JSON body sent to the server.
  public var body: JSONObject {
    var fields: [(String, JSONValue)] = [("model", .string(model))]
    if endpoint == .embedding {
      fields.append(("input", .string(prompt)))
      var body = JSONObject(fields)
      for (key, value) in extraBody { body[key] = value }
      return body
    }
    switch endpoint {
    case .chat:
      fields.append(
        ("messages", .array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) })))
    case .completion, .embedding:
      fields.append(("prompt", .string(prompt)))
    }
    fields += sampling.jsonFields
    fields.append(("stream", .bool(false)))
    var body = JSONObject(fields)
    for (key, value) in extraBody { body[key] = value }
    if let enable = sampling.enableThinking {
      // Beside whatever else extra_body passes to the chat template.
      var kwargs = body["chat_template_kwargs"]?.objectValue ?? [:]
      kwargs["enable_thinking"] = .bool(enable)
      body["chat_template_kwargs"] = .object(kwargs)
    }
    return body
  }

  /// A stable identity over the full content (endpoint kind, model, prompt or
  /// messages, sampling parameters, draw index): the journal's key.
  public var key: String {
    var h = SHA256()
    h.update(endpoint.rawValue)
    h.update([0])
    h.update(JSONWriter.bytes(.object(body)))
    h.update([0])
    h.update(String(draw))
    return h.hexDigest()
  }

  /// A rough token count of the prompt (characters / 4), for TPM budgeting.
  public var estimatedPromptTokens: Int {
    let chars = endpoint == .chat ? messages.reduce(0) { $0 + $1.content.utf8.count + 8 } : prompt.utf8.count
    return max(1, chars / 4)
  }
}

/// One choice of a response.
public struct LLMChoice: Sendable, Hashable {
  public var text: String
  /// `stop`, `length`, … as the server said.
  public var finishReason: String?
  /// The thinking: as received, what the server sent apart (`reasoning_content`
  /// or `reasoning`); once split (`LLMResponse.splittingReasoning`), the whole trace.
  public var reasoning: String?
  public init(text: String, finishReason: String?, reasoning: String? = nil) {
    self.text = text
    self.finishReason = finishReason
    self.reasoning = reasoning
  }
  /// True when the server cut the text at the length limit.
  public var truncated: Bool { finishReason == "length" }
}

/// A successful response.
public struct LLMResponse: Sendable, Hashable {
  public var choices: [LLMChoice]
  public var promptTokens: Int
  public var completionTokens: Int
  /// Prompt tokens the server says it served from its cache
  /// (`usage.prompt_tokens_details.cached_tokens`, or llama-server's
  /// `timings.cache_n`); nil when it said nothing. Never inferred.
  public var cachedPromptTokens: Int?
  /// The vector of an `/embeddings` reply (no choices then), kept as 32-bit floats.
  public var embedding: [Float]?
  /// Completion tokens the server says went to thinking
  /// (`usage.completion_tokens_details.reasoning_tokens`); nil when it said nothing.
  public var reasoningTokens: Int?

  public init(
    choices: [LLMChoice], promptTokens: Int, completionTokens: Int, cachedPromptTokens: Int? = nil,
    embedding: [Float]? = nil, reasoningTokens: Int? = nil
  ) {
    self.choices = choices
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.cachedPromptTokens = cachedPromptTokens
    self.embedding = embedding
    self.reasoningTokens = reasoningTokens
  }

  /// An embedding as journaled: base64 of its little-endian 32-bit floats (exact, and a
  /// third of the size of decimal text).
  static func base64(_ vector: [Float]) -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(vector.count * 4)
    for x in vector {
      let bits = x.bitPattern.littleEndian
      for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift))) }
    }
    return Data(bytes).base64EncodedString()
  }

  static func vector(base64 text: String) -> [Float]? {
    guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
    let bytes = [UInt8](data)
    var vector: [Float] = []
    vector.reserveCapacity(bytes.count / 4)
    var i = 0
    while i < bytes.count {
      var bits = UInt32(bytes[i])
      bits |= UInt32(bytes[i + 1]) << 8
      bits |= UInt32(bytes[i + 2]) << 16
      bits |= UInt32(bytes[i + 3]) << 24
      vector.append(Float(bitPattern: bits))
      i += 4
    }
    return vector
  }

  /// What this response was paid for: one request and its tokens.
  public var paidUsage: ModelUsage {
    ModelUsage(
      requests: 1, promptTokens: promptTokens, cachedPromptTokens: cachedPromptTokens ?? 0,
      completionTokens: completionTokens, reasoningTokens: reasoningTokens ?? 0)
  }

  /// The reasoning tokens a reply's `usage` reports.
  public static func reasoningTokens(in reply: JSONObject) -> Int? {
    reply["usage"]?.objectValue?["completion_tokens_details"]?.objectValue?["reasoning_tokens"]?.intValue
  }

  /// The cached prompt tokens a reply's `usage` (or llama-server's `timings`) reports.
  public static func cachedTokens(in reply: JSONObject) -> Int? {
    reply["usage"]?.objectValue?["prompt_tokens_details"]?.objectValue?["cached_tokens"]?.intValue
      ?? reply["timings"]?.objectValue?["cache_n"]?.intValue
  }

  public var text: String { choices.first?.text ?? "" }
  public var truncated: Bool { choices.first?.truncated ?? false }
  /// The first choice's thinking (after splitting, the whole trace); nil when it did not think.
  public var reasoning: String? { choices.first?.reasoning }

  public var json: JSONObject {
    let list: [JSONValue] = choices.map { c in
      var o: JSONObject = ["text": .string(c.text), "finish_reason": c.finishReason.map(JSONValue.string) ?? .null]
      if let reasoning = c.reasoning { o["reasoning"] = .string(reasoning) }
      return .object(o)
    }
    var json: JSONObject = ["choices": .array(list), "usage": .object(usage)]
    if let embedding { json["embedding"] = .string(Self.base64(embedding)) }
    return json
  }

  var usage: JSONObject {
    var usage: JSONObject = ["prompt_tokens": .int(promptTokens), "completion_tokens": .int(completionTokens)]
    if let cachedPromptTokens { usage["prompt_tokens_details"] = .object(["cached_tokens": .int(cachedPromptTokens)]) }
    if let reasoningTokens {
      usage["completion_tokens_details"] = .object(["reasoning_tokens": .int(reasoningTokens)])
    }
    return usage
  }

  public init?(json: JSONObject) {
    guard case .array(let list)? = json["choices"] else { return nil }
    var choices: [LLMChoice] = []
    for item in list {
      guard let o = item.objectValue, let text = o["text"]?.stringValue else { return nil }
      choices.append(
        LLMChoice(text: text, finishReason: o["finish_reason"]?.stringValue, reasoning: o["reasoning"]?.stringValue))
    }
    var embedding: [Float]?
    if let text = json["embedding"]?.stringValue {
      guard let vector = Self.vector(base64: text) else { return nil }
      embedding = vector
    }
    let usage = json["usage"]?.objectValue
    self.init(
      choices: choices, promptTokens: usage?["prompt_tokens"]?.intValue ?? 0,
      completionTokens: usage?["completion_tokens"]?.intValue ?? 0, cachedPromptTokens: Self.cachedTokens(in: json),
      embedding: embedding, reasoningTokens: Self.reasoningTokens(in: json))
  }
}

/// Why one request finally failed (after retries). The item is dropped and the
/// kind counted; the run goes on.
public struct LLMFailure: Error, Sendable, CustomStringConvertible {
  /// Stable keys for statistics: `http_400`, `http_500`, `timeout`, `connection`,
  /// `malformed_reply`, `empty_reply`, …
  public var kind: String
  public var message: String
  public init(kind: String, message: String) {
    self.kind = kind
    self.message = message
  }
  public var description: String { "\(kind): \(message)" }
}

extension LLMBackend {
  public var defaultExtraBody: JSONObject { [:] }
  public var transientRunLimit: Int { 3 }
  public var reasoning: ReasoningSettings { ReasoningSettings() }
  public func applyChatTemplate(_ messages: [ChatMessage]) async throws -> String? { nil }
}

/// What a backend reports per request, besides the outcome.
public struct LLMAttempts: Sendable {
  public var retries = 0
  public var milliseconds = 0.0
  public init() {}
}

/// An OpenAI-compatible endpoint. Implementations retry transient errors
/// themselves and throw only when the whole endpoint is unusable (which ends the
/// run with exit 1); a single request's final failure is a returned `LLMFailure`.
public protocol LLMBackend: Sendable {
  /// The model name used when a stage names none.
  var defaultModel: String { get }
  /// The `llm` section's sampling defaults; a stage's own `sampling` overrides them.
  var defaultSampling: Sampling { get }
  /// The `llm` section's `extra_body`; a stage's own `extra_body` overrides its keys.
  var defaultExtraBody: JSONObject { get }
  /// How many requests the backend runs at once; stages keep this many in flight.
  var maxConcurrency: Int { get }
  /// After how many separate runs a transiently failing request is given up (a drop).
  var transientRunLimit: Int { get }
  /// How the endpoint's model marks thinking, and whether stages keep it by default.
  var reasoning: ReasoningSettings { get }
  func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
  /// The served model's chat template applied to `messages` (with the prompt for
  /// the assistant's turn), when the server renders it (llama-server's
  /// `/apply-template`); nil when it does not.
  func applyChatTemplate(_ messages: [ChatMessage]) async throws -> String?
}

/// An endpoint that also speaks an OpenAI-compatible batch API (`/v1/files`,
/// `/v1/batches`): a stage's requests are collected, sent as one batch per
/// shard, and answered when the batch is done.
public protocol BatchingBackend: LLMBackend {
  /// False for a wrapper whose endpoint has no batch API.
  var supportsBatches: Bool { get }
  /// `batch: true` in the endpoint's section: its per-record stages batch unless they say `batch: false`.
  var batchesByDefault: Bool { get }
  /// How many requests a batching stage keeps waiting at once (the most a batch holds).
  var batchCapacity: Int { get }
  /// Answers `request` through a batch of the shard whose journal is at
  /// `journalPath`; batches are recorded beside it, so a run killed while one
  /// is in flight polls it again instead of paying twice. Throws
  /// `StoppedEarly` when the run is asked to stop while waiting.
  func sendInBatch(_ request: LLMRequest, key: String, journalPath: String, control: RunControl) async throws
    -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
}
