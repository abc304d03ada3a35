import Foundation

/// A stage's (or shard's) access to the LLM: answers from the journal when it
/// can, otherwise spends one request of the budget, asks the backend, journals
/// the response and counts everything in the stage's statistics.
public final class LLMSession: Sendable {
  public let backend: any LLMBackend
  public let journal: Journal
  let control: RunControl
  let stats: StatsRecorder

  public init(backend: any LLMBackend, journal: Journal, control: RunControl, stats: StatsRecorder) {
    self.backend = backend
    self.journal = journal
    self.control = control
    self.stats = stats
  }

  public var defaultModel: String { backend.defaultModel }

  /// The response to `request`, or why it failed. Throws `StoppedEarly` when the
  /// budget is spent or a stop was asked for (before sending), and the backend's
  /// error when the endpoint is unusable.
  public func send(_ request: LLMRequest) async throws -> Result<LLMResponse, LLMFailure> {
    let key = request.key
    if let cached = journal.response(for: key) {
      stats.update { $0.llm.answeredFromJournal += 1 }
      return .success(cached)
    }
    try control.takeRequest()
    let (result, attempts) = try await backend.send(request)
    stats.update { s in
      s.llm.requestsSent += 1
      s.llm.retried += attempts.retries
      s.llm.recordLatency(milliseconds: attempts.milliseconds)
      switch result {
      case .success(let response):
        s.llm.promptTokens += response.promptTokens
        s.llm.completionTokens += response.completionTokens
      case .failure(let failure):
        s.llm.failed[failure.kind, default: 0] += 1
      }
    }
    if case .success(let response) = result {
      try journal.append(key: key, response: response)
    }
    return result
  }

  public func close() { journal.sync() }
}

extension StageContext {
  /// Opens the LLM session of this shard (journal `journal/shard-NNNNN.jsonl`) or
  /// of this global stage (`journal/stage.jsonl`).
  public func llmSession() throws -> LLMSession {
    guard let backend = llm else {
      throw InstillError.input("stage \(stageName) needs an LLM, but the pipeline has no usable `llm` section")
    }
    let name = shard.map { "shard-\(ShardFiles.pad5($0)).jsonl" } ?? "stage.jsonl"
    let journal = try Journal(path: stageDirectory + "/journal/" + name)
    return LLMSession(backend: backend, journal: journal, control: control, stats: stats)
  }
}

/// Runs `work` over `items` with at most `limit` in flight, and hands results to
/// `consume` in input order (never arrival order), so output is deterministic.
/// On a stop request or a spent budget it sends nothing new, waits for what is in
/// flight (so every paid-for response is journaled) and then throws `StoppedEarly`.
public func forEachInOrder<Item: Sendable, Output: Sendable>(
  _ items: some Sequence<Item>,
  limit: Int,
  control: RunControl,
  work: @escaping @Sendable (Item, Int) async throws -> Output,
  consume: (Output, Int) throws -> Void
) async throws {
  try await withThrowingTaskGroup(of: (Int, Result<Output, any Error>).self) { group in
    var iterator = items.makeIterator()
    var nextIndex = 0
    var nextToConsume = 0
    var done: [Int: Output] = [:]
    var inFlight = 0
    var firstError: (any Error)?

    func launchMore() {
      while inFlight < max(1, limit), firstError == nil, control.stopRequested == nil, let item = iterator.next() {
        let index = nextIndex
        nextIndex += 1
        inFlight += 1
        group.addTask {
          do { return (index, .success(try await work(item, index))) } catch { return (index, .failure(error)) }
        }
      }
    }

    launchMore()
    while inFlight > 0 {
      guard let (index, result) = try await group.next() else { break }
      inFlight -= 1
      switch result {
      case .success(let output):
        done[index] = output
      case .failure(let error):
        // Keep the most serious error: a fatal one over a stop.
        if firstError == nil || (firstError is StoppedEarly && !(error is StoppedEarly)) { firstError = error }
      }
      if firstError == nil {
        while let output = done.removeValue(forKey: nextToConsume) {
          try consume(output, nextToConsume)
          nextToConsume += 1
        }
      }
      launchMore()
    }
    if let firstError { throw firstError }
    if let reason = control.stopRequested, iterator.next() != nil || nextToConsume < nextIndex {
      throw StoppedEarly(reason)
    }
  }
}
