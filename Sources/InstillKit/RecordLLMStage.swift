import InstillCore
import InstillLLM

/// A map stage that asks the LLM about each record. A method writes two hooks:
///
/// - `work(on:_:)` runs concurrently (up to the endpoint's concurrency, across
///   records) and asks the LLM as many times as the method needs, in sequence
///   (e.g. evolve, then answer, then judge), stopping early when a reply already
///   decides the record;
/// - `finish(_:_:_:)` runs in input order and turns that work into output
///   records, drops and counts through a `RecordSink`.
///
/// The kit owns the rest: the journaled session, model and sampling resolution,
/// bounded in-order concurrency, reading input (a bad input line throws), the
/// records in / out and `llm_failed:KIND` counts, and `usesLLM`. Stages with a
/// single request per record adopt `OneRequestStage` and write `request` and
/// `handle` instead.
public protocol RecordLLMStage: MapStage, LLMStage {
  associatedtype Work: Sendable
  /// Filters the stage reports, declared up front so they appear in order.
  var filterNames: [String] { get }
  /// Asks the LLM about one record. Only asks; every count and output happens in `finish`.
  func work(on record: Record, _ call: RecordCall) async throws -> Work
  /// Turns the work on one record into output, in input order.
  func finish(_ work: Work, _ record: Record, _ sink: RecordSink) throws
}

extension RecordLLMStage {
  public var filterNames: [String] { [] }
  /// Two shards at once keep the server busy across a shard's end.
  public var shardParallelism: Int { 2 }
  public var acceptsCascade: Bool { true }

  public func process(_ input: RecordReader, into output: RecordWriter, context: StageContext) async throws {
    if !llm.cascade.isEmpty { return try await processCascade(input, into: output, context: context) }
    let session = try context.llmSession(endpoint: llm.endpointName).batching(llm.batch)
    defer { session.close() }
    let (model, sampling, extraBody) = llm.resolved(for: session)
    context.stats.declareFilters(filterNames)
    let settings = llm
    let keepsReasoning = llm.keepsReasoning(on: session)
    var deferred = RequestsDeferred(stage: context.stageName, kinds: [:])
    try await forEachInOrder(
      next: { try input.read() }, limit: session.concurrency,
      control: context.control
    ) { record, index in
      let call = RecordCall(
        index: index, key: record.id ?? "#\(index)", session: session, llm: settings, model: model,
        sampling: sampling, extraBody: extraBody, keepsReasoning: keepsReasoning, context: context)
      // A deferred record waits for the next run; the others go on.
      return (record, try await RequestsDeferred.catching { try await self.work(on: record, call) })
    } consume: { item, index in
      // Once a record is deferred the shard is redone anyway: write nothing more.
      guard let work = deferred.unwrap(item.1), deferred.count == 0 else { return }
      let sink = RecordSink(
        index: index, model: model, keepsReasoning: keepsReasoning, output: output, stats: context.stats,
        context: context)
      try finish(work, item.0, sink)
      context.stats.recordIn(sink.inputs)
    }
    if deferred.count > 0 { throw deferred }
  }
}

/// What `work` may use for one record: the LLM with the stage's model and
/// sampling already resolved, and the record's own random stream.
public struct RecordCall: Sendable {
  /// The record's position in its shard.
  public let index: Int
  /// The record's id (or `#position`): with the pipeline seed, the stage and a
  /// request's purpose it decides the sampling seed of requests that set none.
  public let key: String
  public let session: LLMSession
  public let llm: StageLLM
  public let model: String
  public let sampling: Sampling
  /// Server-specific request fields (`extra_body`, the pipeline's and the stage's).
  public let extraBody: JSONObject
  /// The stage keeps thinking traces (`reasoning: keep`) on this endpoint.
  public let keepsReasoning: Bool
  let context: StageContext
  /// Adds up the usage of this record's replies (cascades count it per tier).
  var tally: UsageTally? = nil

  /// The prompt as a chat or completion request (as the stage's `endpoint`
  /// says) with the resolved model and sampling, or `sampling` when given.
  /// `draw` tells apart deliberate repeats of the same request (it is part of
  /// the journal key only).
  ///
  /// A request that no layer gives a `seed` gets `seed` when the method drew
  /// one itself (e.g. per round, from the record's operation stream), and a
  /// sampled request (temperature not 0) otherwise gets one drawn from the
  /// pipeline seed, the stage, the record, `purpose` (what the request is for,
  /// e.g. `answer`) and `draw`: a server that honours seeds then gives the same
  /// reply on every run, so a run killed at any moment resumes to the
  /// uninterrupted run's bytes.
  ///
  /// `model` asks another model than the stage's (e.g. one candidate answer per model).
  public func request(
    _ prompt: FewShotPrompt, sampling: Sampling? = nil, purpose: String = "", draw: Int = 0,
    seed: Int? = nil, model: String? = nil
  ) -> LLMRequest {
    var chosen = sampling ?? self.sampling
    if chosen.seed == nil {
      if let seed {
        chosen.seed = seed
      } else if chosen.temperature != 0 {
        var random = SeededRandom(
          seed: context.seed, stream: "\(context.stageName)/\(key)/\(purpose)", item: UInt64(draw))
        chosen.seed = random.nextSeed()
      }
    }
    return llm.request(prompt, model: model ?? self.model, sampling: chosen, extraBody: extraBody, draw: draw)
  }

