import InstillCore
import InstillLLM

/// One prompt of a round and the sampling seed it is sent with when the stage
/// sets none (drawn from the prompt's own random stream, so a server that honours
/// `seed` gives the same reply on every run).
struct RoundPrompt: Sendable {
  var prompt: FewShotPrompt
  var seed: Int

  init(_ prompt: FewShotPrompt, random: inout SeededRandom) {
    self.prompt = prompt
    seed = random.nextSeed()
  }
}

/// Sends one round's prompts concurrently (at most the backend's concurrency in
/// flight) and returns the results in prompt order, never arrival order.
func sendRound(_ prompts: [RoundPrompt], session: LLMSession, llm: StageLLM, control: RunControl, stageName: String)
  async throws -> [Result<LLMResponse, LLMFailure>]
{
  let (model, sampling, extraBody) = llm.resolved(for: session)
  var results: [Result<LLMResponse, LLMFailure>] = []
  var deferred = RequestsDeferred(stage: stageName, kinds: [:])
  try await forEachInOrder(prompts, limit: session.backend.maxConcurrency, control: control) { prompt, _ in
    var seeded = sampling
    if seeded.seed == nil { seeded.seed = prompt.seed }
    return try await RequestsDeferred.catching {
      try await session.send(llm.request(prompt.prompt, model: model, sampling: seeded, extraBody: extraBody))
    }
  } consume: { result, _ in
    if let reply = deferred.unwrap(result) { results.append(reply) }
  }
  // The next rounds' prompts depend on this round's replies: stop here, the
  // next run replays the round from the journal and retries only what failed.
  if deferred.count > 0 { throw deferred }
  return results
}
