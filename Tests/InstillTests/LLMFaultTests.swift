import Foundation
import InstillCore
import InstillTestSupport
import NIOHTTP1
import Synchronization
import Testing

/// The LLM layer against an in-process fake endpoint that injects the faults a
/// real server does not produce on demand.
@Suite(.serialized)
struct LLMFaultTests {
  enum Fault: String, CaseIterable, Sendable {
    case rateLimited, serverError, unavailable, hang, malformed, truncated, reset
  }

  /// A fake endpoint whose first attempt at every 5th prompt (20 %) meets `fault`.
  static func faultyServer(_ fault: Fault?, log: RequestLog, delay: Duration = .zero) throws -> TestHTTPServer {
    let attempts = Mutex<[String: Int]>([:])
    return try TestHTTPServer { _, uri, body in
      guard uri.hasSuffix("/completions") else { return .respond(status: 404, headers: [], body: []) }
      let key = SHA256.hex(body)
      log.add(key)
      if delay > .zero { try? await Task.sleep(for: delay) }
      let attempt = attempts.withLock { a -> Int in
        a[key, default: 0] += 1
        return a[key]!
      }
      let chosen = (UInt8(key.prefix(2), radix: 16) ?? 0) % 5 == 0
      if let fault, chosen, attempt == 1 {
        switch fault {
        case .rateLimited:
          return .respond(status: 429, headers: [("Retry-After", "1")], body: Array("{\"error\":\"slow down\"}".utf8))
        case .serverError: return .respond(status: 500, headers: [], body: Array("{\"error\":\"boom\"}".utf8))
        case .unavailable: return .respond(status: 503, headers: [], body: Array("overloaded".utf8))
        case .hang: return .hang
        case .malformed: return .respond(status: 200, headers: [], body: Array("{\"choices\": [ {\"text\": ".utf8))
        case .truncated: return .truncated(body: Array(FakeModel.reply(to: body).prefix(30)))
        case .reset: return .reset
        }
      }
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
  }

  func referenceDigest(count: Int = 60) async throws -> [String: String] {
    let dir = TempDir()
    let server = try Self.faultyServer(nil, log: RequestLog())
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL, count: count)
    let result = try await instill("run", p, "--run-dir", dir.file("run"))
    #expect(result.status == 0, "\(result.stderr)")
    return treeDigest(dir.file("run") + "/data")
  }

