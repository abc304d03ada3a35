import InstillCore

/// Sends one round's prompts concurrently (at most the backend's concurrency in
/// flight) and returns the results in prompt order, never arrival order.
func sendRound(_ prompts: [String], session: LLMSession, endpoint: LLMRequest.Endpoint, model: String,
               sampling: Sampling, control: RunControl) async throws -> [Result<LLMResponse, LLMFailure>] {
  var results: [Result<LLMResponse, LLMFailure>] = []
  try await forEachInOrder(prompts, limit: session.backend.maxConcurrency, control: control) { text, _ in
    let request: LLMRequest = endpoint == .chat
      ? .chat([.user(text)], model: model, sampling: sampling)
      : .completion(text, model: model, sampling: sampling)
    return try await session.send(request)
  } consume: { result, _ in results.append(result) }
  return results
}
