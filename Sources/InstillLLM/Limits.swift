import Foundation

/// A counting semaphore for async code: at most `limit` holders at once, FIFO.
actor AsyncSemaphore {
  private var available: Int
  private var waiters: [CheckedContinuation<Void, Never>] = []

  init(_ limit: Int) { available = max(1, limit) }

  func acquire() async {
    if available > 0 {
      available -= 1
      return
    }
    await withCheckedContinuation { waiters.append($0) }
  }

  func release() {
    if waiters.isEmpty {
      available += 1
    } else {
      waiters.removeFirst().resume()
    }
  }
}

/// Requests-per-minute and tokens-per-minute limits over a sliding 60 s window.
/// A request reserves its estimated tokens (prompt + max_tokens); the estimate is
/// replaced by the real usage when the response arrives.
actor RateLimiter {
  private let rpm: Int?
  private let tpm: Int?
  private var entries: [(id: Int, time: ContinuousClock.Instant, tokens: Int)] = []
  private var nextID = 0
  private let window = Duration.seconds(60)

  init(requestsPerMinute: Int?, tokensPerMinute: Int?) {
    rpm = requestsPerMinute
    tpm = tokensPerMinute
  }

  var isUnlimited: Bool { rpm == nil && tpm == nil }

  /// Waits until one more request of `tokens` fits; returns its reservation id.
  func acquire(tokens: Int) async throws -> Int {
    let tokens = min(tokens, tpm ?? tokens)
    while true {
      let now = ContinuousClock.now
      entries.removeAll { now - $0.time >= window }
      let requestsOK = rpm.map { entries.count < $0 } ?? true
      let tokensOK = tpm.map { entries.reduce(0) { $0 + $1.tokens } + tokens <= $0 } ?? true
      if requestsOK && tokensOK {
        nextID += 1
        entries.append((nextID, now, tokens))
        return nextID
      }
      // Sleep until the oldest entry leaves the window.
      let wait = entries.first.map { window - (now - $0.time) } ?? .milliseconds(50)
      try await Task.sleep(for: max(wait, .milliseconds(5)))
    }
  }

  /// Replaces a reservation's estimate with the tokens really used.
  func settle(_ id: Int, tokens: Int) {
    if let i = entries.firstIndex(where: { $0.id == id }) { entries[i].tokens = tokens }
  }
}

/// Watches the outcome of recent attempts; when most of them failed the
/// endpoint is declared unusable and the run stops (exit 1) instead of
/// retrying forever.
final class FailureBreaker: Sendable {
  private struct State {
    var window: [Bool] = []  // true = failed
    var lastError = ""
    var tripped: String?
  }
  private let state = Mutex(State())
  let size: Int
  let minimum: Int

  init(size: Int = 50, minimum: Int = 20) {
    self.size = size
    self.minimum = minimum
  }

  var trippedMessage: String? { state.withLock { $0.tripped } }

  /// Records an attempt; returns the trip message when this attempt tripped it.
  func record(failed: Bool, error: String = "", endpoint: String) -> String? {
    state.withLock { s in
      s.window.append(failed)
      if s.window.count > size { s.window.removeFirst(s.window.count - size) }
      if failed { s.lastError = error }
      let failures = s.window.filter { $0 }.count
      if s.tripped == nil, s.window.count >= minimum, failures * 2 > s.window.count {
        s.tripped = "the LLM endpoint \(endpoint) is failing: \(failures) of the last \(s.window.count) attempts failed; "
          + "last error: \(s.lastError). Responses received so far are journaled; fix the endpoint and run again to resume"
      }
      return s.tripped
    }
  }
}

import Synchronization
