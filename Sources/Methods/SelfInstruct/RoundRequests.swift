import InstillCore

/// Sends one round's prompts concurrently (at most the backend's concurrency in
/// flight) and returns the results in prompt order, never arrival order.
func sendRound(_ prompts: [String], session: LLMSession, llm: StageLLM, control: RunControl)
  async throws -> [Result<LLMResponse, LLMFailure>] {
  let (model, sampling) = llm.resolved(for: session)
  var results: [Result<LLMResponse, LLMFailure>] = []
  try await forEachInOrder(prompts, limit: session.backend.maxConcurrency, control: control) { text, _ in
    try await session.send(llm.request(chat: [.user(text)], completion: text, model: model, sampling: sampling))
  } consume: { result, _ in results.append(result) }
  return results
}
