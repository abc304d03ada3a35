import Foundation
import InstillCore
import InstillFilters

/// A source document reduced to text: its sections, each the text after a
/// heading (the first one may have no heading). Segments for reverse
/// instructions are cut from these sections.
public struct Document: Sendable, Equatable {
  public struct Section: Sendable, Equatable {
    /// The heading the text follows ("" for text before the first heading).
    public var heading: String
    public var text: String

    public init(heading: String, text: String) {
      self.heading = heading
      self.text = text
    }
  }

  /// The file path or URL the document came from (a wiki page: the dump's path).
  public var source: String
  /// `text`, `markdown`, `html`, `wiki` or `jsonl`.
  public var format: DocumentFormat
  public var title: String
  public var sections: [Section]

  public init(source: String, format: DocumentFormat, title: String, sections: [Section]) {
    self.source = source
    self.format = format
    self.title = title
    self.sections = sections
  }
}

public enum DocumentFormat: String, Sendable, CaseIterable {
  case text, markdown, html, wiki, jsonl

  /// The format a file name implies (after a `.gz` or `.bz2` suffix), if any.
  public static func from(name: String) -> DocumentFormat? {
    var name = name.lowercased()
    for suffix in [".gz", ".bz2"] where name.hasSuffix(suffix) { name.removeLast(suffix.count) }
    guard let dot = name.lastIndex(of: ".") else { return nil }
    switch name[name.index(after: dot)...] {
    case "txt", "text": return .text
    case "md", "markdown": return .markdown
    case "html", "htm", "xhtml": return .html
    case "xml": return .wiki
    case "jsonl", "ndjson": return .jsonl
    default: return nil
    }
  }

  /// The format the first bytes of a file suggest (for URLs without a telling name).
  public static func sniff(_ bytes: ArraySlice<UInt8>) -> DocumentFormat {
    let head = String(decoding: bytes.prefix(2048), as: UTF8.self).lowercased()
    if head.contains("<mediawiki") { return .wiki }
    if head.contains("<html") || head.contains("<!doctype html") || head.contains("<body") { return .html }
    if head.hasPrefix("{") { return .jsonl }
    return .text
  }
}

/// Plain-text clean-up shared by every format: trailing spaces, runs of blank lines.
enum TextCleanup {
  /// Lines trimmed at the end, at most one blank line in a row, no blank lines
  /// at the ends. Works on UTF-8 bytes (ASCII white space).
  static func normalize(_ text: String) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    var pendingBlank = false
    var utf8 = Array(text.utf8)
    utf8.append(0x0A)
    var lineStart = 0
    for i in 0..<utf8.count where utf8[i] == 0x0A {
      var end = i
      while end > lineStart, Text.isSpaceByte(utf8[end - 1]) { end -= 1 }
      var first = lineStart
      while first < end, Text.isSpaceByte(utf8[first]) { first += 1 }
      if first == end {
        pendingBlank = !out.isEmpty
      } else {
        if !out.isEmpty { out.append(0x0A) }
        if pendingBlank {
          out.append(0x0A)
          pendingBlank = false
        }
        out.append(contentsOf: utf8[lineStart..<end])
      }
      lineStart = i + 1
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// Plain text and Markdown: Markdown is split at ATX headings (`#` to `######`,
/// outside fenced code); plain text is one section.
public enum PlainText {
  public static func document(_ text: String, source: String, format: DocumentFormat, title: String) -> Document {
    let text = text.replacingOccurrences(of: "\r\n", with: "\n")
    guard format == .markdown else {
      return Document(
        source: source, format: format, title: title,
        sections: [.init(heading: "", text: TextCleanup.normalize(text))])
    }
    var sections: [Document.Section] = []
    var heading = ""
    var body: [Substring] = []
    var fence: Substring?
    var documentTitle = title
    func flush() {
      let text = TextCleanup.normalize(body.joined(separator: "\n"))
      if !text.isEmpty || !heading.isEmpty { sections.append(.init(heading: heading, text: text)) }
      body.removeAll()
    }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let trimmed = line.drop(while: { $0 == " " })
      if let open = fence {
        if trimmed.hasPrefix(open) { fence = nil }
        body.append(line)
        continue
      }
      if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
        fence = trimmed.prefix(3)
        body.append(line)
        continue
      }
      if let (level, text) = atxHeading(trimmed) {
        flush()
        heading = text
        if level == 1 && documentTitle == title { documentTitle = text }
        continue
      }
      body.append(line)
    }
    flush()
    return Document(source: source, format: format, title: documentTitle, sections: sections)
  }

  /// `## Heading ##` → (2, "Heading").
  static func atxHeading(_ line: Substring) -> (Int, String)? {
    let hashes = line.prefix(while: { $0 == "#" }).count
    guard (1...6).contains(hashes) else { return nil }
    let rest = line.dropFirst(hashes)
    guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
    var text = rest.trimmingCharacters(in: .whitespaces)
    while text.hasSuffix("#") { text.removeLast() }
    return (hashes, text.trimmingCharacters(in: .whitespaces))
  }
}
