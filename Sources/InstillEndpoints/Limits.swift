import Foundation
import Synchronization

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

/// Decides when the endpoint is unusable, so the run stops (exit 1) instead of
/// retrying forever. It judges what matters, not every attempt:
/// - requests that failed after all their retries (or could not be retried):
///   when more than half of the last `size` (at least `minimum`) failed;
/// - connection-level failures (refused, reset, unreachable) with no reply in
///   between: `connectionStreak` of them in a row say the endpoint is down.
/// Rate limiting (429) never trips it: it only slows the run.
final class FailureBreaker: Sendable {
  private struct State {
    var window: [Bool] = []  // true = failed
    var lastError = ""
    var connectionFailures = 0
    var tripped: String?
  }
  private let state = Mutex(State())
  let size: Int
  let minimum: Int
  let connectionStreak: Int

  init(size: Int = 50, minimum: Int = 20, connectionStreak: Int = 10) {
    self.size = size
    self.minimum = minimum
    self.connectionStreak = connectionStreak
  }

  var trippedMessage: String? { state.withLock { $0.tripped } }

  static let advice = "Responses received so far are journaled; fix the endpoint and run again to resume"

  /// Records one attempt's transport outcome; returns the trip message when the
  /// endpoint looks down.
  func attempt(connectionFailed: Bool, error: String = "", endpoint: String) -> String? {
    state.withLock { s in
      guard connectionFailed else {
        s.connectionFailures = 0
        return s.tripped
      }
      s.connectionFailures += 1
      s.lastError = error
      if s.tripped == nil, s.connectionFailures >= connectionStreak {
        s.tripped =
          "the LLM endpoint \(endpoint) is unreachable: \(s.connectionFailures) connection attempts in a row "
          + "failed; last error: \(error). " + Self.advice
      }
      return s.tripped
    }
  }

  /// Records a request's final outcome; returns the trip message when most recent requests failed.
  func request(failed: Bool, error: String = "", endpoint: String) -> String? {
    state.withLock { s in
      s.window.append(failed)
      if s.window.count > size { s.window.removeFirst(s.window.count - size) }
      if failed { s.lastError = error }
      let failures = s.window.filter { $0 }.count
      if s.tripped == nil, s.window.count >= minimum, failures * 2 > s.window.count {
        s.tripped =
          "the LLM endpoint \(endpoint) is failing: \(failures) of the last \(s.window.count) requests failed "
          + "after their retries; last error: \(s.lastError). " + Self.advice
      }
      return s.tripped
    }
  }
}
