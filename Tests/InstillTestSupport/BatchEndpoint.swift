import Foundation
import InstillCore
import Synchronization

/// A scripted endpoint that speaks the OpenAI files and batches API as
/// documented (upload with purpose `batch`, create, status from `validating`
/// through `in_progress` to `completed`, output and error files, expiry), and
/// answers online requests too. Replies are a deterministic function of the
/// request (`FakeModel.reply`), so a batched run and an online run get the same ones.
public final class BatchEndpoint: Sendable {
  public struct State: Sendable {
    /// Uploaded files by id, and the custom ids each upload held.
    public var files: [String: [UInt8]] = [:]
    public var uploads: [[String]] = []
    public var uploadIDs: [String: [String]] = [:]
    /// Batches by id: input file, status, polls so far, output and error file ids.
    public var batches: [String: Batch] = [:]
    public var batchOrder: [String] = []
    /// Online requests answered (bodies' prompt texts).
    public var online: [String] = []
    /// While true, batches stay `in_progress`.
    public var hold = false
    /// The first batch expires after answering only its first `expireAfter` requests.
    public var expireFirstAfter: Int?
    /// Requests whose prompt contains this text fail inside the batch (an error-file line).
    public var failInBatch: String?
    public var polls: [String: Int] = [:]
  }
  public struct Batch: Sendable {
    public var input: String
    public var status: String
    public var output: String?
    public var errors: String?
  }

  final class Shared: Sendable {
    let state = Mutex(State())
  }

  public let server: TestHTTPServer
  let shared = Shared()
  public var baseURL: String { server.baseURL }

  public init() throws {
    let shared = self.shared
    server = try TestHTTPServer { method, uri, body in
      Self.handle(method, uri, body, shared)
    }
  }

  public func stop() { server.stop() }
  public func update(_ body: (inout State) -> Void) { shared.state.withLock { body(&$0) } }
  public var snapshot: State { shared.state.withLock { $0 } }

  static func json(_ object: JSONObject, status: Int = 200) -> TestHTTPServer.Reply {
    .respond(status: status, headers: [("Content-Type", "application/json")], body: JSONWriter.bytes(.object(object)))
  }

  static func handle(_ method: String, _ uri: String, _ body: [UInt8], _ shared: Shared) -> TestHTTPServer.Reply {
    let state = shared
    if method == "POST", uri.hasSuffix("/chat/completions") || uri.hasSuffix("/completions") {
      let text = FakeModel.promptText(body)?.text ?? ""
      state.state.withLock { $0.online.append(text) }
      return .respond(status: 200, headers: [], body: FakeModel.reply(to: body))
    }
    if method == "POST", uri.hasSuffix("/v1/files") {
      guard let content = multipartFile(body) else { return json(["error": .string("no file part")], status: 400) }
      let ids = content.split(separator: 0x0A).compactMap {
        (try? JSONParser.parse(Array($0)))?.objectValue?["custom_id"]?.stringValue
      }
      let id = state.state.withLock { s in
        let id = "file-\(s.files.count + 1)"
        s.files[id] = content
        s.uploads.append(ids)
        s.uploadIDs[id] = ids
        return id
      }
      return json(["id": .string(id), "object": .string("file"), "purpose": .string("batch")])
    }
    if method == "POST", uri.hasSuffix("/v1/batches") {
      guard let o = (try? JSONParser.parse(body))?.objectValue, let input = o["input_file_id"]?.stringValue,
        o["completion_window"]?.stringValue != nil, o["endpoint"]?.stringValue != nil
      else { return json(["error": .string("bad batch")], status: 400) }
      let id = state.state.withLock { s in
        let id = "batch-\(s.batches.count + 1)"
        s.batches[id] = Batch(input: input, status: "validating")
        s.batchOrder.append(id)
        return id
      }
      return json(["id": .string(id), "object": .string("batch"), "status": .string("validating")])
    }
    if method == "GET", let range = uri.range(of: "/v1/batches/") {
      let id = String(uri[range.upperBound...])
      let batch: Batch? = state.state.withLock { s in
        guard var b = s.batches[id] else { return nil }
        s.polls[id, default: 0] += 1
        switch b.status {
        case "validating": b.status = "in_progress"
        case "in_progress" where !s.hold: finishBatch(id, &b, &s)
        default: break
        }
        s.batches[id] = b
        return b
      }
      guard let batch else { return json(["error": .string("no such batch")], status: 404) }
      var object: JSONObject = ["id": .string(id), "object": .string("batch"), "status": .string(batch.status)]
      if let output = batch.output { object["output_file_id"] = .string(output) }
      if let errors = batch.errors { object["error_file_id"] = .string(errors) }
      return json(object)
    }
    if method == "GET", let range = uri.range(of: "/v1/files/"), uri.hasSuffix("/content") {
      let id = String(uri[range.upperBound...].dropLast("/content".count))
      guard let bytes = state.state.withLock({ $0.files[id] }) else {
        return json(["error": .string("no file")], status: 404)
      }
      return .respond(status: 200, headers: [], body: bytes)
    }
    return json(["error": .string("not found: \(method) \(uri)")], status: 404)
  }