  @Test(arguments: Fault.allCases)
  func faultsOnOneRequestInFiveLeaveTheDatasetUnchanged(fault: Fault) async throws {
    let expected = try await referenceDigest()
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.faultyServer(fault, log: log)
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(fault): \(result.stderr)")
    #expect(treeDigest(run + "/data") == expected, "\(fault) changed the dataset")
    let stats = try await statsJSON(run)
    let llm = stats["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue?["llm"]?.objectValue
    #expect((llm?["retried"]?.intValue ?? 0) > 0, "\(fault): no retry was counted")
    #expect(llm?["requests_sent"]?.intValue == 60)
    #expect(log.count > 60)
  }

  @Test func plainCompletionsEndpointWorks() async throws {
    let dir = TempDir()
    let paths = RequestLog()
    let server = try TestHTTPServer { _, uri, body in
      paths.add(uri)
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL, count: 12, endpoint: "completion")
    let run = dir.file("run")
    try await instill(expect: 0, "run", p, "--run-dir", run)
    // Every request went to /completions with a plain prompt, and each answer is
    // the fake model's reply to that record's question.
    #expect(paths.count == 12)
    #expect(paths.all.allSatisfy { $0.hasSuffix("/v1/completions") }, "\(paths.all)")
    let records = try RecordReader.readAll(path: run + "/data/train-00000-of-00001.jsonl.gz")
    #expect(records.count == 12)
    for record in records {
      let prompt = "Answer briefly. " + record.instruction
      let expected = "Answer " + String(SHA256.hex(prompt).prefix(12)) + " for: " + String(prompt.suffix(40))
      #expect(record.output == expected)
    }
  }

  /// A server on which every 5th request (by content) times out on every
  /// attempt while `outage` is on; the others are answered.
  final class Outage: Sendable {
    let on = Mutex(true)
  }

  static func outageServer(_ outage: Outage, log: RequestLog) throws -> TestHTTPServer {
    try TestHTTPServer { (_: String, uri: String, body: [UInt8]) async -> TestHTTPServer.Reply in
      guard uri.hasSuffix("/completions") else { return .respond(status: 404, headers: [], body: []) }
      let key = SHA256.hex(body)
      log.add(key)
      if outage.on.withLock({ $0 }), Self.failsInOutage(key) { return .hang }
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
  }

  static func failsInOutage(_ key: String) -> Bool { (UInt8(String(key.prefix(2)), radix: 16) ?? 0) % 5 == 0 }

  /// Short timeouts and one retry, so that an outage is quick to sit out.
  static func impatientPipeline(_ dir: TempDir, baseURL: String) -> String {
    let text = String(
      decoding: (try? FileSystem.read(TestPipelines.generate(dir, baseURL: baseURL))) ?? [], as: UTF8.self)
    return dir.write(
      "generate.yaml",
      text.replacingOccurrences(of: "timeout: 3", with: "timeout: 0.5")
        .replacingOccurrences(of: "max_retries: 4", with: "max_retries: 1"))
  }

  @Test func requestsThatTimeOutAfterEveryRetryAreRetriedByTheNextRun() async throws {
    let expected = try await referenceDigest()
    let dir = TempDir()
    let log = RequestLog()
    let outage = Outage()
    let server = try Self.outageServer(outage, log: log)
    defer { server.stop() }
    let p = Self.impatientPipeline(dir, baseURL: server.baseURL)
    let run = dir.file("run")
    let first = try await instill("run", p, "--run-dir", run)
    #expect(first.status == 1, "a timed-out request must leave the run unfinished: \(first.stderr)")
    #expect(first.stderr.contains("Run the same command again"), "\(first.stderr)")
    #expect(!FileSystem.exists(run + "/data"))
    // The answered requests are journaled; the shards that needed the others are unfinished.
    let answered = Set(log.all.filter { !Self.failsInOutage($0) })
    let journaled = journalLineCount(run + "/stages/02-generate/journal")
    #expect(journaled == answered.count)

    outage.on.withLock { $0 = false }
    let sentBefore = log.count
    try await instill(expect: 0, "run", p, "--run-dir", run)
    #expect(treeDigest(run + "/data") == expected, "the dataset differs from a run without the outage")
    let resent = Array(log.all.dropFirst(sentBefore))
    #expect(Set(resent).isDisjoint(with: answered), "a journaled request was sent again")
    #expect(resent.count == 60 - answered.count, "exactly the failed requests are sent again: \(resent.count)")
    let stats = try await stageStats(run, "generate")
    #expect(stats["records_out"]?.intValue == 60)
    #expect((stats["dropped"]?.objectValue?.count ?? 0) == 0)
  }

  @Test func aRequestThatFailsInThreeRunsIsGivenUp() async throws {
    let dir = TempDir()
    let log = RequestLog()
    let outage = Outage()
    let server = try Self.outageServer(outage, log: log)
    defer { server.stop() }
    let p = Self.impatientPipeline(dir, baseURL: server.baseURL)
    let run = dir.file("run")
    try await instill(expect: 1, "run", p, "--run-dir", run)
    try await instill(expect: 1, "run", p, "--run-dir", run)
    try await instill(expect: 0, "run", p, "--run-dir", run)
    let failing = Set(log.all.filter(Self.failsInOutage)).count
    #expect(failing > 3)
    let stats = try await stageStats(run, "generate")
    #expect(stats["dropped"]?.objectValue?["llm_failed:timeout"]?.intValue == failing)
    #expect(stats["counters"]?.objectValue?["requests_given_up"]?.intValue == failing)
    #expect(stats["records_out"]?.intValue == 60 - failing)
  }

  @Test func anEndpointThatRefusesConnectionsStopsTheRunWithExit1NamingIt() async throws {
    let dir = TempDir()
    // A port nobody listens on: bind one, note it, close it.
    let closed = try TestHTTPServer { _, _, _ in .reset }
    let url = closed.baseURL
    closed.stop()
    let p = TestPipelines.generate(dir, baseURL: url)
    let started = ContinuousClock.now
    let result = try await instill(expect: 1, "run", p, "--run-dir", dir.file("run"))
    #expect(result.stderr.contains("the LLM endpoint \(url) is unreachable"), "\(result.stderr)")
    #expect(result.stderr.contains("10 connection attempts in a row"), "\(result.stderr)")
    // 4 requests in flight, retried after 0.05, 0.1, 0.2 s: ten refusals come within a second or two.
    #expect(ContinuousClock.now - started < .seconds(20))
    #expect(!FileSystem.exists(dir.file("run") + "/data"))
  }

  @Test func aServerThatFailsEverythingStopsTheRunWithExit1() async throws {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, _ in
      .respond(status: 500, headers: [], body: Array("{\"error\":\"down for maintenance\"}".utf8))
    }
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL)
    let started = Date()
    let result = try await instill("run", p, "--run-dir", dir.file("run"))
    #expect(result.status == 1, "\(result.stderr)")
    #expect(result.stderr.contains(server.baseURL), "\(result.stderr)")
    #expect(result.stderr.contains("HTTP 500"))
    #expect(result.stderr.contains("down for maintenance"))
    #expect(Date().timeIntervalSince(started) < 60)
    #expect(!FileSystem.exists(dir.file("run") + "/data"))
  }

