import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Renders a page in headless Chromium: the DOM after parsing, and the browser's log.
func renderInChromium(_ file: String) async throws -> (dom: String, log: String) {
  guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
    Issue.record("chromium is not installed (Scripts/test installs it from Debian)")
    return ("", "")
  }
  let result = try await runProgram("/usr/bin/chromium", [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
    "--user-data-dir=" + NSTemporaryDirectory() + "/chromium-\(UUID().uuidString)", "--dump-dom", "file://" + file,
  ])
  return (result.stdout, result.stderr)
}

/// Lines of the browser's log that report a console message or a failed load.
func consoleProblems(_ log: String) -> [String] {
  log.split(separator: "\n").map(String.init).filter {
    $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("ERR_FILE_NOT_FOUND") || $0.contains("Refused to")
  }
}

/// `instill report`: one self-contained HTML page, opened in a real browser.
struct ReportTests {
  @Test func recordTextIsShownAsTextAndThePageLoadsCleanlyInABrowser() async throws {
    let dir = TempDir()
    let evil = "<script>alert(1)</script> & <img src=x onerror=alert(2)> &lt;b&gt;"
    var lines = ""
    for i in 0..<12 {
      let output = i == 3 ? evil : i % 4 == 0 ? "As an AI, I cannot \(i)." : "Answer \(i) with several words in it."
      lines += JSONWriter.string(.object(["instruction": .string("Question <b>\(i)</b>?"), "output": .string(output),
                                          "meta": .object(["method": .string("demo")])])) + "\n"
    }
    dir.write("in.jsonl", lines)
    let pipeline = dir.write("p.yaml", """
      name: report-demo
      stages:
        - kind: read
          path: in.jsonl
        - name: quality
          kind: filter
          filters:
            - {type: refusal}
            - {type: keywords, field: output, words: ["alert"], match: substring}
        - kind: export
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let result = try await instill(expect: 0, "report", run)
    #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == run + "/report.html")
    let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    // Self-contained: no scripts, no external resources.
    #expect(!html.contains("<script"))
    #expect(!html.contains("<link"))
    #expect(!html.contains("<img") && !html.contains("<iframe") && !html.contains("@import") && !html.contains("url("))
    #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt; &amp;lt;b&amp;gt;"))

    let (dom, log) = try await renderInChromium(run + "/report.html")
    #expect(consoleProblems(log).isEmpty, "\(consoleProblems(log))")
    #expect(dom.contains("<svg"), "the charts are in the DOM")
    #expect(!dom.contains("<script"), "a record's <script> became an element")
    #expect(!dom.contains("<img"), "a record's <img> became an element")
    // The example's text node, re-serialized by the browser, is the record's text exactly.
    #expect(dom.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt; &amp;lt;b&amp;gt;"))
    #expect(dom.contains("quality"))
    #expect(dom.contains("refusal: refusal:as an ai — 3 dropped"))

    let custom = dir.file("out/r.html")
    try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
    try await instill(expect: 0, "report", run, "--output", custom)
    #expect(FileSystem.exists(custom))
    try await instill(expect: 2, "report", dir.file("nowhere"))
  }
}

extension ReportTests {
  /// Journal lines carry their arrival time; the report charts responses and tokens over time.
  @Test func theReportChartsRequestsAndTokensOverTime() async throws {
    let dir = TempDir()
    let server = try TestHTTPServer { _, _, body in
      FakeModel.respond("Answer <b>bold</b> & more.", chat: FakeModel.promptText(body)?.endpointIsChat ?? true)
    }
    defer { server.stop() }
    var lines = ""
    for i in 0..<20 { lines += "{\"instruction\": \"Question \(i)?\"}\n" }
    dir.write("q.jsonl", lines)
    let pipeline = dir.write("p.yaml", """
      name: timeline
      llm: {provider: openai, base_url: \(server.baseURL), model: fake}
      stages:
        - kind: read
          path: q.jsonl
        - kind: generate
          prompt: "{instruction}"
      """)
    let run = dir.file("run")
    try await instill(expect: 0, "run", pipeline, "--run-dir", run)
    let journal = try String(contentsOfFile: run + "/stages/02-generate/journal/shard-00000.jsonl", encoding: .utf8)
    for line in journal.split(separator: "\n") {
      let at = try JSONParser.parse(String(line)).objectValue?["at"]?.doubleValue ?? 0
      #expect(abs(at - Date().timeIntervalSince1970) < 600)
    }
    try await instill(expect: 0, "report", run)
    let (dom, log) = try await renderInChromium(run + "/report.html")
    #expect(consoleProblems(log).isEmpty, "\(consoleProblems(log))")
    #expect(dom.contains("Requests and tokens over time"))
    #expect(dom.contains("20 responses journaled from"))
    #expect(!dom.contains("<b>bold</b>"))
  }
}

/// Every pipeline we ship validates, and its first (source) stage runs with counts that add up.
struct ShippedPipelineTests {
  @Test func everyShippedPipelineValidatesAndItsSourceStageAddsUp() async throws {
    let dir = TempDir()
    let files = FileSystem.list(repositoryPath("Pipelines")).filter { $0.hasSuffix(".yaml") }
      + FileSystem.list(repositoryPath("Pipelines/slurm")).filter { $0.hasSuffix(".yaml") }.map { "slurm/" + $0 }
    #expect(files.count >= 9, "\(files)")
    for file in files {
      let path = repositoryPath("Pipelines/" + file)
      try await instill(expect: 0, "validate", path)
      let text = try String(contentsOfFile: path, encoding: .utf8)
      // The first stage's name: the first `- name:` or, without one, its kind.
      let firstStage = text.split(separator: "\n").first { $0.contains("- name:") || $0.contains("- kind:") }
        .map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? ""
      let run = dir.file("run-" + file.replacingOccurrences(of: "/", with: "-"))
      try await instill(expect: 0, "run", path, "--run-dir", run, "--stage", firstStage)
      let stats = try await statsJSON(run)
      let first = stats["stages"]?.arrayValue?.first?.objectValue
      #expect(first?["status"] == .string("complete"), "\(file)")
      #expect(first?["counts_add_up"] == .bool(true), "\(file)")
      #expect((first?["stats"]?.objectValue?["records_out"]?.intValue ?? 0) > 0, "\(file)")
    }
  }
}