  /// Sends a request (or answers it from the journal). A final failure is
  /// returned; budget stops and an unusable endpoint throw.
  public func send(_ request: LLMRequest) async throws -> Result<LLMResponse, LLMFailure> {
    let reply = try await session.send(request)
    if let tally, case .success(let response) = reply { tally.add(response.paidUsage) }
    return reply
  }

  /// Random choices for this record: the pipeline seed, the stage, the shard and
  /// the record's position decide them, never time or arrival order.
  public func random() -> SeededRandom { context.random(item: UInt64(index)) }

  /// Random choices keyed by something stabler than the position (e.g. the
  /// record's id) and an item: the pipeline seed and the stage decide the rest.
  public func random(key: String, item: UInt64) -> SeededRandom {
    SeededRandom(seed: context.seed, stream: "\(context.stageName)/\(key)", item: item)
  }
}

/// Where `finish` puts the outcome of one record: output records, drops and
/// counts. It counts `inputs` (1 unless the method says its unit is another,
/// e.g. parsed instances) as records in when the record is done.
public final class RecordSink {
  /// The record's position in its shard.
  public let index: Int
  /// The model that answered (the resolved one).
  public let model: String
  /// The stage keeps thinking traces (`reasoning: keep`): write them with `Record.keepReasoning`.
  public let keepsReasoning: Bool
  /// Records this one counts as input; in = out + drops must hold for each record.
  public var inputs = 1
  /// Where drops, counts and filter decisions go.
  public let stats: StatsRecorder
  /// nil while a cascade tier is tried: emitted records are held until the tier is accepted.
  let output: RecordWriter?
  let context: StageContext
  /// Records emitted without an output.
  private(set) var held: [Record] = []

  init(
    index: Int, model: String, keepsReasoning: Bool, output: RecordWriter?, stats: StatsRecorder,
    context: StageContext
  ) {
    self.index = index
    self.model = model
    self.keepsReasoning = keepsReasoning
    self.output = output
    self.stats = stats
    self.context = context
  }

  /// An id for records that carry none: the shard and position.
  public var fallbackID: String { "\(context.shard ?? 0)-\(index)" }

  public func emit(_ record: Record) throws {
    if let output { try output.write(record) } else { held.append(record) }
    stats.recordOut()
  }

  public func drop(_ reason: String, _ n: Int = 1) { stats.drop(reason, n) }

  public func count(_ counter: String, _ n: Int = 1) { stats.count(counter, n) }

  public func filter(_ name: String, kept: Bool, reason: String? = nil, example: String? = nil) {
    stats.filter(name, kept: kept, reason: reason, example: example)
  }

  /// The record's random stream (the same as `RecordCall.random()`), for choices made while finishing.
  public func random() -> SeededRandom { context.random(item: UInt64(index)) }
}

/// What a one-request stage does with a record.
public enum RecordRequest: Sendable {
  /// Ask this.
  case send(LLMRequest)
  /// Ask nothing; `skipped(_:_:_:)` decides (by default a drop with this reason).
  case skip(String)
}

/// The work of a one-request stage on one record.
public enum RecordReply: Sendable {
  case skipped(String)
  case answered(Result<LLMResponse, LLMFailure>)
}

/// A per-record stage with one request per record: a request builder and a
/// reply handler. A request that finally fails is counted by the kit as the
/// drop `llm_failed:KIND`.
public protocol OneRequestStage: RecordLLMStage where Work == RecordReply {
  /// The request for a record, or `.skip(reason)`.
  func request(for record: Record, _ call: RecordCall) -> RecordRequest
  /// What the reply means: emit, drop, count.
  func handle(_ response: LLMResponse, _ record: Record, _ sink: RecordSink) throws
  /// A record for which no request was made (default: dropped with the reason).
  func skipped(_ reason: String, _ record: Record, _ sink: RecordSink) throws
}

extension OneRequestStage {
  public func skipped(_ reason: String, _ record: Record, _ sink: RecordSink) throws { sink.drop(reason) }

  public func work(on record: Record, _ call: RecordCall) async throws -> RecordReply {
    switch request(for: record, call) {
    case .skip(let reason): return .skipped(reason)
    case .send(let request): return .answered(try await call.send(request))
    }
  }

  public func finish(_ work: RecordReply, _ record: Record, _ sink: RecordSink) throws {
    switch work {
    case .skipped(let reason): try skipped(reason, record, sink)
    case .answered(.success(let response)): try handle(response, record, sink)
    case .answered(.failure(let failure)): sink.drop("llm_failed:\(failure.kind)")
    }
  }
}
