import Foundation
import InstillCore

/// A scripted endpoint that answers each method's requests as a strong,
/// obedient model would: well-formed lists, evolutions that add one
/// constraint, "Not Equal" from the judge, core examples with all three
/// fields, paraphrases with `{INPUT}` once, ratings of 5, long answers. What it
/// writes is made of pseudo-words drawn from a hash of the request, so replies
/// are deterministic, distinct from each other and free of any word a filter
/// looks for. A recipe run against it shows what the recipe itself throws away.
public enum IdealModel {
  /// The reply to an OpenAI-compatible request body (chat or completion).
  public static func reply(to body: [UInt8]) -> TestHTTPServer.Reply {
    guard let object = try? JSONParser.parse(body).objectValue else {
      return .respond(status: 400, headers: [], body: Array("{\"error\":\"not JSON\"}".utf8))
    }
    let chat = object["messages"] != nil
    let messages = object["messages"]?.arrayValue?.compactMap { $0.objectValue } ?? []
    let system = messages.first { $0["role"]?.stringValue == "system" }?["content"]?.stringValue ?? ""
    let lastUser = messages.last { $0["role"]?.stringValue == "user" }?["content"]?.stringValue ?? ""
    let prompt = object["prompt"]?.stringValue ?? ""
    let whole = chat ? messages.compactMap { $0["content"]?.stringValue }.joined(separator: "\n") : prompt
    var words = Words(JSONWriter.bytes(.object(object)))
    return FakeModel.respond(
      text(system: system, lastUser: lastUser, whole: whole, chat: chat, words: &words), chat: chat)
  }

