import Foundation
import InstillCore
import InstillFilters
import InstillRouge

/// How varied a stage's instructions are, for comparing recipes:
/// - `openings_per_100`: distinct openings (first three words, lower-cased) per
///   100 instructions, averaged over blocks of 100 of a sample (fewer than 100
///   instructions: over all of them); 100 means no two share an opening;
/// - `nearest_rouge_l`: the mean, over up to 200 sampled instructions, of each
///   one's ROUGE-L F against its most similar other sampled instruction (lower
///   is more varied);
/// - `top_openings`: the most frequent openings in the sample;
/// - `topics` / `personas`: records per `meta.topic` / `meta.persona` in the
///   whole output (the topic mix that reached this stage's output).
///
/// The sample is up to 1,000 instructions drawn with a fixed seed, so the
/// figures repeat for the same output.
public struct Diversity: Codable, Sendable, Equatable {
  public struct OpeningCount: Codable, Sendable, Equatable {
    public var opening: String
    public var count: Int
    public init(opening: String, count: Int) {
      self.opening = opening
      self.count = count
    }
  }

  public var records: Int
  public var sample: Int
  public var openingsPer100: Double
  public var nearestRougeL: Double?
  public var rougeSample: Int
  public var topOpenings: [OpeningCount]
  public var topics: [String: Int]
  public var personas: [String: Int]
  /// The stage fingerprint it was computed for (a cache key).
  public var fingerprint: String?

  enum CodingKeys: String, CodingKey {
    case records, sample, openingsPer100 = "openings_per_100", nearestRougeL = "nearest_rouge_l"
    case rougeSample = "rouge_sample", topOpenings = "top_openings", topics, personas, fingerprint
  }

  public static let sampleSize = 1000
  public static let rougeSampleSize = 200
  static let block = 100

  /// The measure of a stage's output; nil when its records have no instructions.
  public static func measure(shardPaths: [String]) throws -> Diversity? {
    var random = SeededRandom(seed: 0, stream: "diversity")
    var sample: [String] = []
    var seen = 0
    var topics: [String: Int] = [:]
    var personas: [String: Int] = [:]
    var records = 0
    try StageInput(shardPaths: shardPaths).forEach { record in
      records += 1
      if let topic = record.meta["topic"]?.stringValue { topics[topic, default: 0] += 1 }
      if let persona = record.meta["persona"]?.stringValue { personas[persona, default: 0] += 1 }
      let instruction = record.instruction
      guard !Text.isBlank(instruction) else { return }
      seen += 1
      // Reservoir sampling, in file order until the sample is full.
      if sample.count < sampleSize {
        sample.append(instruction)
      } else {
        let j = random.below(seen)
        if j < sampleSize { sample[j] = instruction }
      }
    }
    guard !sample.isEmpty else { return nil }
    return measure(sample: sample, records: records, topics: topics, personas: personas)
  }

  public static func measure(sample: [String], records: Int, topics: [String: Int] = [:], personas: [String: Int] = [:])
    -> Diversity
  {
    let openings = sample.map(Openings.opening)
    var perBlock: [Double] = []
    if openings.count < block {
      perBlock = [Double(Set(openings).count) * 100 / Double(openings.count)]
    } else {
      for start in stride(from: 0, to: openings.count - block + 1, by: block) {
        perBlock.append(Double(Set(openings[start..<start + block]).count))
      }
    }
    var counts: [String: Int] = [:]
    for opening in openings { counts[opening, default: 0] += 1 }
    let top = counts.byCountDescending.prefix(5)
      .map { OpeningCount(opening: $0.key, count: $0.value) }
    let rougeTexts = Array(sample.prefix(rougeSampleSize))
    return Diversity(
      records: records, sample: sample.count, openingsPer100: perBlock.reduce(0, +) / Double(perBlock.count),
      nearestRougeL: nearestRougeL(rougeTexts), rougeSample: rougeTexts.count, topOpenings: Array(top), topics: topics,
      personas: personas)
  }

