import InstillCore
import InstillLLM

/// Steering data for generating stages: `topics: FILE` and/or `personas: FILE`.
/// For every prompt one topic and one persona are drawn (weighted, from the
/// prompt's own seeded stream, so the rest of the prompt is the same with or
/// without them), put into the prompt by the method, and recorded in
/// `meta.topic` / `meta.persona` of what that prompt produced.
///
/// A file holds one entry per line (blank lines and lines starting with `#`
/// are skipped), or JSON lines `{"topic": "…", "weight": 2}` (`persona` for
/// personas; `text` works for both; `weight` defaults to 1).
public struct Steering: Sendable, Equatable {
  public struct Entry: Sendable, Equatable {
    public var text: String
    public var weight: Double
    public init(text: String, weight: Double) {
      self.text = text
      self.weight = weight
    }
  }

  /// One list: its entries and the sentence that carries an entry into a prompt.
  public struct List: Sendable, Equatable {
    /// `topic` or `persona`.
    public var kind: String
    public var entries: [Entry]
    /// The sentence with `{topic}` (`{persona}`) where the entry goes.
    public var template: String
    let cumulative: [Double]

    public init(kind: String, entries: [Entry], template: String) {
      self.kind = kind
      self.entries = entries
      self.template = template
      var sum = 0.0
      cumulative = entries.map {
        sum += $0.weight
        return sum
      }
    }

    /// An entry drawn in proportion to its weight.
    public func draw(_ random: inout SeededRandom) -> String {
      let x = random.unit() * (cumulative.last ?? 0)
      let i = cumulative.firstIndex { x < $0 } ?? entries.count - 1
      return entries[i].text
    }

    public func sentence(_ text: String) -> String { template.replacingOccurrences(of: "{\(kind)}", with: text) }
  }

  public var topics: List?
  public var personas: List?

  public init(topics: List? = nil, personas: List? = nil) {
    self.topics = topics
    self.personas = personas
  }

  public var isEmpty: Bool { topics == nil && personas == nil }

  public static let defaultTopicTemplate = "Every new task should be about {topic}."
  public static let defaultPersonaTemplate = "Write the new tasks as {persona} would ask them."

  /// Reads `topics`, `personas`, `topic_template` and `persona_template` from a
  /// stage entry; the templates default to the method's own.
  public static func parse(
    _ params: ConfigMap, context: StageBuildContext, topicTemplate: String = defaultTopicTemplate,
    personaTemplate: String = defaultPersonaTemplate
  ) throws(InstillError) -> Steering {
    var steering = Steering()
    for (kind, fallback) in [("topic", topicTemplate), ("persona", personaTemplate)] {
      let templateKey = "\(kind)_template"
      let template = try params.string(templateKey, default: fallback)
      guard let node = params.node(kind + "s") else { continue }
      if !template.contains("{\(kind)}") {
        throw (params.node(templateKey) ?? node).error("\(templateKey) must contain {\(kind)}")
      }
      let path = try context.inputFile(node)
      let list = List(kind: kind, entries: try entries(path: path, kind: kind), template: template)
      if kind == "topic" { steering.topics = list } else { steering.personas = list }
    }
    return steering
  }

  /// The entries of a topics or personas file.
  public static func entries(path: String, kind: String) throws(InstillError) -> [Entry] {
    let text = try FileSystem.readString(path, what: "\(kind)s file")
    return try entries(text: text, file: path, kind: kind)
  }

  public static func entries(text: String, file: String, kind: String) throws(InstillError) -> [Entry] {
    var out: [Entry] = []
    for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") { continue }
      guard line.hasPrefix("{") else {
        out.append(Entry(text: line, weight: 1))
        continue
      }
      guard let object = (try? JSONParser.parse(Array(line.utf8)))?.objectValue else {
        throw InstillError.input(
          "not a JSON object (a line starting with '{' is read as JSON)", file: file, line: i + 1)
      }
      guard let entry = (object[kind] ?? object["text"])?.stringValue,
        !entry.trimmingCharacters(in: .whitespaces).isEmpty
      else {
        throw InstillError.input(
          "needs a non-empty \"\(kind)\" (or \"text\") string", file: file, line: i + 1, field: kind)
      }
      var weight = 1.0
      if let w = object["weight"] {
        guard let value = w.doubleValue, value > 0, value.isFinite else {
          throw InstillError.input("weight must be a positive number", file: file, line: i + 1, field: "weight")
        }
        weight = value
      }
      out.append(Entry(text: entry.trimmingCharacters(in: .whitespaces), weight: weight))
    }
    guard !out.isEmpty else { throw InstillError.input("the \(kind)s file has no entries", file: file) }
    return out
  }

  /// The steering of one prompt.
  public struct Draw: Sendable, Equatable {
    public var topic: String?
    public var persona: String?
    /// The sentences to put into the prompt, topic first.
    public var sentences: [String]

    /// `meta.topic` / `meta.persona`.
    public var meta: JSONObject {
      var meta: JSONObject = [:]
      if let topic { meta["topic"] = .string(topic) }
      if let persona { meta["persona"] = .string(persona) }
      return meta
    }

    /// The sentences as one text.
    public var text: String { sentences.joined(separator: " ") }
  }

  /// One prompt's steering, from its own stream; nil when there is no steering data.
  public func draw(_ random: inout SeededRandom) -> Draw? {
    guard !isEmpty else { return nil }
    var draw = Draw(sentences: [])
    if let topics {
      let topic = topics.draw(&random)
      draw.topic = topic
      draw.sentences.append(topics.sentence(topic))
    }
    if let personas {
      let persona = personas.draw(&random)
      draw.persona = persona
      draw.sentences.append(personas.sentence(persona))
    }
    return draw
  }

  /// Counts one prompt (and the records it yielded) per topic and persona.
  public static func record(_ draw: Draw?, prompts: Int = 0, kept: Int = 0, stats: StatsRecorder) {
    guard let draw else { return }
    if let topic = draw.topic { stats.steered("topic", topic, prompts: prompts, kept: kept) }
    if let persona = draw.persona { stats.steered("persona", persona, prompts: prompts, kept: kept) }
  }
}

extension FewShotPrompt {
  /// The prompt with `sentence` after the first line of its instructions (the
  /// system text, or else the query's first line): the demonstrations and the
  /// rest stay as they were.
  public func steered(_ sentence: String) -> FewShotPrompt {
    var prompt = self
    if let system {
      prompt.system = Self.insert(sentence, into: system)
    } else {
      prompt.query = Self.insert(sentence, into: query)
    }
    return prompt
  }

  static func insert(_ sentence: String, into text: String) -> String {
    guard let newline = text.firstIndex(of: "\n") else { return text + " " + sentence }
    return text[..<newline] + " " + sentence + text[newline...]
  }
}
