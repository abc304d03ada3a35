import Foundation
import InstillCore
import InstillReverse
import InstillTestSupport
import Synchronization
import Testing

/// The `documents` stage on real, messy input: web pages in several languages,
/// malformed HTML, a MediaWiki dump, URLs that break halfway or do not exist.
struct DocumentsTests {
  /// Runs a pipeline whose only stage is `documents` with these keys; returns the run directory.
  @discardableResult
  func runDocuments(_ dir: TempDir, _ keys: String, expect status: Int32 = 0, name: String = "docs") async throws
    -> String
  {
    let pipeline = dir.write(
      "\(name).yaml",
      "name: \(name)\nseed: 3\nstages:\n  - kind: documents\n"
        + keys.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n")
    let run = dir.file("run-\(name)")
    try await instill(expect: status, "run", pipeline, "--run-dir", run)
    return run
  }

  func segments(_ run: String) throws -> [Record] {
    try FileSystem.list(run + "/stages/01-documents").filter { $0.hasSuffix(".jsonl.gz") }
      .flatMap { try RecordReader.readAll(path: run + "/stages/01-documents/" + $0) }
  }

  func countsAddUp(_ stats: JSONObject) -> Bool {
    let filterTotal: Int = filterDrops(stats).values.flatMap(\.values).reduce(0, +)
    var otherTotal = 0
    for (_, n) in stats["dropped"]?.objectValue ?? [:] { otherTotal += n.intValue ?? 0 }
    let drops = filterTotal + otherTotal
    return stats["records_in"]?.intValue == (stats["records_out"]?.intValue ?? -1) + drops
  }

  func document(_ record: Record) -> JSONObject { record.meta["document"]?.objectValue ?? [:] }

  /// Real prose (arXiv abstracts shipped in Seeds/documents): the n-th one.
  func prose(_ n: Int) throws -> String {
    let records = try RecordReader.readAll(path: repositoryPath("Seeds/documents/arxiv-abstracts.jsonl"))
    return records[n].string("text") ?? ""
  }

  @Test func everyWebPageOfTheCorpusBecomesSegmentsInItsOwnLanguage() async throws {
    let dir = TempDir()
    let web = repositoryPath("Seeds/documents/web")
    let pages = FileSystem.list(web)
    #expect(pages.count == 4)
    let run = try await runDocuments(dir, "sources: [\(web)]\nsplit_long: true\nmin_chars: 200")
    let records = try segments(run)
    for page in pages {
      let mine = records.filter { (document($0)["source"]?.stringValue ?? "").hasSuffix(page) }
      #expect(!mine.isEmpty, "no segment from \(page)")
      for record in mine {
        let text = record.string("text") ?? ""
        #expect(text.count >= 200 && text.count <= 3000, "\(page): \(text.count) characters")
        #expect(!text.hasPrefix(" ") && !text.hasSuffix("\n") && !text.contains("\n\n\n"))
      }
    }
    // The Chinese page stays Chinese (no mojibake, nothing dropped for being non-Latin).
    let chinese = records.filter { (document($0)["source"]?.stringValue ?? "").hasSuffix(".zh.txt") }
    #expect(!chinese.isEmpty)
    #expect(
      chinese.allSatisfy {
        ($0.string("text") ?? "").unicodeScalars.filter { (0x4E00...0x9FFF).contains($0.value) }.count > 50
      })
    let stats = try await stageStats(run, "documents")
    #expect(countsAddUp(stats))
    #expect(stats["counters"]?.objectValue?["documents"] == .int(4))

    // Without split_long the long pages are dropped as too long, with examples.
    let whole = try await runDocuments(dir, "sources: [\(web)]", name: "whole")
    let wholeStats = try await stageStats(whole, "documents")
    let drops = filterDrops(wholeStats)["length"] ?? [:]
    #expect((drops["too_long"] ?? 0) >= 2, "\(drops)")
    #expect(countsAddUp(wholeStats))
  }

