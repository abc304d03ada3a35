import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// `instill run --metrics-file`: Prometheus text format for node_exporter's textfile collector.
struct MetricsTests {
  func sample(_ text: String, _ name: String, _ labels: [String: String]) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + "{") {
      guard let close = line.lastIndex(of: "}") else { continue }
      let labelText = line[line.index(line.startIndex, offsetBy: name.count + 1)..<close]
      var found: [String: String] = [:]
      for match in String(labelText).matches(of: /([a-z_]+)="((?:[^"\\]|\\.)*)"/) {
        #expect(found[String(match.output.1)] == nil, "label \(match.output.1) twice in \(line)")
        found[String(match.output.1)] = String(match.output.2)
      }
      if labels.allSatisfy({ found[$0.key] == $0.value }) {
        return Double(line[line.index(after: close)...].trimmingCharacters(in: .whitespaces))
      }
    }
    return nil
  }

  @Test func aRunWritesItsCountsAndExitCodeAsPrometheusMetrics() async throws {
    let dir = TempDir()
    var lines = ""
    for i in 0..<30 {
      let output = i % 3 == 0 ? "I'm sorry, but I cannot answer \(i)." : "Answer number \(i)."
      lines += JSONWriter.string(.object(["instruction": .string("Question \(i)?"), "output": .string(output)])) + "\n"
    }
    dir.write("in.jsonl", lines)
    let pipeline = dir.write("p.yaml", """
      name: metrics-demo
      stages:
        - kind: read
          path: in.jsonl
        - name: quality
          kind: filter
          filters: [{type: refusal}]
        - kind: export
      """)
    let run = dir.file("run")
    let metrics = dir.file("textfile/instill.prom")
    try FileManager.default.createDirectory(atPath: dir.file("textfile"), withIntermediateDirectories: true)
    try await instill(expect: 0, "run", pipeline, "--run-dir", run, "--metrics-file", metrics)
    let text = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(text.hasSuffix("\n"))
    #expect(text.contains("# TYPE instill_stage_records_in_total counter"))
    #expect(sample(text, "instill_stage_records_in_total", ["stage": "quality", "pipeline": "metrics-demo"]) == 30)
    #expect(sample(text, "instill_stage_records_out_total", ["stage": "quality"]) == 20)
    #expect(sample(text, "instill_stage_dropped_total", ["stage": "quality", "filter": "refusal", "reason": "refusal:i'm sorry, but"]) == 10)
    #expect(sample(text, "instill_run_last_exit_code", [:]) == 0)
    #expect(sample(text, "instill_run_complete", [:]) == 1)
    let success = try #require(sample(text, "instill_run_last_success_timestamp_seconds", [:]))
    #expect(abs(success - Date().timeIntervalSince1970) < 120)
    // Every sample line is `name{labels} value`, and each family has one TYPE line.
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      #expect(line.contains(/^instill_[a-z_]+\{[^}]*\} [0-9.e+-]+$/), "\(line)")
    }
    let types = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }
    #expect(Set(types).count == types.count)
    #expect(FileSystem.list(dir.file("textfile")) == ["instill.prom"], "no temporary file left for the collector")

    // A later invocation that fails keeps the time of the last success and reports its exit code.
    try await Task.sleep(for: .milliseconds(1100))
    dir.write("p.yaml", "name: metrics-demo\nstages:\n  - kind: read\n    path: in.jsonl\n  - name: quality\n    kind: filter\n    filters: [{type: refusal}]\n  - kind: export\n    format: alpaca\n")
    try await instill(expect: 2, "run", pipeline, "--run-dir", run, "--metrics-file", metrics)
    let after = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(sample(after, "instill_run_last_exit_code", [:]) == 2)
    #expect(sample(after, "instill_run_last_success_timestamp_seconds", [:]) == success)
  }
}