  /// Mean over the texts of the highest ROUGE-L F against any other text; nil for fewer than two.
  static func nearestRougeL(_ texts: [String]) -> Double? {
    guard texts.count >= 2 else { return nil }
    var vocabulary: [String: UInt32] = [:]
    let tokens: [[UInt32]] = texts.map { text in
      RougeTokenizer.rougeScore.tokens(text).map { word in
        if let id = vocabulary[word] { return id }
        let id = UInt32(vocabulary.count)
        vocabulary[word] = id
        return id
      }
    }
    var sum = 0.0
    for (i, a) in tokens.enumerated() {
      let matcher = LCSMatcher(a)
      var best = 0.0
      for (j, b) in tokens.enumerated() where j != i {
        best = max(best, RougeL.fmeasure(lcs: matcher.lcs(b), targetCount: b.count, predictionCount: a.count))
      }
      sum += best
    }
    return sum / Double(tokens.count)
  }

  static func path(_ directory: RunDirectory, _ folder: String) -> String {
    directory.stageDirectory(folder) + "/diversity.json"
  }

  /// The stored measure of a complete stage (`diversity.json` beside its shards),
  /// if it was measured for this fingerprint; `measured` is nil when the stage's
  /// records have no instructions.
  static func stored(directory: RunDirectory, folder: String, manifest: StageManifest) -> (
    measured: Diversity?, found: Bool
  ) {
    guard let bytes = try? FileSystem.read(path(directory, folder)),
      let stored = try? JSONDecoder().decode(Diversity.self, from: Data(bytes)),
      stored.fingerprint == manifest.fingerprint
    else { return (nil, false) }
    return (stored.records > 0 ? stored : nil, true)
  }

  /// The measure of a complete stage: the stored one, or measured from its
  /// shards and stored (once per stage, when it completes or when statistics
  /// are next built from disk).
  @discardableResult
  static func measured(directory: RunDirectory, folder: String, manifest: StageManifest) -> Diversity? {
    let stored = stored(directory: directory, folder: folder, manifest: manifest)
    if stored.found { return stored.measured }
    let paths = (0..<manifest.shards).map { directory.shardPath(folder, $0) }.filter { FileSystem.exists($0) }
    var measured =
      (try? measure(shardPaths: paths)).flatMap { $0 }
      ?? Diversity(
        records: 0, sample: 0, openingsPer100: 0, nearestRougeL: nil, rougeSample: 0, topOpenings: [], topics: [:],
        personas: [:])
    measured.fingerprint = manifest.fingerprint
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    if let data = try? encoder.encode(measured) {
      try? FileSystem.writeAtomically([UInt8](data), to: path(directory, folder))
    }
    return measured.records > 0 ? measured : nil
  }

  /// One line for `instill stats`.
  public var summary: String {
    var text = String(format: "diversity: %.1f openings per 100", openingsPer100)
    if let nearestRougeL { text += String(format: ", nearest ROUGE-L %.3f (%d sampled)", nearestRougeL, rougeSample) }
    text += " — \(sample) of \(records) records sampled"
    if !topOpenings.isEmpty {
      text += "; top openings: " + topOpenings.map { "\"\($0.opening)\" ×\($0.count)" }.joined(separator: ", ")
    }
    return text
  }
}

extension Dictionary where Key == String, Value == Int {
  /// Entries by count, largest first, then by key.
  var byCountDescending: [(key: String, value: Int)] {
    sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
  }
}

extension Dictionary where Key == String, Value == SteeringCount {
  /// Topics (personas) by records kept, most first, then by name.
  var byKeptDescending: [(key: String, value: SteeringCount)] {
    sorted { $0.value.kept != $1.value.kept ? $0.value.kept > $1.value.kept : $0.key < $1.key }
  }
}
