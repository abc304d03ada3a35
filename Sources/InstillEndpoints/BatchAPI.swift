import AsyncHTTPClient
import Foundation
import InstillCore
import InstillLLM
import NIOCore
import NIOHTTP1
import Synchronization

/// The OpenAI-compatible batch API: a shard's requests become one batch input
/// file (`custom_id` = the journal key), uploaded to `/v1/files`; the batch is
/// created at `/v1/batches` and recorded beside the shard's journal before
/// anything else; its status is polled with backoff, and the output and error
/// files are read back, each reply answered as if it had come on its own (the
/// session journals it).
/// What runs batches: the batch API of an endpoint, or a local command.
protocol BatchService: Sendable {
  var batchSettings: BatchSettings { get }
  /// The batches of each shard (by journal path).
  var batchShards: Mutex<[String: ShardBatches]> { get }
  /// Starts a batch of `lines` (requests of one kind, for URL `url`); returns
  /// its id, its first status and its input file. The caller records it.
  func startBatch(_ lines: [UInt8], url: String, besideJournal journal: String) async throws
    -> (id: String, status: String, input: String)
  /// The batch's status; once it has ended, the contents of its output and error files.
  func checkBatch(_ id: String, besideJournal journal: String) async throws -> (status: String, files: [[UInt8]])
  /// A reply body of the batch output, read as an online reply would be.
  func batchReply(status: Int, body: JSONObject, for request: LLMRequest) -> Result<LLMResponse, LLMFailure>
  /// Sends a request online (`retry: online`).
  func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
}

extension BatchService {
  func answerInBatch(_ request: LLMRequest, key: String, journalPath: String, control: RunControl) async throws
    -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
  {
    let started = ContinuousClock.now
    let shard = batchShards.withLock { shards in
      if let found = shards[journalPath] { return found }
      let created = ShardBatches(service: self, journalPath: journalPath, control: control)
      shards[journalPath] = created
      return created
    }
    let result = try await shard.answer(request, key: key)
    var attempts = LLMAttempts()
    attempts.milliseconds = elapsedMilliseconds(since: started)
    return (result, attempts)
  }
}

extension OpenAIClient: BatchingBackend, BatchService {
  public var supportsBatches: Bool { true }
  public var batchesByDefault: Bool { settings.batch.enabled }
  public var batchCapacity: Int { settings.batch.maxRequests }
  var batchSettings: BatchSettings { settings.batch }

  public func sendInBatch(_ request: LLMRequest, key: String, journalPath: String, control: RunControl) async throws
    -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
  {
    try await answerInBatch(request, key: key, journalPath: journalPath, control: control)
  }

  func startBatch(_ lines: [UInt8], url: String, besideJournal journal: String) async throws
    -> (id: String, status: String, input: String)
  {
    let file = try await uploadBatchFile(lines, name: "instill-batch.jsonl")
    let batch = try await batchObject(
      "creating a batch", "/batches", method: .POST,
      body: [
        "input_file_id": .string(file), "endpoint": .string(url),
        "completion_window": .string(settings.batch.completionWindow),
      ])
    guard let id = batch["id"]?.stringValue else {
      throw Self.endpointFailing("creating a batch at \(baseURL)/batches: the reply has no id")
    }
    return (id, batch["status"]?.stringValue ?? "validating", file)
  }

  func checkBatch(_ id: String, besideJournal journal: String) async throws -> (status: String, files: [[UInt8]]) {
    let batch = try await batchObject("reading batch \(id)", "/batches/\(id)", method: .GET)
    let status = batch["status"]?.stringValue ?? "unknown"
    guard RecordedBatch.terminal.contains(status) else { return (status, []) }
    var files: [[UInt8]] = []
    for field in ["output_file_id", "error_file_id"] {
      guard let file = batch[field]?.stringValue else { continue }
      files.append(try await batchCall("reading file \(file)", "/files/\(file)/content", method: .GET))
    }
    return (status, files)
  }

  // MARK: HTTP

