import CXML2
import Foundation
import InstillCore

/// One page of a MediaWiki XML dump.
struct WikiPage {
  var title = ""
  var namespace = 0
  var redirect = false
  var text: [UInt8] = []
}

/// Streams the pages of a MediaWiki XML export (plain, gzip or bzip2) with
/// libxml2's `xmlTextReader`: one page in memory at a time, whatever the size
/// of the dump.
final class WikiDumpReader {
  let path: String
  private let file: DecodedFile
  /// A read failure inside libxml2's input callback, reported after it returns.
  fileprivate var failure: InstillError?
  fileprivate var decodedBytes = 0

  init(path: String) throws(InstillError) {
    self.path = path
    file = try DecodedFile(path: path)
  }

  /// Calls `body` for every page in file order. Malformed XML is an input error
  /// naming the line.
  func forEachPage(_ body: (WikiPage) throws -> Void) throws {
    let context = Unmanaged.passUnretained(self).toOpaque()
    let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_HUGE.rawValue | XML_PARSE_COMPACT.rawValue)
    guard let reader = xmlReaderForIO(wikiRead, nil, context, path, nil, options) else {
      throw InstillError.failure("libxml2 could not start reading", file: path)
    }
    defer { xmlFreeTextReader(reader) }
    var page: WikiPage?
    var element = ""
    while true {
      let status = xmlTextReaderRead(reader)
      if status == 0 { break }
      if status < 0 {
        if let failure { throw failure }
        let line = Int(xmlTextReaderGetParserLineNumber(reader))
        let message =
          xmlGetLastError().flatMap { $0.pointee.message.map { String(cString: $0) } }?
          .trimmingCharacters(in: .whitespacesAndNewlines) ?? "malformed XML"
        throw InstillError.input("not a readable MediaWiki XML dump: \(message)", file: path, line: line)
      }
      let type = xmlTextReaderNodeType(reader)
      let name = xmlTextReaderConstLocalName(reader).map { String(cString: $0) } ?? ""
      switch type {
      case Int32(XML_READER_TYPE_ELEMENT.rawValue):
        if name == "page" {
          page = WikiPage()
        } else if page != nil {
          if name == "redirect" { page?.redirect = true }
          element = name
          if xmlTextReaderIsEmptyElement(reader) == 1 {
            if name == "text" { page?.text = [] }
            element = ""
          }
        }
      case Int32(XML_READER_TYPE_TEXT.rawValue), Int32(XML_READER_TYPE_CDATA.rawValue),
        Int32(XML_READER_TYPE_SIGNIFICANT_WHITESPACE.rawValue):
        guard page != nil, let value = xmlTextReaderConstValue(reader) else { break }
        switch element {
        case "title": page?.title += String(cString: value)
        case "ns": page?.namespace = Int(String(cString: value).trimmingCharacters(in: .whitespaces)) ?? 0
        case "text": page?.text.append(contentsOf: UnsafeBufferPointer(start: value, count: strlen(value)))
        default: break
        }
      case Int32(XML_READER_TYPE_END_ELEMENT.rawValue):
        if name == "page", let done = page {
          try body(done)
          page = nil
        } else if name == element {
          element = ""
        }
        if name == "revision" { element = "" }
      default:
        break
      }
    }
    if let failure { throw failure }
  }

  fileprivate func fill(_ buffer: UnsafeMutablePointer<CChar>, _ count: Int) -> Int32 {
    do {
      let n = try buffer.withMemoryRebound(to: UInt8.self, capacity: count) { bytes throws(InstillError) in
        try file.read(into: bytes, count: count, position: "at decoded byte \(decodedBytes)")
      }
      decodedBytes += n
      return Int32(n)
    } catch {
      failure = error
      return -1
    }
  }
}

/// libxml2's input callback: reads decoded bytes of the dump.
private func wikiRead(_ context: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<CChar>?, _ count: Int32)
  -> Int32
{
  guard let context, let buffer else { return -1 }
  let reader = Unmanaged<WikiDumpReader>.fromOpaque(context).takeUnretainedValue()
  return reader.fill(buffer, Int(count))
}
