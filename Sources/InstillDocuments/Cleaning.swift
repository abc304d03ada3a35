import Foundation
import InstillCore
import InstillFilters
import InstillRouge

/// The segment rules of the `documents` stage, Humpback-style: a segment is a
/// section's text; it is kept when its length is in range, its heading is not
/// navigation or shouting, it is not repetitive, and it is not a duplicate.
public struct CleaningSettings: Sendable {
  public var minChars = 600
  public var maxChars = 3000
  /// A limit on the segment's estimated tokens (see `SegmentCleaner.estimatedTokens`), for a
  /// model whose context would not hold `maxChars` of Chinese, Japanese or Korean text.
  public var maxTokens: Int?
  /// Cut sections longer than `maxChars` (or `maxTokens`) at paragraph boundaries instead of dropping them.
  public var splitLong = false
  /// Drop text that follows no heading (the Humpback setting for web pages).
  public var requireHeading = false
  /// Headings (lower case, punctuation removed) that mark page furniture.
  public var navigationHeadings = CleaningSettings.defaultNavigation
  /// Gopher-style repetition rules (the `repetition` filter's).
  public var repetition = Repetition()
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
    if minChars > maxChars {
      throw params.owner.error("min_chars (\(minChars)) is larger than max_chars (\(maxChars))")
    }
    maxTokens = try params.optionalInt("max_tokens", in: 16...10_000_000)
    splitLong = try params.bool("split_long", default: splitLong)
    requireHeading = try params.bool("require_heading", default: requireHeading)
    if let extra = try params.stringList("navigation_headings") {
      navigationHeadings.formUnion(extra.map(Self.normalizeHeading))
    }
    try repetition.parse(params)
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
public final class SegmentCleaner {
  static let filterNames = ["length", "heading", "repetition", "duplicate", "near_duplicate"]

  let settings: CleaningSettings
  let stats: StatsRecorder
  /// The first 128 bits of each kept segment's SHA-256 (16 bytes a segment, so
  /// memory grows slowly with the number of segments, not with their size).
  private var seen = Set<Digest128>()
  private let dedup: GreedyDedup?

  public init(settings: CleaningSettings, stats: StatsRecorder) {
    self.settings = settings
    self.stats = stats
    dedup = settings.rougeThreshold.map { GreedyDedup(threshold: $0, threads: 1) }
  }

  /// The segments of one section that pass every rule (usually one, or none;
  /// several when `split_long` cuts a long section).
  public func segments(of section: Document.Section) -> [String] {
    let pieces = settings.splitLong && !fits(section.text) ? Self.split(section.text, fits: fits) : [section.text]
    var kept: [String] = []
    for text in pieces {
      stats.recordIn()
      if keep(text, heading: section.heading) { kept.append(text) }
    }
    return kept
  }

  /// Within `max_chars` and, when set, `max_tokens`.
  func fits(_ text: String) -> Bool {
    Self.length(text) <= settings.maxChars && settings.maxTokens.map { Self.estimatedTokens(text) <= $0 } ?? true
  }

  private func keep(_ text: String, heading: String) -> Bool {
    let length = Self.length(text)
    let example = { (heading.isEmpty ? "" : "[\(heading)] ") + text }
    if length < settings.minChars {
      stats.filter("length", kept: false, reason: "too_short", example: example())
      return false
    }
    if length > settings.maxChars {
      stats.filter("length", kept: false, reason: "too_long", example: example())
      return false
    }
    if let maxTokens = settings.maxTokens, Self.estimatedTokens(text) > maxTokens {
      stats.filter("length", kept: false, reason: "too_many_tokens", example: example())
      return false
    }
    stats.filter("length", kept: true)
    if let reason = headingProblem(heading) {
      stats.filter("heading", kept: false, reason: reason, example: example())
      return false
    }
    stats.filter("heading", kept: true)
    if let reason = settings.repetition.check(text) {
      stats.filter("repetition", kept: false, reason: reason, example: example())
      return false
    }
    stats.filter("repetition", kept: true)
    guard seen.insert(Self.fingerprint(text)).inserted else {
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

  struct Digest128: Hashable {
    var high: UInt64
    var low: UInt64
  }

  /// SHA-256 (first 128 bits) of the text with white space collapsed and ASCII folded to lower case.
  static func fingerprint(_ text: String) -> Digest128 {
    var hasher = SHA256()
    var buffer: [UInt8] = []
    buffer.reserveCapacity(text.utf8.count)
    var space = false
    for byte in text.utf8 {
      if byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D {
        space = !buffer.isEmpty
        continue
      }
      if space {
        buffer.append(0x20)
        space = false
      }
      buffer.append((0x41...0x5A).contains(byte) ? byte + 32 : byte)
    }
    hasher.update(buffer)
    let digest = hasher.finalize()
    func word(_ at: Int) -> UInt64 { digest[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
    return Digest128(high: word(0), low: word(8))
  }

  /// Characters as Unicode scalars (cheap on UTF-8).
  static func length(_ text: String) -> Int {
    var n = 0
    for byte in text.utf8 where byte & 0xC0 != 0x80 { n += 1 }
    return n
  }

  /// A model-independent token estimate: 2 per CJK ideograph, kana or hangul
  /// scalar, 1 per 4 other scalars. Measured with SmolLM2's tokenizer: 1.8 tokens per
  /// Chinese character, 0.20–0.29 per character of English and German text.
  public static func estimatedTokens(_ text: String) -> Int {
    var wide = 0, other = 0
    for scalar in text.unicodeScalars {
      switch scalar.value {
      case 0x1100...0x11FF, 0x2E80...0x9FFF, 0xAC00...0xD7AF, 0xF900...0xFAFF, 0xFF00...0xFFEF, 0x20000...0x3FFFF:
        wide += 1
      default:
        other += 1
      }
    }
    return wide * 2 + (other + 3) / 4
  }

  /// Cuts text at paragraph (then line) boundaries into pieces of at most `maxChars`.
  public static func split(_ text: String, maxChars: Int) -> [String] {
    split(text) { length($0) <= maxChars }
  }

  /// Cuts text at paragraph (then line) boundaries into the longest pieces that
  /// `fits` accepts (a single line that does not fit stays one piece).
  static func split(_ text: String, fits: (String) -> Bool) -> [String] {
    var pieces: [String] = []
    var current = ""
    let units = text.components(separatedBy: "\n\n").flatMap { paragraph -> [String] in
      fits(paragraph) ? [paragraph] : paragraph.components(separatedBy: "\n")
    }
    for unit in units {
      let joined = current.isEmpty ? unit : current + "\n\n" + unit
      if fits(joined) {
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