  @Test func nonRetryableErrorsAreCountedFailuresOfTheirItem() async throws {
    let dir = TempDir()
    // Every 5th prompt is refused with 400; the rest succeed.
    let server = try TestHTTPServer { _, _, body in
      let key = SHA256.hex(body)
      if (UInt8(key.prefix(2), radix: 16) ?? 0) % 5 == 0 {
        return .respond(status: 400, headers: [], body: Array("{\"error\":\"context too long\"}".utf8))
      }
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let stage = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue
    let failed = stage?["llm"]?.objectValue?["failed"]?.objectValue?["http_400"]?.intValue ?? 0
    let dropped = stage?["dropped"]?.objectValue?["llm_failed:http_400"]?.intValue ?? 0
    #expect(failed > 0)
    #expect(failed == dropped)
    #expect(stage?["records_in"]?.intValue == (stage?["records_out"]?.intValue ?? 0) + dropped)
  }

  @Test func theAPIKeyIsUsedButNeverWritten() async throws {
    let marker = "sk-instill-marker-\(UUID().uuidString)"
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, body in
      .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL, extraLLM: "api_key_env: INSTILL_TEST_KEY")
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run, "-v", environment: ["INSTILL_TEST_KEY": marker])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(!result.stdout.contains(marker) && !result.stderr.contains(marker))
    for (file, _) in treeDigest(run) {
      let bytes = try FileSystem.read(run + "/" + file)
      let text = String(decoding: file.hasSuffix(".gz") ? gunzip(run + "/" + file) : bytes, as: UTF8.self)
      #expect(!text.contains(marker), "the key leaked into \(file)")
    }
    // Without the variable the run refuses to start (exit 2) and names the variable, not a value.
    let missing = try await instill("run", p, "--run-dir", dir.file("run2"))
    #expect(missing.status == 2)
    #expect(missing.stderr.contains("INSTILL_TEST_KEY"))
  }

  @Test func theAPIKeyIsSentAsBearerToken() async throws {
    let marker = "sk-bearer-\(UUID().uuidString)"
    let dir = TempDir()
    // The server rejects a missing or wrong key with 401, which is not retried.
    let guardServer = try AuthCheckingServer(expected: "Bearer \(marker)")
    defer { guardServer.server.stop() }
    let p = TestPipelines.generate(
      dir, baseURL: guardServer.server.baseURL, count: 10, extraLLM: "api_key_env: INSTILL_TEST_KEY")
    let ok = try await instill("run", p, "--run-dir", dir.file("ok"), environment: ["INSTILL_TEST_KEY": marker])
    #expect(ok.status == 0, "\(ok.stderr)")
    #expect(guardServer.rejections.count == 0)
    let wrong = try await instill(
      "run", p, "--run-dir", dir.file("wrong"), environment: ["INSTILL_TEST_KEY": "sk-wrong"])
    #expect(wrong.status == 0)
    #expect(guardServer.rejections.count == 10)
    let stage = try await statsJSON(dir.file("wrong"))["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue
    #expect(stage?["dropped"]?.objectValue?["llm_failed:http_401"]?.intValue == 10)
  }

  @Test func maxRequestsStopsWithExit3AndResumeSendsNoJournaledRequestAgain() async throws {
    let expected = try await referenceDigest()
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.faultyServer(nil, log: log)
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL)
    let run = dir.file("run")
    let first = try await instill("run", p, "--run-dir", run, "--max-requests", "25")
    #expect(first.status == 3, "\(first.stderr)")
    #expect(log.count == 25)
    let second = try await instill("run", p, "--run-dir", run)
    #expect(second.status == 0, "\(second.stderr)")
    #expect(log.count == 60, "a journaled request was sent again")
    #expect(Set(log.all).count == 60)
    #expect(treeDigest(run + "/data") == expected)
    let llm = try await statsJSON(run)["stages"]?.arrayValue?[1].objectValue?["stats"]?.objectValue?["llm"]?.objectValue
    #expect(llm?["requests_sent"]?.intValue == 60)
  }

  @Test func killNineMidRunThenResumeGivesTheSameDatasetAndPaysOnlyForLostReplies() async throws {
    let expected = try await referenceDigest()
    let dir = TempDir()
    let log = RequestLog()
    let server = try Self.faultyServer(nil, log: log, delay: .milliseconds(60))
    defer { server.stop() }
    let p = TestPipelines.generate(dir, baseURL: server.baseURL)
    let run = dir.file("run")
    let process = try launchInstill(["run", p, "--run-dir", run, "--quiet"])
    while log.count < 20 { try await Task.sleep(for: .milliseconds(10)) }
    kill(process.processIdentifier, SIGKILL)
    await waitForExit(process)
    let sentBefore = log.count
    let journaled = journalKeys(run + "/stages/02-generate/journal")
    #expect(journaled.count >= 4, "answered requests were journaled")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let sentAfter = Array(log.all.dropFirst(sentBefore))
    // Nothing that was journaled is asked again; only replies lost in flight are.
    let bodyKeysAfter = Set(sentAfter)
    #expect(log.count - sentBefore == 60 - journaled.count)
    #expect(bodyKeysAfter.count == sentAfter.count)
    #expect(treeDigest(run + "/data") == expected)
  }

}

