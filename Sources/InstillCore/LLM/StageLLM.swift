/// What every LLM stage reads from its pipeline entry — `endpoint` (`chat` or
/// `completion`), `model` and `sampling` — on top of the stage's own defaults.
public struct StageLLM: Sendable {
  public var endpoint = LLMRequest.Endpoint.chat
  public var model: String?
  /// The stage's defaults overridden by the pipeline's `sampling`.
  public var sampling: Sampling

  public init(sampling: Sampling = Sampling()) { self.sampling = sampling }

  /// Reads `endpoint`, `model` and `sampling` from a stage entry.
  public mutating func parse(_ params: ConfigMap) throws(InstillError) {
    endpoint = LLMRequest.Endpoint(rawValue: try params.choice("endpoint", ["chat", "completion"], default: "chat")) ?? .chat
    model = try params.optionalString("model")
    if let map = try params.map("sampling") {
      sampling = sampling.overridden(by: try Sampling.parse(map))
      try map.finish()
    }
  }

  /// The model and sampling for a session: the endpoint's defaults, then the
  /// stage's, then the pipeline's.
  public func resolved(for session: LLMSession) -> (model: String, sampling: Sampling) {
    (model ?? session.defaultModel, session.backend.defaultSampling.overridden(by: sampling))
  }

  /// A chat request with `messages`, or a completion request with `prompt`, as configured.
  public func request(chat messages: @autoclosure () -> [ChatMessage], completion prompt: @autoclosure () -> String,
                      model: String, sampling: Sampling) -> LLMRequest {
    endpoint == .chat
      ? .chat(messages(), model: model, sampling: sampling)
      : .completion(prompt(), model: model, sampling: sampling)
  }
}