  static func text(system: String, lastUser: String, whole: String, chat: Bool, words: inout Words) -> String {
    // Self-Instruct: continue the numbered list of tasks.
    if whole.contains("numbered list of varied tasks") {
      let next = Int(whole.firstMatch(of: /(\d+)\.\s*$/)?.output.1 ?? "9") ?? 9
      return (next..<min(next + 7, 16)).map { n in
        (n == next ? "" : "\(n). ") + words.task(classification: n % 4 == 0)
      }.joined(separator: "\n")
    }
    // Magpie: a completion that ends where a user's turn opens gets a question of its own.
    if !chat, whole.hasSuffix("<|im_start|>user\n") {
      let first = words.word()
      return first.prefix(1).uppercased() + first.dropFirst() + " " + words.sentence(9) + "?"
    }
    // Classification or not.
    if whole.contains("whether it is a classification task") {
      let task = (chat ? lastUser : String(whole.split(separator: "Task:").last ?? ""))
      return task.contains("Classify") ? "Yes" : "No"
    }
    // Instances, output-first (labels) or input-first.
    if whole.hasPrefix(InstancePromptsHeaders.outputFirst) || system.hasPrefix(InstancePromptsHeaders.outputFirst) {
      return (0..<2).map { i in "Class label: \(i == 0 ? "Alpha" : "Beta")\nSentence: \(words.sentence(9))" }
        .joined(separator: "\n")
    }
    if whole.hasPrefix(InstancePromptsHeaders.inputFirst) || system.hasPrefix(InstancePromptsHeaders.inputFirst) {
      return (1...3).map { i in "Example \(i)\nInput: \(words.sentence(10))\nOutput: \(words.sentence(24))" }
        .joined(separator: "\n")
    }
    // Alpaca: the rest of the list, "N. Instruction / Input / Output" between ###.
    if let match = whole.firstMatch(of: /###\n(\d+)\. Instruction:\s*$/) {
      let first = Int(match.output.1) ?? 4
      return (first..<(first + 5)).map { n in
        (n == first ? " " : "###\n\(n). Instruction: ") + words.task(classification: false)
          + "\n\(n). Input:\n" + (n % 2 == 0 ? "<noinput>" : words.sentence(8)) + "\n\(n). Output:\n"
          + words.sentence(30) + "\n"
      }.joined()
    }
    // Evol-Instruct: the judge, then an evolving prompt.
    if whole.contains("You compare two prompts") { return "Not Equal" }
    if let marker = whole.firstMatch(of: /#Original (Prompt|Task)#:\n/) {
      let parent = whole[marker.range.upperBound...].components(separatedBy: "\n\n#New ").first ?? ""
      return parent.trimmingCharacters(in: .whitespacesAndNewlines) + " " + words.constraint()
    }
    // Unnatural Instructions: a fourth example, an output, a paraphrase.
    if whole.contains("Each example below is a task: an instruction, an input, and constraints") {
      return "Instruction: \(words.task(classification: false))\nInput: \(words.sentence(12))\n"
        + "Constraints: The output is one of \(words.word()) or \(words.word())."
    }
    if whole.contains("Carry out the instruction on the input") { return words.sentence(20) }
    if whole.contains("Rephrase each instruction in another way") {
      return "\(words.word().capitalized) \(words.sentence(6)) {INPUT} \(words.sentence(5))?"
    }
    // Reverse instructions (three LongForm styles, backtranslation): two sentences.
    if whole.contains("Write the instruction it answers") || whole.contains("Write the user's message")
      || whole.contains("Write that query") || whole.contains("Write the instruction a user gave")
    {
      return "\(words.sentence(12).capitalized). Cover \(words.sentence(8)) in detail."
    }
    // Self-curation.
    if whole.contains("Rate how well the answer serves") {
      return "The answer is complete, focused and written as an expert assistant would.\nScore: 5"
    }
    // Judges: a discerning rater (each criterion in the upper half of its scale,
    // varying with the answer), a consistent pairwise judge, critiques and revisions.
    if system.hasPrefix("You compare two answers") || whole.contains("\"Better: A\" or \"Better: B\"") {
      let parts = whole.components(separatedBy: "\n\nAnswer A:\n").last?.components(separatedBy: "\n\nAnswer B:\n")
      guard let parts, parts.count == 2 else { return "No answers found." }
      let aWins = SHA256.hex(parts[0]) > SHA256.hex(parts[1].components(separatedBy: "\n\nReasoning:")[0])
      return "One answer is more precise.\nBetter: \(aWins ? "A" : "B")"
    }
    if whole.contains("Critique request:") { return "The answer could name \(words.sentence(6))." }
    if whole.contains("Revision request:") { return words.sentence(50) + "." }
    if whole.contains(", on a scale of "), let rated = whole.components(separatedBy: "Answer:\n").last {
      var scores = Words(Array(rated.utf8))
      let criteria = whole.matches(of: /[\n"]([A-Z][a-z]+(?: [a-z]+)*): n/).map { String($0.output.1) }
      let scales = whole.matches(of: /on a scale of (\d+) to (\d+)/).map {
        (Int($0.output.1) ?? 1, Int($0.output.2) ?? 5)
      }
      let lines = criteria.enumerated().map { i, label in
        let (low, high) = scales[min(i, scales.count - 1)]
        return "\(label): \(high - scores.byte() % ((high - low) / 2 + 1))"
      }
      if whole.contains("Reply with one JSON object") {
        // The JSON reply format: {"reasoning": …, "criterion": n, …} in the rubric's order.
        let names = whole.matches(of: /"([a-z_]+)": n/).map { String($0.output.1) }
        var object: JSONObject = ["reasoning": .string("The answer is accurate and complete.")]
        for (i, name) in names.enumerated() {
          let (low, high) = scales[min(i, scales.count - 1)]
          object[name] = .int(high - scores.byte() % ((high - low) / 2 + 1))
        }
        return JSONWriter.string(.object(object))
      }
      return "The answer is accurate and complete.\n" + lines.joined(separator: "\n")
    }
    // Anything else is a question to answer (Evol's answers, generate stages).
    return words.sentence(60) + "."
  }

  /// Where the instance prompts' headers begin (copied here so the test support
  /// does not depend on the method targets).
  enum InstancePromptsHeaders {
    static let inputFirst = "Write examples for each task below."
    static let outputFirst = "Each task below is a classification task."
  }
}

/// Pseudo-words from a hash stream: "balotu", "kemira", … (never an English
/// word a filter looks for).
struct Words {
  var state: [UInt8]
  var buffer: [UInt8] = []

  init(_ seed: [UInt8]) { state = Array(SHA256.hex(seed).utf8) }

  mutating func byte() -> Int {
    if buffer.isEmpty {
      state = Array(SHA256.hex(state).utf8)
      buffer = Array(state.prefix(64))
    }
    return Int(buffer.removeFirst())
  }

  static let onsets = Array("bdfgklmnprstvz")
  static let vowels = Array("aeiou")

  mutating func word() -> String {
    var w = ""
    for _ in 0..<(2 + byte() % 2) {
      w.append(Self.onsets[byte() % Self.onsets.count])
      w.append(Self.vowels[byte() % Self.vowels.count])
    }
    return w
  }

  mutating func sentence(_ n: Int) -> String { (0..<n).map { _ in word() }.joined(separator: " ") }

  mutating func task(classification: Bool) -> String {
    classification
      ? "Classify the \(sentence(5)) as alpha or beta."
      : "Explain how the \(sentence(4)) changes \(sentence(5))."
  }

  /// One more requirement: 12 words.
  mutating func constraint() -> String { "Also require \(sentence(10))." }
}
