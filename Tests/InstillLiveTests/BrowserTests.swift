import Foundation
import InstillCore
import InstillLLM
import InstillTestSupport
import Testing

/// `instill report` pages opened in a real browser (headless Chromium).
struct BrowserTests {
  @Test func recordTextIsShownAsTextAndThePageLoadsCleanlyInABrowser() async throws {
    let dir = TempDir()
    let evil = "<script>alert(1)</script> & <img src=x onerror=alert(2)> &lt;b&gt;"
    var lines = ""
    for i in 0..<12 {
      let output = i == 3 ? evil : i % 4 == 0 ? "As an AI, I cannot \(i)." : "Answer \(i) with several words in it."
      lines +=
        JSONWriter.string(
          .object([
            "instruction": .string("Question <b>\(i)</b>?"), "output": .string(output),
            "meta": .object(["method": .string("demo")]),
          ])) + "\n"
    }
    dir.write("in.jsonl", lines)
    let pipeline = dir.write(
      "p.yaml",
      """
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
    #expect(
      html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt; &amp;lt;b&amp;gt;"))

    let (dom, log) = try await renderInChromium(run + "/report.html")
    #expect(consoleProblems(log).isEmpty, "\(consoleProblems(log))")
    #expect(dom.contains("<svg"), "the charts are in the DOM")
    #expect(!dom.contains("<script"), "a record's <script> became an element")
    #expect(!dom.contains("<img"), "a record's <img> became an element")
    // The example's text node, re-serialized by the browser, is the record's text exactly.
    #expect(
      dom.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(2)&gt; &amp;lt;b&amp;gt;"))
    #expect(dom.contains("quality"))
    #expect(dom.contains("refusal: refusal:as an ai — 3 dropped"))

    let custom = dir.file("out/r.html")
    try FileManager.default.createDirectory(atPath: dir.file("out"), withIntermediateDirectories: true)
    try await instill(expect: 0, "report", run, "--output", custom)
    #expect(FileSystem.exists(custom))
    try await instill(expect: 2, "report", dir.file("nowhere"))
  }

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
    let pipeline = dir.write(
      "p.yaml",
      """
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
    let journal = try String(contentsOfFile: journalFile(run, "02-generate", shard: 0), encoding: .utf8)
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