/// A fake endpoint that answers 401 unless the Authorization header is right.
final class AuthCheckingServer: Sendable {
  let server: TestHTTPServer
  let rejections = RequestLog()

  init(expected: String) throws {
    let rejections = self.rejections
    server = try TestHTTPServer(headerCheck: { headers in
      if headers.first(name: "Authorization") == expected { return true }
      rejections.add("401")
      return false
    }) { _, _, body in
      .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
  }
}

func gunzip(_ path: String) -> [UInt8] {
  guard let reader = try? LineReader(path: path) else { return [] }
  var out: [UInt8] = []
  while let line = try? reader.withNextLine({ Array($0) }) {
    out += line + [0x0A]
  }
  return out
}

/// `extra_body`: server-specific fields reach the endpoint and are part of the journal key.
struct ExtraBodyTests {
  @Test func extraFieldsAreSentMergedAndKeyTheJournal() async throws {
    let dir = TempDir()
    let bodies = RequestLog()
    let server = try TestHTTPServer { _, _, body in
      bodies.add(String(decoding: body, as: UTF8.self))
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    defer { server.stop() }
    dir.write("q.jsonl", (0..<6).map { "{\"instruction\":\"Question \($0)?\"}\n" }.joined())
    func pipeline(stageExtra: String, dropTruncated: Bool = false) -> String {
      dir.write(
        "p.yaml",
        """
        name: extra
        llm:
          provider: openai
          base_url: \(server.baseURL)
          model: fake
          extra_body: {top_k: 20, chat_template_kwargs: {enable_thinking: false}, repetition_penalty: 1.1}
        stages:
          - kind: read
            path: q.jsonl
          - kind: generate
            prompt: "{instruction}"
            extra_body: \(stageExtra)
            drop_truncated: \(dropTruncated)
          - kind: export
        """)
    }
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline(stageExtra: "{top_k: 5, min_p: 0.1}"), "--run-dir", run)
    #expect(bodies.count == 6)
    for text in bodies.all {
      let body = try JSONParser.parse(text).objectValue ?? [:]
      #expect(body["top_k"] == .int(5), "the stage's value wins: \(text)")
      #expect(body["min_p"] == .number("0.1"))
      #expect(body["repetition_penalty"] == .number("1.1"))
      #expect(body["chat_template_kwargs"] == .object(["enable_thinking": .bool(false)]))
      #expect(body["model"] == .string("fake"))
    }
    // The stage recomputed with the same fields: every reply comes from the journal.
    let same = pipeline(stageExtra: "{top_k: 5, min_p: 0.1}", dropTruncated: true)
    try await instill(expect: 0, "run", same, "--run-dir", run, "--force-config")
    #expect(bodies.count == 6)
    #expect(try await stageStats(run, "generate")["llm"]?.objectValue?["answered_from_journal"]?.intValue == 6)
    // Changed fields are other requests.
    try await instill(expect: 0, "run", pipeline(stageExtra: "{top_k: 7}"), "--run-dir", run, "--force-config")
    #expect(bodies.count == 12)
    let stats = try await stageStats(run, "generate")
    #expect(stats["llm"]?.objectValue?["answered_from_journal"]?.intValue == 0)
    #expect(stats["llm"]?.objectValue?["requests_sent"]?.intValue == 6)
  }
}