  /// Answers a batch's requests into an output file (and an error file), or expires it part-way.
  static func finishBatch(_ id: String, _ batch: inout Batch, _ s: inout State) {
    let lines = (s.files[batch.input] ?? []).split(separator: 0x0A).compactMap {
      (try? JSONParser.parse(Array($0)))?.objectValue
    }
    var output: [UInt8] = []
    var errors: [UInt8] = []
    let limit = s.batchOrder.first == id ? s.expireFirstAfter : nil
    for (i, line) in lines.enumerated() {
      if let limit, i >= limit { break }
      guard let key = line["custom_id"]?.stringValue, case .object(let request)? = line["body"] else { continue }
      let requestBytes = JSONWriter.bytes(.object(request))
      if let fail = s.failInBatch, FakeModel.promptText(requestBytes)?.text.contains(fail) == true {
        errors +=
          JSONWriter.bytes(
            .object([
              "id": .string("line-\(i)"), "custom_id": .string(key),
              "response": .object(["status_code": .int(500), "body": .object(["error": .string("server error")])]),
              "error": .object(["code": .string("server_error"), "message": .string("the request failed")]),
            ])) + [0x0A]
        continue
      }
      let reply = (try? JSONParser.parse(FakeModel.reply(to: requestBytes)))?.objectValue ?? [:]
      output +=
        JSONWriter.bytes(
          .object([
            "id": .string("line-\(i)"), "custom_id": .string(key),
            "response": .object(["status_code": .int(200), "request_id": .string("req-\(i)"), "body": .object(reply)]),
            "error": .null,
          ])) + [0x0A]
    }
    let outputID = "file-\(s.files.count + 1)"
    s.files[outputID] = output
    batch.output = outputID
    if !errors.isEmpty {
      let errorID = "file-\(s.files.count + 1)"
      s.files[errorID] = errors
      batch.errors = errorID
    }
    batch.status = limit == nil ? "completed" : "expired"
  }

  /// The content of the `file` part of a multipart/form-data body.
  static func multipartFile(_ body: [UInt8]) -> [UInt8]? {
    let text = String(decoding: body, as: UTF8.self)
    guard let boundaryLine = text.split(separator: "\r\n", maxSplits: 1).first,
      let part = text.range(of: "name=\"file\""),
      let start = text.range(of: "\r\n\r\n", range: part.upperBound..<text.endIndex),
      let end = text.range(of: "\r\n" + boundaryLine, range: start.upperBound..<text.endIndex),
      text.contains("name=\"purpose\"\r\n\r\nbatch")
    else { return nil }
    return Array(text[start.upperBound..<end.lowerBound].utf8)
  }
}
