import Foundation
import InstillCore

/// `kind: documents` — reads human-written text into segment records for
/// reverse instructions: local files and folders (plain, gzip or bzip2) and
/// URLs; plain text, Markdown, HTML, JSONL with a text field, and MediaWiki XML
/// dumps (streamed). Sections are cut at headings and cleaned by the segment
/// rules (`CleaningSettings`). A record is `{id, text}` with `meta.document`
/// (source, format, title, heading, section).
public struct DocumentsStage: GlobalStage {
  public struct Source: Sendable {
    public enum Location: Sendable { case path(String), url(String) }
    public var location: Location
    /// Nil: told by the file name, or for URLs by the content.
    public var format: DocumentFormat?
    public var textField: String
    public var titleField: String?

    var name: String {
      switch location {
      case .path(let p): p
      case .url(let u): u
      }
    }
  }

  public var sources: [Source] = []
  public var cleaning = CleaningSettings()
  public var fetch = FetchSettings()
  /// Wiki namespaces kept (articles only by default).
  public var namespaces: Set<Int> = [0]
  /// Largest file read whole (text, Markdown, HTML), decoded.
  public var maxFileBytes = 64 << 20
  public var limit: Int?
  public var idPrefix = "doc"
  public var recordsPerShard = 1000

  public var outputRecordsPerShard: Int { recordsPerShard }

  public static func register(in catalog: inout StageCatalog) {
    catalog.register("documents") { params, context throws(InstillError) in
      guard context.isFirstStage else {
        throw params.owner.error("a documents stage must be the first stage of the pipeline")
      }
      var stage = DocumentsStage()
      stage.idPrefix = try params.string("id_prefix", default: context.stageName)
      let textField = try params.string("text_field", default: "text")
      let titleField = try params.optionalString("title_field")
      guard let list = try params.list("sources"), !list.isEmpty else {
        throw params.owner.error(
          "a documents stage needs 'sources': a list of files, folders or URLs", field: "sources")
      }
      for node in list {
        stage.sources.append(try source(node, textField: textField, titleField: titleField, context))
      }
      try stage.cleaning.parse(params)
      if let download = try params.map("download") { try stage.fetch.parse(download) }
      if let spaces = try params.list("namespaces") {
        stage.namespaces = Set(try spaces.map { node throws(InstillError) in try node.int() })
      }
      stage.maxFileBytes = try params.int("max_file_bytes", default: stage.maxFileBytes, in: 1...Int.max)
      stage.limit = try params.optionalInt("limit", in: 1...Int.max)
      stage.recordsPerShard = try params.int("records_per_shard", default: 1000, in: 1...10_000_000)
      return stage
    }
  }

  private static func source(
    _ node: ConfigNode, textField: String, titleField: String?,
    _ context: StageBuildContext
  ) throws(InstillError) -> Source {
    if let text = try? node.string() {
      if text.contains("://") {
        return Source(location: .url(try checkedURL(text, node)), textField: textField, titleField: titleField)
      }
      let path = try context.inputSource(node)
      return Source(
        location: .path(path), format: try format(of: node, path: path), textField: textField, titleField: titleField)
    }
    let map = try node.mapping()
    var source: Source
    switch (map.node("path"), map.node("url")) {
    case (let path?, nil):
      let resolved = try context.inputSource(path)
      source = Source(location: .path(resolved), textField: textField, titleField: titleField)
    case (nil, let url?):
      source = Source(
        location: .url(try checkedURL(try url.string(), url)), textField: textField, titleField: titleField)
    default:
      throw node.error("a source is a path, a URL, or a map with exactly one of 'path' and 'url'")
    }
    if let format = try map.optionalString("format") {
      guard let known = DocumentFormat(rawValue: format) else {
        throw (map.node("format") ?? node).error(
          "unknown format '\(format)' (known: "
            + DocumentFormat.allCases.map(\.rawValue).joined(separator: ", ") + ")")
      }
      source.format = known
    } else if case .path(let path) = source.location, !FileSystem.isDirectory(path) {
      source.format = try self.format(of: node, path: path)
    }
    source.textField = try map.string("text_field", default: textField)
    source.titleField = try map.optionalString("title_field") ?? titleField
    try map.finish()
    return source
  }

  private static func checkedURL(_ text: String, _ node: ConfigNode) throws(InstillError) -> String {
    let scheme = text.prefix(while: { $0 != ":" }).lowercased()
    guard ["http", "https", "ftp", "file"].contains(scheme) else {
      throw node.error("unsupported URL scheme '\(scheme)' (http, https, ftp and file are read)")
    }
    return text
  }

  /// A file's format from its name; folders are decided file by file.
  private static func format(of node: ConfigNode, path: String) throws(InstillError) -> DocumentFormat? {
    if FileSystem.isDirectory(path) { return nil }
    guard let format = DocumentFormat.from(name: path) else {
      throw node.error(
        "cannot tell the format of '\(path)' from its name; give the source a 'format' "
          + "(\(DocumentFormat.allCases.map(\.rawValue).joined(separator: ", ")))")
    }
    return format
  }

  public func validate() throws(InstillError) {}

