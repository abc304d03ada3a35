import Foundation
import InstillCore
import InstillRouge

/// The segment rules of the `documents` stage, Humpback-style: a segment is a
/// section's text; it is kept when its length is in range, its heading is not
/// navigation or shouting, it is not repetitive, and it is not a duplicate.
public struct CleaningSettings: Sendable {
  public var minChars = 600
  public var maxChars = 3000
  /// Cut sections longer than `maxChars` at paragraph boundaries instead of dropping them.
  public var splitLong = false
  /// Drop text that follows no heading (the Humpback setting for web pages).
  public var requireHeading = false
  /// Headings (lower case, punctuation removed) that mark page furniture.
  public var navigationHeadings = CleaningSettings.defaultNavigation
  /// Share of lines that repeat an earlier line, above which a segment is repetitive.
  public var maxDuplicateLines = 0.3
  /// Share of the characters covered by the most frequent word 2-, 3- and 4-gram
  /// (Gopher's thresholds).
  public var maxTopNgram: [(n: Int, fraction: Double)] = [(2, 0.20), (3, 0.18), (4, 0.16)]
  /// ROUGE-L F above which a segment counts as a near duplicate of a kept one (off when nil).
  public var rougeThreshold: Double?

  public init() {}

  public static let defaultNavigation: Set<String> = [
    "navigation", "navigation menu", "menu", "main menu", "contents", "table of contents", "references",
    "external links", "see also", "further reading", "notes", "sources", "bibliography", "citations", "footnotes",
    "related", "related articles", "related posts", "related links", "share", "share this", "share this article",
    "comments", "leave a comment", "leave a reply", "footer", "sign in", "log in", "login", "sign up", "register",
    "subscribe", "newsletter", "cookies", "cookie policy", "privacy policy", "terms of use", "terms of service",
    "follow us", "tags", "categories", "archives", "recent posts", "popular posts", "search", "skip to content",
    "advertisement", "sponsored", "about us", "contact", "contact us", "you may also like", "read more",
    "trending", "latest news", "site map", "sitemap", "copyright", "all rights reserved", "quick links",
  ]

  /// Reads the cleaning keys of a `documents` stage.
  mutating func parse(_ params: ConfigMap) throws(InstillError) {
    minChars = try params.int("min_chars", default: minChars, in: 0...10_000_000)
    maxChars = try params.int("max_chars", default: maxChars, in: 1...10_000_000)
    if minChars > maxChars { throw params.owner.error("min_chars (\(minChars)) is larger than max_chars (\(maxChars))") }
    splitLong = try params.bool("split_long", default: splitLong)
    requireHeading = try params.bool("require_heading", default: requireHeading)
    if let extra = try params.stringList("navigation_headings") {
      navigationHeadings.formUnion(extra.map(Self.normalizeHeading))
    }
    maxDuplicateLines = try params.double("max_duplicate_lines", default: maxDuplicateLines, in: 0...1)
    maxTopNgram = [
      (2, try params.double("max_top_2gram", default: 0.20, in: 0...1)),
      (3, try params.double("max_top_3gram", default: 0.18, in: 0...1)),
      (4, try params.double("max_top_4gram", default: 0.16, in: 0...1)),
    ]
    rougeThreshold = try params.optionalDouble("rouge_threshold", in: 0...1)
  }

  static func normalizeHeading(_ heading: String) -> String {
    let kept = heading.lowercased().unicodeScalars.map {
      CharacterSet.letters.contains($0) || CharacterSet.decimalDigits.contains($0) ? Character($0) : " "
    }
    return String(kept).split(separator: " ").joined(separator: " ")
  }
}

/// Applies the rules in order and counts every decision as a filter of the stage:
/// `length`, `heading`, `repetition`, `duplicate`, `near_duplicate`.
final class SegmentCleaner {
  static let filterNames = ["length", "heading", "repetition", "duplicate", "near_duplicate"]

  let settings: CleaningSettings
  let stats: StatsRecorder
  private var seen = Set<[UInt8]>()
  private let dedup: GreedyDedup?

  init(settings: CleaningSettings, stats: StatsRecorder) {
    self.settings = settings
    self.stats = stats
    dedup = settings.rougeThreshold.map { GreedyDedup(threshold: $0, threads: 1) }
  }

