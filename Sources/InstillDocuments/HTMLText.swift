import CXML2
import Foundation
import InstillCore

/// HTML to sections with libxml2's HTML parser in recovery mode (no network):
/// the main content (`main`, else a single `article`, else `body`), without
/// scripts, styles, navigation, page headers and footers, asides and forms;
/// `h1`–`h6` start new sections.
enum HTMLText {
  /// Elements whose content is never document text.
  static let dropped: Set<String> = [
    "script", "style", "nav", "header", "footer", "aside", "form", "noscript", "iframe", "svg", "template",
    "button", "select", "textarea", "input", "object", "embed", "canvas", "menu", "dialog", "head",
  ]
  /// ARIA roles of the same kinds of page furniture.
  static let droppedRoles: Set<String> = ["navigation", "banner", "contentinfo", "complementary", "search", "menu"]
  static let blocks: Set<String> = [
    "p", "div", "section", "article", "main", "blockquote", "pre", "ul", "ol", "li", "dl", "dt", "dd", "table",
    "tr", "td", "th", "figure", "figcaption", "address", "details", "summary", "hr", "center", "caption",
  ]

  static func document(_ bytes: [UInt8], source: String, fallbackTitle: String) -> Document {
    let options = Int32(
      HTML_PARSE_RECOVER.rawValue | HTML_PARSE_NOERROR.rawValue | HTML_PARSE_NOWARNING.rawValue
        | HTML_PARSE_NONET.rawValue | HTML_PARSE_COMPACT.rawValue)
    // Valid UTF-8 is read as UTF-8; anything else as the page declares (libxml2's default).
    let encoding: String? = String(validating: bytes, as: UTF8.self) != nil ? "UTF-8" : nil
    let doc: htmlDocPtr? = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { chars in
        htmlReadMemory(chars.baseAddress, Int32(chars.count), source, encoding, options)
      }
    }
    guard let doc else { return Document(source: source, format: .html, title: fallbackTitle, sections: []) }
    defer { xmlFreeDoc(doc) }
    guard let root = xmlDocGetRootElement(doc) else {
      return Document(source: source, format: .html, title: fallbackTitle, sections: [])
    }
    let title = first("title", under: root).map { collapse(text(of: $0)) } ?? ""
    let main = first("main", under: root) ?? single("article", under: root) ?? first("body", under: root) ?? root
    var builder = SectionBuilder()
    builder.walk(main, depth: 0)
    return Document(
      source: source, format: .html, title: title.isEmpty ? fallbackTitle : title,
      sections: builder.finish())
  }

  static func name(_ node: xmlNodePtr) -> String {
    node.pointee.name.map { String(cString: $0).lowercased() } ?? ""
  }

  static func isElement(_ node: xmlNodePtr) -> Bool { node.pointee.type == XML_ELEMENT_NODE }

  static func attribute(_ node: xmlNodePtr, _ key: String) -> String? {
    guard let value = xmlGetProp(node, key) else { return nil }
    defer { instill_xml_free(value) }
    return String(cString: value)
  }

  /// The first element named `name` in document order.
  static func first(_ name: String, under node: xmlNodePtr) -> xmlNodePtr? {
    var stack = [node]
    while let current = stack.popLast() {
      if isElement(current), self.name(current) == name { return current }
      var children: [xmlNodePtr] = []
      var child = current.pointee.children
      while let c = child {
        children.append(c)
        child = c.pointee.next
      }
      stack.append(contentsOf: children.reversed())
    }
    return nil
  }

  static func single(_ name: String, under node: xmlNodePtr) -> xmlNodePtr? {
    guard let found = first(name, under: node) else { return nil }
    var count = 0
    var stack = [node]
    while let current = stack.popLast() {
      if isElement(current), self.name(current) == name {
        count += 1
        continue
      }
      var child = current.pointee.children
      while let c = child {
        stack.append(c)
        child = c.pointee.next
      }
    }
    return count == 1 ? found : nil
  }

  static func text(of node: xmlNodePtr) -> String {
    guard let content = xmlNodeGetContent(node) else { return "" }
    defer { instill_xml_free(content) }
    return String(cString: content)
  }

  static func collapse(_ text: String) -> String {
    text.split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
  }

  static func isDropped(_ node: xmlNodePtr, name: String) -> Bool {
    if dropped.contains(name) { return true }
    if attribute(node, "hidden") != nil { return true }
    if attribute(node, "aria-hidden")?.lowercased() == "true" { return true }
    if let role = attribute(node, "role")?.lowercased(), droppedRoles.contains(role) { return true }
    return false
  }

  /// Collects text into sections while walking the tree.
  struct SectionBuilder {
    var sections: [Document.Section] = []
    var heading = ""
    var lines: [String] = []
    var line = ""
    var pendingSpace = false

    mutating func walk(_ node: xmlNodePtr, depth: Int, preformatted: Bool = false) {
      guard depth < 512 else { return }
      var child = node.pointee.children
      while let c = child {
        visit(c, depth: depth + 1, preformatted: preformatted)
        child = c.pointee.next
      }
    }

    mutating func visit(_ node: xmlNodePtr, depth: Int, preformatted: Bool) {
      switch node.pointee.type {
      case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
        guard let content = node.pointee.content else { return }
        append(String(cString: content), preformatted: preformatted)
      case XML_ELEMENT_NODE:
        let name = HTMLText.name(node)
        if HTMLText.isDropped(node, name: name) { return }
        if name.count == 2, name.first == "h", let level = name.last?.wholeNumberValue, (1...6).contains(level) {
          startSection(HTMLText.collapse(HTMLText.text(of: node)))
          return
        }
        if name == "br" {
          breakLine()
          return
        }
        let block = HTMLText.blocks.contains(name)
        if block { breakLine() }
        walk(node, depth: depth, preformatted: preformatted || name == "pre")
        if block { breakLine() }
        if name == "p" || name == "pre" || name == "blockquote" || name == "table" { lines.append("") }
      default:
        return
      }
    }

    mutating func append(_ text: String, preformatted: Bool) {
      if preformatted {
        let parts = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
          if i > 0 { breakLine() }
          line += part
        }
        return
      }
      for scalar in text.unicodeScalars {
        if scalar.properties.isWhitespace {
          pendingSpace = true
        } else {
          if pendingSpace && !line.isEmpty { line.unicodeScalars.append(" ") }
          pendingSpace = false
          line.unicodeScalars.append(scalar)
        }
      }
    }

    mutating func breakLine() {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if !trimmed.isEmpty { lines.append(trimmed) }
      line = ""
      pendingSpace = false
    }

    mutating func startSection(_ newHeading: String) {
      breakLine()
      let text = TextCleanup.normalize(lines.joined(separator: "\n"))
      if !text.isEmpty || !heading.isEmpty { sections.append(.init(heading: heading, text: text)) }
      lines.removeAll()
      heading = newHeading
    }

    mutating func finish() -> [Document.Section] {
      startSection("")
      return sections
    }
  }
}
