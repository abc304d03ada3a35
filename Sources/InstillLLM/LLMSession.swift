import Foundation
import InstillCore

/// A stage's (or shard's) access to the LLM: answers from the journal when it
/// can, otherwise spends one request of the budget, asks the backend, journals
/// the response and counts everything in the stage's statistics.
public final class LLMSession: Sendable {
  public let backend: any LLMBackend
  public let journal: Journal
  public let transientFailures: TransientFailureLog
  let control: RunControl
  let stats: StatsRecorder
  /// Requests go through the endpoint's batch API (a stage's `batch:`, or the endpoint's default).
  public let batched: Bool

  public init(backend: any LLMBackend, journal: Journal, control: RunControl, stats: StatsRecorder) {
    self.backend = backend
    self.journal = journal
    transientFailures = TransientFailureLog(path: TransientFailureLog.path(besideJournal: journal.path))
    self.control = control
    self.stats = stats
    batched = false
  }

  private init(
    backend: any LLMBackend, journal: Journal, transientFailures: TransientFailureLog, control: RunControl,
    stats: StatsRecorder, batched: Bool = false
  ) {
    self.batched = batched
    self.backend = backend
    self.journal = journal
    self.transientFailures = transientFailures
    self.control = control
    self.stats = stats
  }

  /// A session on another endpoint that shares this one's journal (a stage
  /// whose steps go to two endpoints keeps one journal).
  public func on(_ other: any LLMBackend) -> LLMSession {
    LLMSession(
      backend: other, journal: journal, transientFailures: transientFailures, control: control, stats: stats)
  }

  public var defaultModel: String { backend.defaultModel }

  /// This session with batching as the stage says (`batch: true|false`), or
  /// as its endpoint says when the stage says nothing.
  public func batching(_ stageSays: Bool?) throws(InstillError) -> LLMSession {
    let batching = (backend as? any BatchingBackend).flatMap { $0.supportsBatches ? $0 : nil }
    let on = stageSays ?? batching?.batchesByDefault ?? false
    guard on != batched else { return self }
    guard !on || batching != nil else {
      throw InstillError.input(
        "batch needs an OpenAI-compatible endpoint with a batch API (provider openai); this stage's is not one",
        field: "batch")
    }
    return LLMSession(
      backend: backend, journal: journal, transientFailures: transientFailures, control: control, stats: stats,
      batched: on)
  }

  /// How many records a stage works on at once: the endpoint's concurrency, or a whole batch.
  public var concurrency: Int {
    batched ? (backend as? any BatchingBackend)?.batchCapacity ?? backend.maxConcurrency : backend.maxConcurrency
  }

  /// What `--max-cost` assumes a request without `max_tokens` may generate.
  public static let assumedMaxTokens = 4096
  /// The same for a request that asks the model to think (`enable_thinking`, a
  /// `reasoning_effort` other than none): traces run to tens of thousands of tokens.
  public static let assumedThinkingTokens = 32_768

  /// What `--max-cost` reserves for a request's generated tokens, and whether that is the request's own cap.
  static func generatedTokens(_ sampling: Sampling) -> (tokens: Int, capped: Bool) {
    let n = sampling.n ?? 1
    if let maxTokens = sampling.maxTokens { return (maxTokens * n, true) }
    let thinks =
      sampling.enableThinking == true || (sampling.reasoningEffort.map { $0 != "none" } ?? false)
      || sampling.thinkingBudget != nil
    let assumed =
      thinks ? max(assumedThinkingTokens, (sampling.thinkingBudget ?? 0) + assumedMaxTokens) : assumedMaxTokens
    return (assumed * n, false)
  }