  func apiRequest(_ path: String, method: HTTPMethod, body: [UInt8]? = nil, contentType: String? = nil)
    async throws -> (status: Int, bytes: [UInt8])
  {
    var request = HTTPClientRequest(url: baseURL + path)
    request.method = method
    if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
    if let apiKey { request.headers.add(name: "Authorization", value: "Bearer \(apiKey)") }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let prepared = request
    let timeout = max(60, settings.timeout)
    return try await withDeadline(seconds: timeout) { [http] in
      let response = try await http.execute(prepared, timeout: .milliseconds(Int64(timeout * 1000)))
      let bytes = try await response.body.collect(upTo: 1 << 30)
      return (Int(response.status.code), [UInt8](buffer: bytes))
    }
  }

  /// A call of the batch API, retried on connection errors, 429 and 5xx; any
  /// other failure means the endpoint cannot do batches (exit 1, state kept).
  func batchCall(_ what: String, _ path: String, method: HTTPMethod, body: [UInt8]? = nil, contentType: String? = nil)
    async throws -> [UInt8]
  {
    var attempt = 0
    while true {
      var failure: String
      do {
        let (status, bytes) = try await apiRequest(path, method: method, body: body, contentType: contentType)
        if status == 200 { return bytes }
        failure = "HTTP \(status): " + String(decoding: bytes.prefix(300), as: UTF8.self)
        if status != 429 && status < 500 {
          throw Self.endpointFailing("\(what) at \(baseURL)\(path) failed: \(failure)")
        }
      } catch let error as InstillError {
        throw error
      } catch {
        failure = "\(error)"
      }
      attempt += 1
      guard attempt <= settings.maxRetries else {
        throw Self.endpointFailing("\(what) at \(baseURL)\(path) failed after \(attempt) attempts: \(failure)")
      }
      try await Task.sleep(for: .milliseconds(Int64(settings.retryPolicy.delay(retry: attempt) * 1000)))
    }
  }

  func batchObject(_ what: String, _ path: String, method: HTTPMethod, body: JSONObject? = nil) async throws
    -> JSONObject
  {
    let bytes = try await batchCall(
      what, path, method: method, body: body.map { JSONWriter.bytes(.object($0)) },
      contentType: body == nil ? nil : "application/json")
    guard let object = (try? JSONParser.parse(bytes))?.objectValue else {
      throw Self.endpointFailing("\(what) at \(baseURL)\(path): the reply is not a JSON object")
    }
    return object
  }

  /// Uploads a batch input file; returns its id.
  func uploadBatchFile(_ lines: [UInt8], name: String) async throws -> String {
    let boundary = "instill-" + SHA256.hex(lines).prefix(24)
    var body: [UInt8] = []
    func add(_ text: String) { body += Array(text.utf8) }
    add("--\(boundary)\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n")
    add("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n")
    add("Content-Type: application/jsonl\r\n\r\n")
    body += lines
    add("\r\n--\(boundary)--\r\n")
    let bytes = try await batchCall(
      "uploading a batch file", "/files", method: .POST, body: body,
      contentType: "multipart/form-data; boundary=\(boundary)")
    guard let id = (try? JSONParser.parse(bytes))?.objectValue?["id"]?.stringValue else {
      throw Self.endpointFailing("uploading a batch file to \(baseURL)/files: the reply has no file id")
    }
    return id
  }

  /// A reply object of the batch output (`response.body`) as the online client reads it.
  func batchReply(status: Int, body: JSONObject, for request: LLMRequest) -> Result<LLMResponse, LLMFailure> {
    Self.reply(body, for: request)
  }

}

