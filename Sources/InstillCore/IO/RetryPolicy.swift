import Foundation

/// When to try again after a transient failure, for everything that talks to
/// a server (the LLM client, the URL fetcher): exponential backoff from
/// `baseDelay`, capped at `maxDelay`, with jitter (a random factor in 0.5...1,
/// so that many clients failing together do not retry in step), and a server's
/// `Retry-After` honoured up to `maxRetryAfter`.
public struct RetryPolicy: Sendable {
  /// Further attempts after the first.
  public var maxRetries: Int
  /// Seconds before the first retry; doubled for each further one.
  public var baseDelay: Double
  public var maxDelay: Double
  public var jitter: Bool
  /// The longest `Retry-After` obeyed, in seconds.
  public var maxRetryAfter = 600.0

  public init(maxRetries: Int, baseDelay: Double, maxDelay: Double = .infinity, jitter: Bool = true) {
    self.maxRetries = maxRetries
    self.baseDelay = baseDelay
    self.maxDelay = maxDelay
    self.jitter = jitter
  }

  /// The wait in seconds before retry number `retry` (1 for the first).
  /// A server's `retryAfter` replaces the backoff when `atLeastBackoff` is
  /// false (rate limits: the server knows when the window reopens), else it
  /// only lengthens it.
  public func delay(retry: Int, retryAfter: Double? = nil, atLeastBackoff: Bool = true) -> Double {
    let backoff =
      min(maxDelay, baseDelay * pow(2, Double(min(max(retry, 1), 32) - 1)))
      * (jitter ? Double.random(in: 0.5...1.0) : 1)
    guard let retryAfter else { return backoff }
    return min(max(retryAfter, atLeastBackoff ? backoff : 0.05), maxRetryAfter)
  }
}

/// Runs blocking work (a synchronous libcurl transfer, its retry sleeps) on a
/// thread of its own, so that it never holds one of the few threads of Swift's
/// cooperative pool.
public func onOwnThread<T: Sendable>(_ name: String, _ work: @escaping @Sendable () -> T) async -> T {
  await withCheckedContinuation { continuation in
    let thread = Thread { continuation.resume(returning: work()) }
    thread.name = name
    thread.start()
  }
}