  public func run(_ input: StageInput, into output: ShardedOutput, context: StageContext) async throws {
    context.stats.declareFilters(
      ["source"] + SegmentCleaner.filterNames.filter { $0 != "near_duplicate" || cleaning.rougeThreshold != nil })
    let cleaner = SegmentCleaner(settings: cleaning, stats: context.stats)
    let downloads = (context.journalPath as NSString).deletingLastPathComponent + "/downloads"
    let fetcher = Fetcher(directory: downloads, settings: fetch)
    var failed: [String] = []
    let writer = SegmentWriter(output: output, context: context, idPrefix: idPrefix, limit: limit, cleaner: cleaner)
    for source in sources {
      if writer.full { break }
      switch source.location {
      case .path(let path):
        let files = FileSystem.isDirectory(path) ? FileSystem.filesBelow(path) : [path]
        for file in files {
          if writer.full { break }
          guard let format = source.format ?? DocumentFormat.from(name: file) else {
            context.stats.count("files_skipped")  // a folder's file of no known kind
            continue
          }
          try read(file, format: format, source: source, name: file, writer)
        }
        context.stats.filter("source", kept: true)
      case .url(let url):
        let logger = context.logger
        switch await fetcher.fetchOffPool(url, log: { logger.warning("\($0)") }) {
        case .success(let fetched):
          if fetched.resumedFrom > 0 {
            context.stats.count("urls_resumed")
            context.logger.info("\(url): resumed a download interrupted at byte \(fetched.resumedFrom)")
          }
          context.stats.count("urls_fetched")
          let head = (try? DecodedFile.head(fetched.path, bytes: 4096)) ?? []
          let format =
            source.format ?? DocumentFormat.from(name: url.split(separator: "?")[0].description)
            ?? (fetched.contentType?.contains("html") == true ? .html : DocumentFormat.sniff(head[...]))
          try read(fetched.path, format: format, source: source, name: url, writer)
          context.stats.filter("source", kept: true)
        case .failure(let failure):
          failed.append("\(url) (\(failure.reason): \(failure.message))")
          context.logger.error("source \(url) failed: \(failure.reason): \(failure.message)")
          context.stats.recordIn()  // a failed source counts as an input dropped by the `source` filter
          context.stats.filter("source", kept: false, reason: failure.reason, example: "\(url): \(failure.message)")
        }
      }
      try context.checkStop()
    }
    if !failed.isEmpty && failed.count == sources.count {
      throw InstillError.failure("every source failed: " + failed.joined(separator: "; "))
    }
  }

  /// Reads one local file (or a fetched URL's file) into documents and hands their sections to the writer.
  private func read(
    _ file: String, format: DocumentFormat, source: Source, name: String,
    _ writer: SegmentWriter
  ) throws {
    let base = ((name as NSString).lastPathComponent as NSString).deletingPathExtension
    switch format {
    case .wiki:
      let reader = try WikiDumpReader(path: file)
      do {
        try reader.forEachPage { page in
          guard !writer.full else { throw StopReading() }
          guard namespaces.contains(page.namespace) else {
            writer.context.stats.count("wiki_other_namespace")
            return
          }
          guard !page.redirect else {
            writer.context.stats.count("wiki_redirects")
            return
          }
          writer.context.stats.count("documents")
          try writer.write(
            Document(source: name, format: .wiki, title: page.title, sections: WikiMarkup.sections(page.text)))
        }
      } catch is StopReading {}
    case .jsonl:
      let reader = try RecordReader(path: file)
      defer { reader.close() }
      while let record = try reader.read(), !writer.full {
        guard let value = record[source.textField] else {
          throw InstillError.input(
            "missing the text field", file: file, line: reader.lineNumber, field: source.textField)
        }
        guard case .string(let text) = value else {
          throw InstillError.input(
            "expected text, found \(value.kindDescription)", file: file, line: reader.lineNumber,
            field: source.textField)
        }
        let title = source.titleField.flatMap { record[$0]?.stringValue } ?? record.id ?? "\(base):\(reader.lineNumber)"
        writer.context.stats.count("documents")
        try writer.write(
          PlainText.document(
            text, source: name + (record.id.map { "#" + $0 } ?? ":\(reader.lineNumber)"),
            format: .jsonl, title: title))
      }
    case .html:
      writer.context.stats.count("documents")
      try writer.write(
        HTMLText.document(try DecodedFile.readAll(file, limit: maxFileBytes), source: name, fallbackTitle: base))
    case .text, .markdown:
      let bytes = try DecodedFile.readAll(file, limit: maxFileBytes)
      let skipBOM = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
      guard let text = String(validating: bytes[skipBOM...], as: UTF8.self) else {
        throw InstillError.input("not valid UTF-8 text", file: file)
      }
      writer.context.stats.count("documents")
      try writer.write(PlainText.document(text, source: name, format: format, title: base))
    }
  }
}

/// Thrown inside a page callback once `limit` segments are written.
struct StopReading: Error {}

/// Numbers, cleans and writes segments, in source order.
final class SegmentWriter {
  let output: ShardedOutput
  let context: StageContext
  let idPrefix: String
  let limit: Int?
  let cleaner: SegmentCleaner
  private(set) var emitted = 0

  init(output: ShardedOutput, context: StageContext, idPrefix: String, limit: Int?, cleaner: SegmentCleaner) {
    self.output = output
    self.context = context
    self.idPrefix = idPrefix
    self.limit = limit
    self.cleaner = cleaner
  }

  var full: Bool { limit.map { emitted >= $0 } ?? false }

  func write(_ document: Document) throws {
    for (index, section) in document.sections.enumerated() where !full {
      for text in cleaner.segments(of: section) {
        guard !full else {
          context.stats.drop("over_limit")  // a second piece of a split section after the limit
          continue
        }
        var record = Record()
        record.id = "\(idPrefix)-\(emitted)"
        record["text"] = .string(text)
        record.meta = [
          "document": .object([
            "source": .string(document.source), "format": .string(document.format.rawValue),
            "title": .string(document.title), "heading": .string(section.heading), "section": .int(index),
          ])
        ]
        try output.write(record)
        context.stats.recordOut()
        emitted += 1
        if emitted & 255 == 0 { try context.checkStop() }
      }
    }
  }
}