  @Test func htmlKeepsTheMainTextAndDropsPageFurniture() async throws {
    let dir = TempDir()
    let body = try prose(0)
    let other = try prose(1)
    dir.write(
      "pages/good.html",
      """
      <!DOCTYPE html><html><head><title>Keepers</title><style>p { color: red }</style>
      <script>var x = "</div><h2>not a heading</h2>";</script></head>
      <body><header><h1>Site name</h1><nav><a href="/">Home</a> | <a href="/a">About</a></nav></header>
      <aside>Related: buy our lamps!</aside>
      <main><h1>Life of a keeper</h1><p>\(body)</p>
      <p>Second   paragraph &amp; more text&nbsp;here.</p>
      <h2>Fog signals</h2><p>\(other) Bells and sirens.</p>
      <form><input value="Subscribe"><button>Go</button></form>
      <div role="navigation">Previous | Next</div></main>
      <footer>© 2026 Lamps Inc. All rights reserved.</footer></body></html>
      """)
    // Malformed: unclosed tags, a stray end tag, truncated in the middle of a tag.
    dir.write(
      "pages/broken.htm",
      "<html><body><div><p>\(body)<p><b>bold <i>both</b> text</i></div></span>"
        + "<h2>Cut short</h2><p>\(other) and then the file ends in<a hre")
    // Not UTF-8: Latin-1 bytes with a charset declaration.
    var latin1 = Array("<html><head><meta charset=\"iso-8859-1\"></head><body><p>Caf".utf8)
    latin1.append(0xE9)
    let ascii = String(String.UnicodeScalarView(body.unicodeScalars.filter(\.isASCII)))
    latin1 += Array(" cr\(ascii)".utf8)
    latin1.append(0xE8)
    latin1 += Array("me.</p></body></html>".utf8)
    dir.write("pages/latin1.html", bytes: latin1)
    dir.write("pages/empty.html", "")
    let run = try await runDocuments(dir, "sources: [pages]\nmin_chars: 100")
    let records = try segments(run)
    let texts = records.map { $0.string("text") ?? "" }
    let all = texts.joined(separator: "\n")
    for junk in ["color: red", "not a heading", "Home", "buy our lamps", "Subscribe", "Previous | Next", "Lamps Inc"] {
      #expect(!all.contains(junk), "page furniture kept: \(junk)")
    }
    let good = records.filter { document($0)["source"]?.stringValue?.hasSuffix("good.html") == true }
    #expect(good.map { document($0)["heading"]?.stringValue } == ["Life of a keeper", "Fog signals"])
    #expect(good.first.map { document($0)["title"] } == .string("Keepers"))
    #expect(good.first?.string("text")?.contains("Second paragraph & more text here.") == true)
    let broken = records.filter { document($0)["source"]?.stringValue?.hasSuffix("broken.htm") == true }
    #expect(broken.count == 2)
    #expect(broken.first?.string("text")?.contains("bold both text") == true)
    #expect(broken.last?.string("text")?.hasSuffix("and then the file ends in") == true)
    #expect(
      texts.contains { $0.hasPrefix("Café cr" + ascii.prefix(20)) && $0.hasSuffix("representations.ème.") },
      "\(texts.map { $0.prefix(40) + "…" + $0.suffix(20) })")
    let stats = try await stageStats(run, "documents")
    #expect(stats["counters"]?.objectValue?["documents"] == .int(4))
    #expect(countsAddUp(stats))
  }

  @Test func aWikiDumpIsStreamedIntoArticleSectionsWithoutMarkup() async throws {
    let dir = TempDir()
    for dump in ["Seeds/documents/sample-wiki.xml", "Seeds/documents/sample-wiki.xml.bz2"] {
      let run = try await runDocuments(
        dir, "sources: [\(repositoryPath(dump))]\nmin_chars: 300",
        name: dump.hasSuffix("bz2") ? "bz2" : "xml")
      let records = try segments(run)
      #expect(
        Set(records.compactMap { document($0)["title"]?.stringValue }) == ["Sourdough", "Lighthouse", "Honeybee dance"])
      let headings: [String] = records.compactMap { document($0)["heading"]?.stringValue }
      #expect(headings.contains("Fog signals"))
      for record in records {
        let text = record.string("text") ?? ""
        for markup in [
          "{{", "}}", "[[", "]]", "<ref", "'''", "''", "{|", "Category:", "wikitable", "Sauerteig", "File:",
        ] {
          #expect(!text.contains(markup), "\(markup) left in: \(text.prefix(200))")
        }
      }
      let sourdough = records.first { document($0)["title"] == .string("Sourdough") }?.string("text") ?? ""
      #expect(sourdough.hasPrefix("Sourdough is bread made to rise by a starter"))
      #expect(sourdough.contains("whole-grain flour that make"))  // [[Wholemeal flour|whole-grain flour]] → its label
      let counters = try await stageStats(run, "documents")["counters"]?.objectValue ?? [:]
      #expect(counters["wiki_redirects"] == .int(1))
      #expect(counters["wiki_other_namespace"] == .int(1))
      #expect(counters["documents"] == .int(3))
    }
  }

  @Test func aBrokenDumpIsAnInputErrorNamingTheFile() async throws {
    let dir = TempDir()
    let xml = try String(contentsOfFile: repositoryPath("Seeds/documents/sample-wiki.xml"), encoding: .utf8)
    let cut = dir.write("cut.xml", String(xml.prefix(xml.count / 2)))
    let result = try await runDocuments(dir, "sources: [\(cut)]", expect: 2, name: "cut")
    _ = result
    let bz2 = try [UInt8](Data(contentsOf: URL(fileURLWithPath: repositoryPath("Seeds/documents/sample-wiki.xml.bz2"))))
    let cutBz2 = dir.write("cut.xml.bz2", bytes: Array(bz2.prefix(bz2.count / 2)))
    let pipeline = dir.write("bz.yaml", "name: bz\nstages:\n  - kind: documents\n    sources: [\(cutBz2)]\n")
    let failed = try await instill(expect: 2, "run", pipeline, "--run-dir", dir.file("bz"))
    #expect(failed.stderr.contains("cut.xml.bz2") && failed.stderr.contains("truncated bzip2"), "\(failed.stderr)")
    let pipelineXML = dir.write("x.yaml", "name: x\nstages:\n  - kind: documents\n    sources: [\(cut)]\n")
    let xmlFailed = try await instill(expect: 2, "run", pipelineXML, "--run-dir", dir.file("x"))
    #expect(xmlFailed.stderr.contains(/cut\.xml:[0-9]+: not a readable MediaWiki XML dump/), "\(xmlFailed.stderr)")
  }

  /// A download that stalls halfway, from a server that ignores ranges: the
  /// retry's range request gets the whole page (no_range_support), the next
  /// attempt stalls again. What the user is told is the stall: `timeout`.
  @Test func aStalledDownloadIsReportedAsATimeout() async throws {
    let dir = TempDir()
    let bytes = Array(("<html><body><h2>Tides</h2><p>" + (try prose(2)) + "</p></body></html>").utf8)
    let server = try TestHTTPServer(withHeaders: { _, _, headers, _ in
      if headers["range"] != nil {
        return .respond(status: 200, headers: [("Content-Type", "text/html")], body: bytes)
      }
      return .stalled(
        status: 200, headers: [("Content-Type", "text/html")], body: Array(bytes.prefix(bytes.count / 2)),
        announced: bytes.count)
    })
    defer { server.stop() }
    let url = "http://127.0.0.1:\(server.port)/stalls"
    let keys =
      "sources: [\"\(url)\", \"\(repositoryPath("Seeds/documents/arxiv-abstracts.jsonl"))\"]\n"
      + "min_chars: 300\ndownload: {retries: 1, retry_delay: 0, stall_timeout: 1}"
    let run = try await runDocuments(dir, keys, name: "stall")
    let stats = try await stageStats(run, "documents")
    #expect(filterDrops(stats)["source"] == ["timeout": 1], "\(filterDrops(stats))")
  }

  @Test func anInterruptedDownloadIsResumedWithARangeRequest() async throws {
    let dir = TempDir()
    let page =
      "<html><body><h2>Tides</h2><p>" + (try prose(2)) + "</p><h2>Spring tides</h2><p>" + (try prose(3))
      + "</p></body></html>"
    let bytes = Array(page.utf8)
    let ranges = Mutex<[String]>([])
    let server = try TestHTTPServer(withHeaders: { _, uri, headers, _ in
      if uri.hasPrefix("/missing") {
        return .respond(status: 404, headers: [("Content-Type", "text/plain")], body: Array("no".utf8))
      }
      if let range = headers["range"] {
        ranges.withLock { $0.append(range) }
        let start = Int(range.dropFirst("bytes=".count).prefix { $0.isNumber }) ?? 0
        let rest = Array(bytes[start...])
        return .partial(
          status: 206,
          headers: [
            ("Content-Type", "text/html"),
            ("Content-Range", "bytes \(start)-\(bytes.count - 1)/\(bytes.count)"),
          ],
          body: rest, announced: rest.count)
      }
      // Without a range: half the page, then the connection drops.
      return .partial(
        status: 200, headers: [("Content-Type", "text/html")], body: Array(bytes.prefix(bytes.count / 2)),
        announced: bytes.count)
    })
    defer { server.stop() }
    let url = "http://127.0.0.1:\(server.port)/pages/tides"
    // First run: no retries, so the half download stays in the run directory and the run fails (its only source).
    let keys = "sources: [\"\(url)\"]\nmin_chars: 500\ndownload: {retries: 0}"
    let run = try await runDocuments(dir, keys, expect: 1, name: "tides")
    let downloads = run + "/stages/01-documents/journal/downloads"
    let partial = FileSystem.list(downloads).filter { $0.hasSuffix(".part") }
    #expect(partial.count == 1)
    #expect(FileSystem.size(downloads + "/" + (partial.first ?? "")) == Int64(bytes.count / 2))
    #expect(ranges.withLock { $0 }.isEmpty)
    // Second run: the same command resumes from the bytes on disk and the file is whole.
    let pipeline = dir.file("tides.yaml")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    #expect(ranges.withLock { $0 } == ["bytes=\(bytes.count / 2)-"])
    let files = FileSystem.list(downloads)
    #expect(files.count == 1 && !files[0].hasSuffix(".part"))
    #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: downloads + "/" + files[0]))) == bytes)
    let records = try segments(run)
    #expect(records.compactMap { document($0)["heading"]?.stringValue } == ["Tides", "Spring tides"])
    #expect(records.allSatisfy { document($0)["source"] == .string(url) })
    let stats = try await stageStats(run, "documents")
    #expect(stats["counters"]?.objectValue?["urls_resumed"] == .int(1))

    // A retry inside one run resumes too; a 404 next to a working source is counted and named, not fatal.
    let missing = "http://127.0.0.1:\(server.port)/missing/page.html"
    let both = try await runDocuments(
      dir, "sources: [\"\(url)?again\", \"\(missing)\"]\nmin_chars: 500\ndownload: {retry_delay: 0}",
      name: "both")
    #expect(ranges.withLock { $0 }.count == 2)
    #expect(try segments(both).count == 2)
    let bothStats = try await stageStats(both, "documents")
    #expect(bothStats["counters"]?.objectValue?["urls_resumed"] == .int(1), "a retry within the run resumed too")
    #expect(filterDrops(bothStats)["source"] == ["http_404": 1])
    let examples =
      bothStats["filters"]?.arrayValue?.first { $0.objectValue?["name"] == .string("source") }?
      .objectValue?["examples"]?.objectValue?["http_404"]?.arrayValue?.compactMap(\.stringValue) ?? []
    #expect(examples.count == 1 && examples[0].hasPrefix(missing))
    #expect(countsAddUp(bothStats))

    // Only a 404: every source failed, exit 1 naming the URL.
    let pipelineOnly = dir.write(
      "only.yaml", "name: only\nstages:\n  - kind: documents\n    sources: [\"\(missing)\"]\n")
    let only = try await instill(expect: 1, "run", pipelineOnly, "--run-dir", dir.file("only"))
    #expect(only.stderr.contains(missing) && only.stderr.contains("http_404"), "\(only.stderr)")
  }

  @Test func badSourcesAreConfigurationErrorsWithTheLine() async throws {
    let dir = TempDir()
    dir.write("notes.rtf", "x")
    dir.write("notes.txt", "x")
    for (keys, message) in [
      ("sources: [nowhere.txt]", "not found"),
      ("sources: [notes.rtf]", "format"),
      ("sources: [\"gopher://example.org/x\"]", "scheme"),
      ("sources: [{path: notes.rtf, url: \"http://x\"}]", "exactly one"),
      ("sources: [{path: notes.rtf, format: pdf}]", "unknown format"),
      ("sources: []", "sources"),
      ("sources: [notes.txt]\nmin_chars: 5000\nmax_chars: 100", "min_chars"),
    ] {
      let pipeline = dir.write(
        "bad.yaml",
        "name: bad\nstages:\n  - kind: documents\n"
          + keys.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n") + "\n")
      let result = try await instill(expect: 2, "validate", pipeline)
      #expect(result.stderr.contains(message) && result.stderr.contains("bad.yaml:"), "\(keys): \(result.stderr)")
    }
  }
}

