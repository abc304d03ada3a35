import InstillCore
import InstillFilters
import InstillKit
import InstillLLM

/// Answers and further turns of the instructions a round kept.
///
/// Each conversation goes turn by turn: the answer (a chat request: the system
/// prompt, the turns so far), then for `turns: N` the next pre-query (the
/// conversation rendered in the layout, then the opening of a user turn) and
/// its answer. A conversation that cannot be finished is dropped: filter
/// `answer` (`llm_failed`, `truncated`, `empty`) or `turns`
/// (`turn_N_not_closed`, `turn_N_empty`). Records get `output` (the first
/// answer) and, for several turns, `conversation` [{role, content}].
extension MagpieStage {
  struct Conversation: Sendable {
    var record: Record
    var system: String?
    var turns: [(user: String, assistant: String)] = []
    /// Each answer's thinking trace, when the answering model thought.
    var traces: [String?] = []
    var pendingUser: String
  }

  enum Step: Sendable {
    case done(Record)
    case dropped(filter: String, reason: String, example: String)
  }

  public func complete(_ records: [Record], round: Int, session: LLMSession, context: StageContext) async throws
    -> [Record]
  {
    guard answer, !records.isEmpty else { return records }
    context.stats.declareFilters(["answer"] + (turns > 1 ? ["turns"] : []))
    let answers =
      answerLLM.endpointName == nil || answerLLM.endpointName == llm.endpointName
      ? session : session.on(try context.llmBackend(endpoint: answerLLM.endpointName))
    let (answerModel, answerSampling, answerExtra) = answerLLM.resolved(for: answers)
    let (model, sampling, extra) = llm.resolved(for: session)
    let stage = self
    var deferred = RequestsDeferred(stage: context.stageName, kinds: [:])
    var out: [Record] = []
    let seeds: [Int] = records.map { record in
      var random = context.random(
        item: GrowthSettings.item(round: round, prompt: record.meta["request_idx"]?.intValue ?? 0) | 1 << 61)
      return random.nextSeed()
    }
    try await forEachInOrder(
      Array(records.enumerated()), limit: session.backend.maxConcurrency, control: context.control
    ) { item, _ in
      let (i, record) = item
      return try await RequestsDeferred.catching {
        try await stage.converse(
          record, seed: seeds[i], answers: answers, answerRequest: (answerModel, answerSampling, answerExtra),
          session: session, preQueryRequest: (model, sampling, extra))
      }
    } consume: { result, _ in
      guard let step = deferred.unwrap(result) else { return }
      switch step {
      case .done(let record):
        out.append(record)
        context.stats.filter("answer", kept: true)
        if turns > 1 { context.stats.filter("turns", kept: true) }
      case .dropped(let filter, let reason, let example):
        context.stats.filter(filter, kept: false, reason: reason, example: example)
      }
    }
    // Conversations wait for their deferred requests: the next run replays the round from the journal.
    if deferred.count > 0 { throw deferred }
    return out
  }

  typealias RequestSettings = (model: String, sampling: Sampling, extraBody: JSONObject)

  func converse(
    _ record: Record, seed: Int, answers: LLMSession, answerRequest: RequestSettings, session: LLMSession,
    preQueryRequest: RequestSettings
  ) async throws -> Step {
    var conversation = Conversation(
      record: record, system: record.string("system"), pendingUser: record.instruction)
    for turn in 1...turns {
      if turn > 1 {
        // The next user turn: the conversation so far in the layout, then the opening of a user turn.
        var sampling = preQueryRequest.sampling
        if sampling.seed == nil { sampling.seed = seed &+ turn }
        let request = LLMRequest.completion(
          layout!.preQuery(system: conversation.system, turns: conversation.turns), model: preQueryRequest.model,
          sampling: sampling, extraBody: preQueryRequest.extraBody)
        guard case .success(let reply) = try await session.send(request) else {
          return .dropped(filter: "turns", reason: "turn_\(turn)_llm_failed", example: record.instruction)
        }
        guard let user = Self.userTurn(reply) else {
          return .dropped(filter: "turns", reason: "turn_\(turn)_not_closed", example: reply.text)
        }
        guard !Text.isBlank(user) else {
          return .dropped(filter: "turns", reason: "turn_\(turn)_empty", example: record.instruction)
        }
        conversation.pendingUser = user
      }
      var messages = conversation.system.map { [ChatMessage.system($0)] } ?? []
      for past in conversation.turns {
        messages.append(.user(past.user))
        messages.append(.assistant(past.assistant))
      }
      messages.append(.user(conversation.pendingUser))
      var sampling = answerRequest.sampling
      if sampling.seed == nil, (sampling.temperature ?? 1) > 0 { sampling.seed = seed &+ 100 &+ turn }
      let request = LLMRequest.chat(
        messages, model: answerRequest.model, sampling: sampling, extraBody: answerRequest.extraBody)
      guard case .success(let reply) = try await answers.send(request) else {
        return .dropped(filter: "answer", reason: "llm_failed", example: conversation.pendingUser)
      }
      if reply.truncated {
        return .dropped(filter: "answer", reason: "truncated", example: conversation.pendingUser)
      }
      let text = reply.text.trimmingCharacters(in: .whitespacesAndNewlines)
      guard !text.isEmpty else {
        return .dropped(filter: "answer", reason: "empty", example: conversation.pendingUser)
      }
      conversation.turns.append((conversation.pendingUser, text))
      conversation.traces.append(reply.reasoning)
    }
    let keep = answerLLM.keepsReasoning(on: answers)
    var done = conversation.record
    done["output"] = .string(conversation.turns[0].assistant)
    done.keepReasoning(conversation.traces[0], for: "output", keep)
    if turns > 1 {
      var messages: [JSONValue] = []
      for (turn, trace) in zip(conversation.turns, conversation.traces) {
        messages.append(.object(["role": .string("user"), "content": .string(turn.user)]))
        var assistant: JSONObject = ["role": .string("assistant"), "content": .string(turn.assistant)]
        if keep, let trace { assistant[Record.turnReasoningKey] = .string(trace) }
        messages.append(.object(assistant))
      }
      done["conversation"] = .array(messages)
    }
    done.meta["answer_model"] = .string(answerRequest.model)
    return .done(done)
  }
}
