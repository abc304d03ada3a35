import Foundation
import InstillCore
import InstillTestSupport
import NIOHTTP1
import Synchronization
import Testing

/// Rate limiting over a minute of wall time, against a scripted endpoint.
struct RateLimitTests {
  /// The dataset of a run against a healthy scripted endpoint.
  func referenceDigest(count: Int) async throws -> [String: String] {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, body in .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL, count: count)
    try await instill(expect: 0, "run", p, "--run-dir", dir.file("run"))
    return treeDigest(dir.file("run") + "/data")
  }

  /// Half of all attempts are rate limited (429 with Retry-After) for the first
  /// minute, then the endpoint is healthy. Rate limiting only slows the run: it
  /// completes with the dataset of a run without any 429.
  @Test func aMinuteOfRateLimitingSlowsTheRunButNeverStopsIt() async throws {
    let expected = try await referenceDigest(count: 100)
    let dir = TempDir()
    let started = ContinuousClock.now
    let limited = Mutex(0)
    let attempts = Mutex<[String: Int]>([:])
    let server = try TestHTTPServer { _, _, body in
      let key = SHA256.hex(body)
      let n = attempts.withLock { a -> Int in
        a[key, default: 0] += 1
        return a[key]!
      }
      // Every other attempt of a request, by a fixed rule, while the minute lasts.
      let coin = ((Int(key.prefix(2), radix: 16) ?? 0) + n) % 2 == 0
      if ContinuousClock.now - started < .seconds(60), coin {
        limited.withLock { $0 += 1 }
        return .respond(status: 429, headers: [("Retry-After", "1")], body: Array("{\"error\":\"rate limited\"}".utf8))
      }
      try? await Task.sleep(for: .seconds(2))  // a slow endpoint, so the run spans the limited minute
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL, count: 100)
    let run = dir.file("run")
    try await instill(expect: 0, "run", p, "--run-dir", run)
    #expect(treeDigest(run + "/data") == expected)
    #expect(limited.withLock { $0 } >= 40, "the endpoint rate-limited too little to prove anything")
    #expect(ContinuousClock.now - started > .seconds(60), "the run ended before the rate limiting did")
    let llm = try await stageStats(run, "generate")["llm"]?.objectValue
    #expect(llm?["requests_sent"]?.intValue == 100)
    #expect((llm?["failed"]?.objectValue?.count ?? 0) == 0)
  }
}
