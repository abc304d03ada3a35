import InstillCore
import InstillLLM

/// A stage that calls the LLM. The runner starts the embedded server for it, and
/// `instill validate --explain` shows its effective endpoint, model and sampling.
public protocol LLMStage: Stage {
  var llm: StageLLM { get }
}

extension LLMStage {
  public var usesLLM: Bool { true }
}

/// What every LLM stage reads from its pipeline entry — `endpoint` (`chat` or
/// `completion`), `model` and `sampling` — on top of the method's own decoding.
///
/// Sampling precedence, per key, highest first:
/// 1. the stage's `sampling:` mapping in the pipeline;
/// 2. the method's decoding (e.g. classification is greedy with `max_tokens: 3`);
/// 3. the pipeline's `llm.sampling`;
/// 4. the server's own defaults (the key is not sent).
/// Method decoding wins over `llm.sampling` so that a pipeline-wide setting such
/// as `temperature: 1` cannot silently make a greedy step sample; a stage that
/// really wants otherwise says so in its own `sampling:`.
public struct StageLLM: Sendable {
  public var endpoint = LLMRequest.Endpoint.chat
  /// True when the stage entry names its `endpoint`.
  public var endpointIsSet = false
  /// The stage's `llm`: one of the pipeline's named `endpoints`; nil uses the pipeline's `llm`.
  public var endpointName: String?
  /// The stage's `model`; nil uses the pipeline's `llm.model` (or the local default).
  public var model: String?
  /// `cascade: [cheap, …, strong]`: endpoint names (`llm` is the pipeline's own),
  /// cheapest first; a record goes on to the next when the stage rejects a
  /// tier's reply. Empty without a cascade.
  public var cascade: [String] = []
  /// `batch: true|false`: through the endpoint's batch API or not; nil follows the endpoint's `batch`.
  public var batch: Bool?
  /// `reasoning: drop|keep`: whether a thinking model's traces go into the records; nil follows the endpoint's.
  public var reasoning: ReasoningMode?
  /// The method's decoding.
  public var methodSampling: Sampling
  /// The stage's `sampling:` mapping.
  public var stageSampling = Sampling()
  /// The stage's `extra_body`: server-specific request fields, over the pipeline's.
  public var extraBody: JSONObject = [:]
  /// Keys the method sets per request rather than once, with the precedence of
  /// the method's decoding (e.g. `max_tokens` chosen per task). Shown by `--explain`.
  public var perRequest: [String: String] = [:]
  /// Keys the method sets per request only when no layer sets them (e.g. a
  /// sampling `seed` drawn per prompt from the pipeline seed). Shown by `--explain`.
  public var perRequestFallback: [String: String] = [:]

  /// - Parameter seedDrawnPer: what a method that draws request seeds itself
  ///   draws them per (`"prompt"`, `"record and round"`), for `--explain`.
  public init(sampling: Sampling = Sampling(), perRequest: [String: String] = [:], seedDrawnPer: String? = nil) {
    methodSampling = sampling
    self.perRequest = perRequest
    if let seedDrawnPer { perRequestFallback["seed"] = "drawn per \(seedDrawnPer) from the pipeline seed" }
  }

  /// What `--explain` says of the seed the kit gives a sampled request that has none.
  public static let kitSeed = "drawn per record and request from the pipeline seed (sampled requests)"

  /// The method's decoding overridden by the stage's `sampling:`.
  public var sampling: Sampling { methodSampling.overridden(by: stageSampling) }

  /// Reads `endpoint`, `model` and `sampling` from a stage entry.
  public mutating func parse(_ params: ConfigMap) throws(InstillError) {
    endpointName = try params.optionalString("llm")
    endpoint =
      LLMRequest.Endpoint(
        rawValue: try params.choice("endpoint", ["chat", "completion"], default: "chat")) ?? .chat
    endpointIsSet = params.has("endpoint")
    model = try params.optionalString("model")
    if let node = params.node("cascade") {
      let tiers = try params.stringList("cascade") ?? []
      guard tiers.count >= 2, Set(tiers).count == tiers.count else {
        throw node.error(
          "cascade is a list of at least two distinct endpoint names, cheapest first ('llm' is the pipeline's own)")
      }
      if params.has("llm") { throw node.error("give either llm or cascade: a cascade names its endpoints") }
      if params.has("model") {
        throw node.error("each cascade tier asks its endpoint's model; set model in the endpoints, not the stage")
      }
      cascade = tiers
    }
    if let node = params.node("batch") { batch = try node.bool() }
    if params.has("reasoning") { reasoning = try params.choice("reasoning", default: ReasoningMode.drop) }
    if let map = try params.map("sampling") {
      stageSampling = try Sampling.parse(map)
      try map.finish()
    }
    if let extra = params.node("extra_body") {
      guard case .object(let object) = try extra.json() else {
        throw extra.error("expected a mapping of request fields")
      }
      extraBody = object
    }
  }

