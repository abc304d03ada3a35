import Foundation
import InstillCore
import InstillLLM
import Synchronization

/// Counts the LLM requests in flight, for the progress display. Wraps the
/// backend the runner hands to stages; it changes nothing else.
final class InFlightBackend: BatchingBackend {
  let inner: any LLMBackend
  private let count = Atomic<Int>(0)

  init(_ inner: any LLMBackend) { self.inner = inner }

  var inFlight: Int { count.load(ordering: .relaxed) }
  var defaultModel: String { inner.defaultModel }
  var defaultSampling: Sampling { inner.defaultSampling }
  var defaultExtraBody: JSONObject { inner.defaultExtraBody }
  var maxConcurrency: Int { inner.maxConcurrency }
  var transientRunLimit: Int { inner.transientRunLimit }
  var reasoning: ReasoningSettings { inner.reasoning }

  func send(_ request: LLMRequest) async throws -> (Result<LLMResponse, LLMFailure>, LLMAttempts) {
    count.add(1, ordering: .relaxed)
    defer { count.subtract(1, ordering: .relaxed) }
    return try await inner.send(request)
  }

  func applyChatTemplate(_ messages: [ChatMessage]) async throws -> String? {
    try await inner.applyChatTemplate(messages)
  }

  private var batching: (any BatchingBackend)? {
    (inner as? any BatchingBackend).flatMap { $0.supportsBatches ? $0 : nil }
  }
  var supportsBatches: Bool { batching != nil }
  var batchesByDefault: Bool { batching?.batchesByDefault ?? false }
  var batchCapacity: Int { batching?.batchCapacity ?? inner.maxConcurrency }

  func sendInBatch(_ request: LLMRequest, key: String, journalPath: String, control: RunControl) async throws
    -> (Result<LLMResponse, LLMFailure>, LLMAttempts)
  {
    guard let batching else { throw InstillError.failure("this endpoint has no batch API") }
    count.add(1, ordering: .relaxed)
    defer { count.subtract(1, ordering: .relaxed) }
    return try await batching.sendInBatch(request, key: key, journalPath: journalPath, control: control)
  }
}

/// The one-line live progress display (when stderr is a terminal): the running
/// stage and shard, records in and out, records per second, requests in
/// flight, and an ETA when the stage's size is known (its input, or a growth
/// stage's target).
struct ProgressLine {
  private var last: (time: Double, recordsIn: Int, recordsOut: Int, stage: String)?
  private var rate = 0.0
  private var outRate = 0.0

  mutating func render(
    report: StatsReport, inputRecords: [String: Int], targets: [String: Int], inFlight: Int,
    now: Double
  ) -> String? {
    guard let name = report.runningStage, let entry = report.stages.first(where: { $0.name == name }) else {
      return nil
    }
    let s = entry.stats
    if let last, last.stage == name, now > last.time {
      let dt = now - last.time
      // Smoothed rates (records per second), so the ETA does not jump with every reply.
      rate =
        rate == 0
        ? Double(s.recordsIn - last.recordsIn) / dt : 0.8 * rate + 0.2 * Double(s.recordsIn - last.recordsIn) / dt
      outRate =
        outRate == 0
        ? Double(s.recordsOut - last.recordsOut) / dt
        : 0.8 * outRate + 0.2 * Double(s.recordsOut - last.recordsOut) / dt
    } else if last?.stage != name {
      rate = 0
      outRate = 0
    }
    last = (now, s.recordsIn, s.recordsOut, name)
    var parts = ["stage \(entry.index) \(name)"]
    if let total = entry.shardsTotal { parts.append("shards \(entry.shardsDone)/\(total)") }
    parts.append("\(s.recordsIn) in → \(s.recordsOut) out")
    parts.append(String(format: "%.1f rec/s", max(0, rate)))
    if s.llm.requestsSent + s.llm.answeredFromJournal > 0 || inFlight > 0 {
      parts.append("\(s.llm.requestsSent) requests, \(inFlight) in flight")
    }
    var remaining: Double?
    if let target = targets[name], outRate > 0 {
      remaining = Double(max(0, target - s.recordsOut)) / outRate
    } else if let total = inputRecords[name], rate > 0 {
      remaining = Double(max(0, total - s.recordsIn)) / rate
    }
    if let remaining { parts.append("ETA " + Self.duration(remaining)) }
    return parts.joined(separator: " · ")
  }

  static func duration(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    if s >= 3600 { return "\(s / 3600)h\(String(format: "%02d", s % 3600 / 60))m" }
    if s >= 60 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
    return "\(s)s"
  }
}