  /// The response to `request`, or why it failed. Throws `StoppedEarly` when the
  /// budget is spent or a stop was asked for (before sending), the backend's
  /// error when the endpoint is unusable, and `RequestDeferred` when the request
  /// failed transiently (timeouts, 5xx, …) in fewer than the backend's
  /// `transientRunLimit` separate runs: a later run may well get the reply.
  public func send(_ request: LLMRequest) async throws -> Result<LLMResponse, LLMFailure> {
    let key = request.key
    if let cached = journal.response(for: key) {
      stats.update { $0.llm.answeredFromJournal += 1 }
      return answer(cached)
    }
    let estimate = request.estimatedPromptTokens
    // Usage and prices know batch requests apart: the batch API has its own prices.
    let priced = batched ? request.model + PriceTable.batchSuffix : request.model
    let reserved = try await reserveCost(request, model: priced, promptTokens: estimate)
    let result: Result<LLMResponse, LLMFailure>
    let attempts: LLMAttempts
    do {
      try control.takeRequest()
      if batched, let batching = backend as? any BatchingBackend {
        (result, attempts) = try await batching.sendInBatch(
          request, key: key, journalPath: journal.path, control: control)
      } else {
        (result, attempts) = try await backend.send(request)
      }
    } catch {
      control.settleCost(reserved: reserved, model: priced, estimatedPromptTokens: estimate, usage: nil)
      throw error
    }
    control.settleCost(
      reserved: reserved, model: priced, estimatedPromptTokens: estimate,
      usage: (try? result.get())?.paidUsage)
    stats.update { s in
      s.llm.requestsSent += 1
      s.llm.retried += attempts.retries
      s.llm.recordLatency(milliseconds: attempts.milliseconds)
      switch result {
      case .success(let response):
        s.llm.paid(model: priced, response.paidUsage)
      case .failure(let failure):
        s.llm.failed[failure.kind, default: 0] += 1
      }
    }
    switch result {
    case .success(let response):
      // The journal keeps the reply as received; it is split the same way on every read.
      try journal.append(key: key, response: response)
      return answer(response)
    case .failure(let failure) where failure.isTransient:
      let runs = try transientFailures.record(key: key, kind: failure.kind, run: control.runID)
      if runs < backend.transientRunLimit {
        stats.update { $0.counters["requests_deferred", default: 0] += 1 }
        throw RequestDeferred(kind: failure.kind)
      }
      stats.update { $0.counters["requests_given_up", default: 0] += 1 }
    case .failure: break
    }
    return result
  }

  /// The reply as every stage sees it: thinking moved out of the text into
  /// `reasoning` (see `ReasoningSplit`). A reply whose thinking never closed is
  /// the failure `reasoning_truncated`, never an answer; both are counted.
  func answer(_ response: LLMResponse) -> Result<LLMResponse, LLMFailure> {
    guard response.embedding == nil else { return .success(response) }
    let (split, unclosed) = response.splittingReasoning(tags: backend.reasoning.tags)
    stats.update { s in
      s.llm.read(
        reasoningCharacters: split?.choices.reduce(0) { $0 + ($1.reasoning?.count ?? 0) } ?? 0,
        answerCharacters: split?.choices.reduce(0) { $0 + $1.text.count } ?? 0, unclosed: unclosed)
      if unclosed > 0 { s.counters[LLMFailure.reasoningTruncatedKind, default: 0] += unclosed }
    }
    guard let split else {
      return .failure(
        LLMFailure(
          kind: LLMFailure.reasoningTruncatedKind,
          message: "the reply was cut at its length limit while thinking; it has no answer (raise max_tokens)"))
    }
    return .success(split)
  }

  /// Waits, while requests in flight may leave room under `--max-cost`, until this one fits or the budget is spent.
  private func reserveCost(_ request: LLMRequest, model: String, promptTokens: Int) async throws -> Double {
    let (maxTokens, capped) = Self.generatedTokens(request.sampling)
    while true {
      switch try control.reserveCost(
        model: model, promptTokens: promptTokens, maxTokens: maxTokens, capped: capped)
      {
      case .reserved(let amount): return amount
      case .wait:
        try control.check()
        try await Task.sleep(for: .milliseconds(20))
      }
    }
  }

  public func close() { journal.sync() }
}