  /// The model, sampling and extra request fields for a session: the endpoint's
  /// defaults, then the method's, then the stage's.
  public func resolved(for session: LLMSession) -> (model: String, sampling: Sampling, extraBody: JSONObject) {
    var extra = session.backend.defaultExtraBody
    for (key, value) in extraBody { extra[key] = value }
    return (model ?? session.defaultModel, session.backend.defaultSampling.overridden(by: sampling), extra)
  }

  /// True when the stage keeps traces on this session's endpoint: its own `reasoning`, else the endpoint's.
  public func keepsReasoning(on session: LLMSession) -> Bool {
    (reasoning ?? session.backend.reasoning.mode) == .keep
  }

  /// The prompt as a chat or a completion request, as the stage's `endpoint` says.
  public func request(
    _ prompt: FewShotPrompt, model: String, sampling: Sampling, extraBody: JSONObject = [:],
    draw: Int = 0
  ) -> LLMRequest {
    endpoint == .chat
      ? .chat(prompt.messages, model: model, sampling: sampling, draw: draw, extraBody: extraBody)
      : .completion(prompt.text, model: model, sampling: sampling, draw: draw, extraBody: extraBody)
  }

  /// One line of `--explain`: a setting, its effective value and where it came from.
  public struct Explained: Sendable, Equatable {
    public var key: String
    public var value: String
    public var source: String
  }

  /// Every setting of this stage's requests with its source, given the
  /// pipeline's `llm.model` / default model and `llm.sampling`.
  ///
  /// `section` names where the pipeline-level values come from (`llm`, or `endpoints.NAME`).
  public func explain(
    defaultModel: String, modelSource: String, pipelineSampling: Sampling,
    pipelineExtraBody: JSONObject = [:], section: String = "llm"
  ) -> [Explained] {
    var lines = [Explained(key: "endpoint", value: endpoint.rawValue, source: endpointIsSet ? "stage" : "default")]
    lines.append(
      model.map { Explained(key: "model", value: $0, source: "stage") }
        ?? Explained(key: "model", value: defaultModel, source: modelSource))
    let layers: [(String, [String: String])] = [
      ("stage sampling", stageSampling.fieldTexts), ("method", methodSampling.fieldTexts),
      ("method, per request", perRequest), ("\(section).sampling", pipelineSampling.fieldTexts),
      ("method, per request", perRequestFallback.merging(["seed": Self.kitSeed]) { method, _ in method }),
    ]
    for key in Sampling.keys {
      let found = layers.first { $0.1[key] != nil }
      lines.append(Explained(key: key, value: found?.1[key] ?? "not sent", source: found?.0 ?? "server default"))
    }
    var extraKeys = pipelineExtraBody.map(\.key)
    for (key, _) in extraBody where !extraKeys.contains(key) { extraKeys.append(key) }
    for key in extraKeys {
      let (value, source) =
        extraBody[key].map { ($0, "stage extra_body") }
        ?? (pipelineExtraBody[key].map { ($0, "\(section).extra_body") })!
      lines.append(Explained(key: key, value: JSONWriter.string(value), source: source))
    }
    return lines
  }
}

extension Record {
  /// The field that holds the trace of the reply `field` came from: `output` → `output_reasoning`.
  public static func reasoningField(for field: String) -> String { field + "_reasoning" }

  /// The key of an assistant turn's trace in a record's `conversation` (the name chat templates read).
  public static let turnReasoningKey = "reasoning_content"

  /// Puts `trace` beside `field` (as `FIELD_reasoning`) when the stage keeps
  /// traces and the reply thought; otherwise leaves the record as it is.
  public mutating func keepReasoning(_ trace: String?, for field: String, _ keep: Bool) {
    guard keep, let trace, !trace.isEmpty else { return }
    self[Self.reasoningField(for: field)] = .string(trace)
  }
}