extension DocumentsTests {
  /// `rouge_threshold` removes near-duplicate segments with the ROUGE-L engine;
  /// a `file://` URL is fetched like any other; Markdown splits at headings.
  @Test func nearDuplicateSegmentsGoWithRougeThresholdAndFileURLsAreRead() async throws {
    let dir = TempDir()
    let a = try prose(4)
    let b = try prose(5)
    let nearA = a.replacingOccurrences(of: " the ", with: " a ")  // same text, a few words changed
    #expect(nearA != a)
    let notes = dir.write("notes.md", "# Notes\n\n## First\n\(a)\n\n## Second\n\(nearA)\n\n## Third\n\(b)\n")
    let run = try await runDocuments(
      dir, "sources: [\"file://\(notes)\"]\nmin_chars: 200\nrouge_threshold: 0.7", name: "near")
    let records = try segments(run)
    #expect(records.compactMap { document($0)["heading"]?.stringValue } == ["First", "Third"])
    #expect(records.allSatisfy { document($0)["format"] == .string("markdown") })
    let stats = try await stageStats(run, "documents")
    #expect(filterDrops(stats)["near_duplicate"] == ["rouge_l": 1])
    #expect(stats["counters"]?.objectValue?["urls_fetched"] == .int(1))
    #expect(countsAddUp(stats))
  }
}
