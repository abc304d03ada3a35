import Foundation
import InstillCore
import InstillFilters

/// The preference formats: pairs of a record's judged `responses` (each with a
/// numeric `score`, as `judge` writes them) as `prompt` / `chosen` / `rejected`
/// rows, the shape preference trainers (TRL's DPO, ORPO) load as they are.
extension ExportStage {
  struct Scored {
    var text: String
    var score: Double
    var response: JSONObject
  }

  /// The chosen and rejected responses of a record, and what was dropped (as pairs).
  func preferencePairs(_ record: Record) -> (pairs: [(chosen: Scored, rejected: Scored)], drops: [(String, Int)]) {
    guard case .array(let list)? = record["responses"] else { return ([], [("no_responses", 1)]) }
    let scored = list.compactMap { item -> Scored? in
      guard case .object(let object) = item, let text = object["text"]?.stringValue, !Text.isBlank(text),
        let score = object["score"]?.doubleValue
      else { return nil }
      return Scored(text: text, score: score, response: object)
    }
    guard scored.count >= 2 else { return ([], [("fewer_than_two_scored_responses", 1)]) }
    var candidates: [(Scored, Scored)] = []
    switch pairs {
    case .bestWorst:
      // The first of equal best and the last of equal worst.
      let best = scored.indices.max {
        scored[$0].score < scored[$1].score || (scored[$0].score == scored[$1].score && $0 > $1)
      }!
      let worst = scored.indices.min {
        scored[$0].score < scored[$1].score || (scored[$0].score == scored[$1].score && $0 > $1)
      }!
      candidates = [(scored[best], scored[worst])]
    case .all:
      for i in scored.indices {
        for j in scored.indices where j > i {
          candidates.append(scored[i].score >= scored[j].score ? (scored[i], scored[j]) : (scored[j], scored[i]))
        }
      }
    }
    var out: [(chosen: Scored, rejected: Scored)] = []
    var ties = 0
    var same = 0
    for (chosen, rejected) in candidates {
      if chosen.score - rejected.score <= margin || chosen.score == rejected.score {
        ties += 1
      } else if chosen.text == rejected.text {
        same += 1
      } else {
        out.append((chosen, rejected))
      }
    }
    return (out, [("tie", ties), ("same_text", same)].filter { $0.1 > 0 })
  }

  /// A number written with a decimal point (`4.0`), so JSON readers type the column as float.
  static func float(_ x: Double) -> JSONValue {
    x == x.rounded() && abs(x) < 1e15 ? .number("\(Int(x)).0") : .double(x)
  }

  func preferenceRow(_ record: Record, chosen: Scored, rejected: Scored) -> Record {
    let prompt = record.prompt
    var out = Record()
    if let id = record.id { out["id"] = .string(id) }
    let textReasoning = Record.reasoningField(for: "text")
    let (chosenTrace, rejectedTrace) = (
      chosen.response[textReasoning]?.stringValue, rejected.response[textReasoning]?.stringValue
    )
    switch format {
    case .preferenceMessages:
      var turns: [JSONValue] = []
      if let systemPrompt { turns.append(message("system", systemPrompt)) }
      turns.append(message("user", prompt))
      out["prompt"] = .array(turns)
      out["chosen"] = .array([message("assistant", chosen.text, trace: chosenTrace)])
      out["rejected"] = .array([message("assistant", rejected.text, trace: rejectedTrace)])
    default:
      out["prompt"] = .string(systemPrompt.map { $0 + "\n\n" + prompt } ?? prompt)
      out["chosen"] = .string(answerText(chosen.text, trace: chosenTrace))
      out["rejected"] = .string(answerText(rejected.text, trace: rejectedTrace))
      if reasoning == .field {
        if let chosenTrace { out["chosen_" + reasoningField] = .string(chosenTrace) }
        if let rejectedTrace { out["rejected_" + reasoningField] = .string(rejectedTrace) }
      }
    }
    // Always a float, so every row has one column type.
    out["score_chosen"] = Self.float(chosen.score)
    out["score_rejected"] = Self.float(rejected.score)
    if includeMeta, case .object(let meta)? = record["meta"], meta.count > 0 {
      out["meta"] = .object(JSONObject(meta.map { ($0.key, Self.flat($0.value)) }))
    }
    return out
  }
}