  /// The segments of one section that pass every rule (usually one, or none;
  /// several when `split_long` cuts a long section).
  func segments(of section: Document.Section) -> [String] {
    let pieces = settings.splitLong && section.text.count > settings.maxChars
      ? Self.split(section.text, maxChars: settings.maxChars) : [section.text]
    var kept: [String] = []
    for text in pieces {
      stats.recordIn()
      if keep(text, heading: section.heading) { kept.append(text) }
    }
    return kept
  }

  private func keep(_ text: String, heading: String) -> Bool {
    let length = text.count
    let example = { (heading.isEmpty ? "" : "[\(heading)] ") + text }
    if length < settings.minChars {
      stats.filter("length", kept: false, reason: "too_short", example: example())
      return false
    }
    if length > settings.maxChars {
      stats.filter("length", kept: false, reason: "too_long", example: example())
      return false
    }
    stats.filter("length", kept: true)
    if let reason = headingProblem(heading) {
      stats.filter("heading", kept: false, reason: reason, example: example())
      return false
    }
    stats.filter("heading", kept: true)
    if let reason = repetition(text) {
      stats.filter("repetition", kept: false, reason: reason, example: example())
      return false
    }
    stats.filter("repetition", kept: true)
    var hasher = SHA256()
    hasher.update(text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ").lowercased())
    guard seen.insert(hasher.finalize()).inserted else {
      stats.filter("duplicate", kept: false, reason: "exact", example: example())
      return false
    }
    stats.filter("duplicate", kept: true)
    if let dedup {
      let decision = dedup.process([text])[0]
      guard decision.kept else {
        stats.filter("near_duplicate", kept: false, reason: "rouge_l", example: example())
        return false
      }
      stats.filter("near_duplicate", kept: true)
    }
    return true
  }

  func headingProblem(_ heading: String) -> String? {
    let normalized = CleaningSettings.normalizeHeading(heading)
    if normalized.isEmpty { return settings.requireHeading ? "empty" : nil }
    if settings.navigationHeadings.contains(normalized) { return "navigation" }
    let letters = heading.unicodeScalars.filter { CharacterSet.letters.contains($0) }
    let cased = letters.filter { $0.properties.isUppercase || $0.properties.isLowercase }
    if cased.count >= 4 && cased.allSatisfy({ $0.properties.isUppercase }) { return "all_caps" }
    return nil
  }

  /// Gopher-style repetition: duplicate lines, then the most frequent word n-grams.
  func repetition(_ text: String) -> String? {
    let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    if lines.count > 1 {
      var distinct = Set<String>()
      let duplicates = lines.filter { !distinct.insert($0).inserted }.count
      if Double(duplicates) / Double(lines.count) > settings.maxDuplicateLines { return "duplicate_lines" }
    }
    let words = text.lowercased().split(whereSeparator: { $0.isWhitespace || $0.isPunctuation })
    let totalChars = words.reduce(0) { $0 + $1.count }
    guard totalChars > 0 else { return nil }
    for (n, limit) in settings.maxTopNgram where words.count >= n {
      var counts: [ArraySlice<Substring>: Int] = [:]
      for i in 0...(words.count - n) { counts[words[i..<(i + n)], default: 0] += 1 }
      guard let (gram, count) = counts.max(by: { $0.value < $1.value || ($0.value == $1.value && $0.key.lexicographicallyPrecedes($1.key)) }),
            count > 1 else { continue }
      let covered = gram.reduce(0) { $0 + $1.count } * count
      if Double(covered) / Double(totalChars) > limit { return "repeated_\(n)grams" }
    }
    return nil
  }

  /// Cuts text at paragraph (then line) boundaries into pieces of at most `maxChars`.
  static func split(_ text: String, maxChars: Int) -> [String] {
    var pieces: [String] = []
    var current = ""
    let units = text.components(separatedBy: "\n\n").flatMap { paragraph -> [String] in
      paragraph.count <= maxChars ? [paragraph] : paragraph.components(separatedBy: "\n")
    }
    for unit in units {
      let joined = current.isEmpty ? unit : current + "\n\n" + unit
      if joined.count <= maxChars {
        current = joined
      } else {
        if !current.isEmpty { pieces.append(current) }
        current = unit
      }
    }
    if !current.isEmpty { pieces.append(current) }
    return pieces
  }
}