/// The batches of one shard: requests wait here until a pause in arrivals
/// (or a full batch) sends them as one batch per endpoint kind; a request
/// whose key is in a recorded batch (a run killed while it was in flight)
/// waits for that batch instead, so nothing is paid for twice.
actor ShardBatches {
  let service: any BatchService
  let recordPath: String
  let control: RunControl
  typealias Reply = Result<LLMResponse, LLMFailure>
  struct Waiter {
    let request: LLMRequest
    let continuation: CheckedContinuation<Reply, any Error>
  }
  /// What a finished batch said of one request.
  enum Outcome {
    /// The reply body of a request answered with 200.
    case body(JSONObject)
    /// The request failed inside the batch (an error line, or a reply other than 200).
    case failed(LLMFailure)
    /// The batch ended without it (expired, cancelled).
    case missing
  }
  /// Requests not yet in a batch, in arrival order.
  var pending: [String] = []
  /// Everyone waiting, by journal key.
  var waiters: [String: [Waiter]] = [:]
  /// Batches that may hold answers: key → batch id, and each batch's keys.
  var recorded: [String: String] = [:]
  var batchKeys: [String: [String]] = [:]
  var polling: Set<String> = []
  /// Outcomes of finished batches for keys nobody waits on yet.
  var settled: [String: Outcome] = [:]
  var retries: [String: Int] = [:]
  var flushTask: Task<Void, Never>?
  var arrivals = 0

  let journalPath: String

  init(service: any BatchService, journalPath: String, control: RunControl) {
    self.service = service
    self.journalPath = journalPath
    self.control = control
    recordPath = RecordedBatch.path(besideJournal: journalPath)
    for batch in RecordedBatch.read(recordPath) {
      batchKeys[batch.id] = batch.keys
      for key in batch.keys { recorded[key] = batch.id }
    }
  }

  func answer(_ request: LLMRequest, key: String) async throws -> Reply {
    try await withCheckedThrowingContinuation { continuation in
      enqueue(Waiter(request: request, continuation: continuation), key: key)
    }
  }

  func enqueue(_ waiter: Waiter, key: String) {
    let first = waiters[key] == nil
    waiters[key, default: []].append(waiter)
    guard first else { return }
    if let outcome = settled.removeValue(forKey: key) { return resolve(key, outcome) }
    if let batch = recorded[key] {
      // Asked before and recorded: poll that batch, never pay again.
      if polling.insert(batch).inserted { Task { await self.poll(batch) } }
      return
    }
    pending.append(key)
    arrivals += 1
    if pending.count >= service.batchSettings.maxRequests {
      flushNow()
    } else {
      scheduleFlush()
    }
  }

  func scheduleFlush() {
    let seen = arrivals
    flushTask?.cancel()
    let pause = service.batchSettings.flushAfter
    flushTask = Task {
      try? await Task.sleep(for: .milliseconds(Int64(pause * 1000)))
      guard !Task.isCancelled else { return }
      self.flushIfQuiet(since: seen)
    }
  }

  func flushIfQuiet(since seen: Int) {
    if arrivals == seen { flushNow() }
  }

  func flushNow() {
    flushTask?.cancel()
    flushTask = nil
    let keys = pending
    pending = []
    guard !keys.isEmpty else { return }
    // One batch per endpoint kind: a batch has one URL.
    for kind in LLMRequest.Endpoint.allCases {
      let group = keys.filter { waiters[$0]?.first?.request.endpoint == kind }
      if !group.isEmpty { Task { await self.submit(group, kind: kind) } }
    }
  }

  func submit(_ keys: [String], kind: LLMRequest.Endpoint) async {
    let path = kind.path
    var lines: [UInt8] = []
    for key in keys {
      guard let request = waiters[key]?.first?.request else { continue }
      let line: JSONObject = [
        "custom_id": .string(key), "method": .string("POST"), "url": .string("/v1" + path),
        "body": .object(request.body),
      ]
      lines += JSONWriter.bytes(.object(line)) + [0x0A]
    }
    do {
      let (id, status, file) = try await service.startBatch(lines, url: "/v1" + path, besideJournal: journalPath)
      // Recorded before anything else: a run killed from here on polls this batch again.
      try RecordedBatch.append(
        [
          "batch_id": .string(id), "input_file_id": .string(file), "keys": .array(keys.map(JSONValue.string)),
          "created_at": .double((Date().timeIntervalSince1970 * 1000).rounded() / 1000),
          "status": .string(status),
        ], to: recordPath)
      batchKeys[id] = keys
      for key in keys { recorded[key] = id }
      polling.insert(id)
      await poll(id)
    } catch {
      fail(keys, error)
    }
  }

  /// Polls a batch until it ends, then settles every request it holds.
  func poll(_ id: String) async {
    var interval = service.batchSettings.pollInterval
    let keys = batchKeys[id] ?? []
    do {
      var files: [[UInt8]]
      while true {
        let (status, contents) = try await service.checkBatch(id, besideJournal: journalPath)
        if RecordedBatch.terminal.contains(status) {
          try RecordedBatch.append(["batch_id": .string(id), "status": .string(status)], to: recordPath)
          files = contents
          break
        }
        if let reason = control.stopRequested { throw StoppedEarly(reason + " while batch \(id) is \(status)") }
        try await Task.sleep(for: .milliseconds(Int64(interval * 1000)))
        interval = min(service.batchSettings.maxPollInterval, interval * 1.5)
        if let reason = control.stopRequested { throw StoppedEarly(reason + " while batch \(id) is \(status)") }
      }
      var outcomes: [String: Outcome] = [:]
      for bytes in files {
        for line in bytes.split(separator: 0x0A) {
          guard let o = (try? JSONParser.parse(Array(line)))?.objectValue, let key = o["custom_id"]?.stringValue
          else { continue }
          let response = o["response"]?.objectValue
          let status = response?["status_code"]?.intValue ?? 0
          if status == 200, let body = response?["body"]?.objectValue {
            outcomes[key] = .body(body)
          } else {
            let error = o["error"]?.objectValue
            outcomes[key] = .failed(
              LLMFailure(
                kind: status > 0 ? "http_\(status)" : "batch_error",
                message: error.map { ($0["code"]?.stringValue ?? "error") + ": " + ($0["message"]?.stringValue ?? "") }
                  ?? "batch \(id): HTTP \(status)"))
          }
        }
      }
      polling.remove(id)
      for key in keys where recorded[key] == id {
        recorded[key] = nil
        resolve(key, outcomes[key] ?? .missing)
      }
      if !pending.isEmpty { flushNow() }
    } catch {
      polling.remove(id)
      fail(keys.filter { recorded[$0] == id }, error)
    }
  }

  /// Answers the waiters of `key` from a batch's outcome, or keeps it for them.
  func resolve(_ key: String, _ outcome: Outcome) {
    guard let request = waiters[key]?.first?.request else {
      settled[key] = outcome
      return
    }
    switch outcome {
    case .body(let body):
      finish(key, service.batchReply(status: 200, body: body, for: request))
    case .failed(let failure):
      let tries = retries[key, default: 0]
      guard tries < service.batchSettings.maxRetries else { return finish(key, .failure(failure)) }
      retries[key] = tries + 1
      if service.batchSettings.retry == .online {
        Task {
          do {
            let (result, _) = try await self.service.send(request)
            self.finish(key, result)
          } catch {
            self.fail([key], error)
          }
        }
      } else {
        pending.append(key)
      }
    case .missing:
      // Only what an expired or cancelled batch left unanswered goes into a new batch.
      let tries = retries[key, default: 0]
      guard tries < service.batchSettings.maxRetries else {
        return finish(key, .failure(LLMFailure(kind: "batch_unanswered", message: "no batch answered it")))
      }
      retries[key] = tries + 1
      pending.append(key)
    }
  }

  func finish(_ key: String, _ reply: Reply) {
    for waiter in waiters.removeValue(forKey: key) ?? [] { waiter.continuation.resume(returning: reply) }
  }

  func fail(_ keys: [String], _ error: any Error) {
    for key in keys {
      for waiter in waiters.removeValue(forKey: key) ?? [] { waiter.continuation.resume(throwing: error) }
    }
  }
}
