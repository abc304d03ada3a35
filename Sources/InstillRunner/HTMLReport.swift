import Foundation
import InstillCore
import InstillFilters
import Plot

/// `instill report DIR`: one self-contained HTML page (no network, no scripts,
/// no external fonts) built with Plot, whose text nodes are escaped by
/// construction; record text never goes through a raw node. Charts are inline
/// SVG drawn here from numbers.
public enum HTMLReport {
  typealias BodyNode = Node<HTML.BodyContext>

  /// Records read per stage for the histograms and mixes (the first shards).
  public static let sampleLimit = 5000

  public static func render(directory: RunDirectory) throws(InstillError) -> String {
    let report = try StatsReport.load(directory: directory)
    var sections: [BodyNode] = []
    for entry in report.stages {
      let folder = (entry.index < 10 ? "0" : "") + "\(entry.index)-\(entry.name)"
      sections.append(stageSection(entry, records: sample(directory.stageDirectory(folder))))
    }
    let title = "instill report: \(report.pipeline.isEmpty ? directory.path : report.pipeline)"
    let state = report.complete ? "Complete." : report.runningStage.map { "Running: stage \($0)." } ?? "Not complete."
    let when = report.updatedAt.map { " Statistics of \($0)." } ?? ""
    let body: [BodyNode] =
      [
        .h1(safe(title)), .p(safe("Run directory \(directory.path). \(state)\(when)")), overview(report),
        timeline(directory),
      ] + sections
    let html = HTML(
      .head(.title(title), .meta(.charset(.utf8)), .style(css)),
      .body(.group(body)))
    return html.render(indentedBy: .spaces(1))
  }

  /// Text for a Plot text node: Plot escapes `<` and `>` but keeps `&…;`
  /// sequences as entities, so `&` is escaped first and the page shows the
  /// record's text exactly.
  static func safe<Context>(_ text: String) -> Node<Context> {
    .text(text.replacingOccurrences(of: "&", with: "&amp;"))
  }

  static func sample(_ stageDirectory: String) -> [Record] {
    var records: [Record] = []
    for name in FileSystem.list(stageDirectory) where name.hasPrefix("shard-") && name.hasSuffix(".jsonl.gz") {
      guard let reader = try? RecordReader(path: stageDirectory + "/" + name) else { continue }
      defer { reader.close() }
      while records.count < sampleLimit, let record = try? reader.read() { records.append(record) }
      if records.count >= sampleLimit { break }
    }
    return records
  }

  static func overview(_ report: StatsReport) -> BodyNode {
    var rows: [Node<HTML.TableContext>] = [
      .tr(
        .th("stage"), .th("kind"), .th("status"), .th("in"), .th("out"), .th("dropped"),
        .th("requests"), .th("tokens"), .th("cost"), .th("seconds"))
    ]
    for entry in report.stages {
      let s = entry.stats
      rows.append(
        .tr(
          .td(safe(entry.name)), .td(safe(entry.kind)), .td(safe(entry.status)), .td(safe("\(s.recordsIn)")),
          .td(safe("\(s.recordsOut)")), .td(safe("\(s.droppedTotal)")),
          .td(safe("\(s.llm.requestsSent) sent, \(s.llm.answeredFromJournal) from journal")),
          .td(safe("\(s.llm.promptTokens + s.llm.completionTokens)")),
          .td(safe(entry.cost?.summary ?? "-")),
          .td(safe(String(format: "%.1f", s.wallSeconds)))))
    }
    let llmStages = report.stages.filter { !$0.stats.llm.isEmpty }
    return .div(
      .h2("Stages"),
      .table(.group(rows)),
      .if(report.cost != nil, .p(.class("cost"), safe(report.cost?.summary ?? ""))),
      .if(
        !llmStages.isEmpty,
        .group(
          .h3("Requests per stage (in stage order, i.e. over the run)"),
          bars(llmStages.map { ($0.name, $0.stats.llm.requestsSent + $0.stats.llm.answeredFromJournal, "req") }),
          .h3("Tokens per stage"),
          bars(llmStages.map { ($0.name, $0.stats.llm.promptTokens + $0.stats.llm.completionTokens, "tok") }))))
  }

  static func stageSection(_ entry: StatsReport.StageEntry, records: [Record]) -> BodyNode {
    let s = entry.stats
    var funnel: [(String, Int, String)] = [("in", s.recordsIn, "in"), ("kept", s.recordsOut, "kept")]
    for (reason, n) in s.dropped.sorted(by: { $0.value > $1.value }) { funnel.append((reason, n, "drop")) }
    for f in s.filters {
      for (reason, n) in f.dropped.sorted(by: { $0.value > $1.value }) {
        funnel.append(("\(f.name): \(reason)", n, "drop"))
      }
    }
    var parts: [BodyNode] = [
      .h2(safe("\(entry.index). \(entry.name) (\(entry.kind), \(entry.status))")),
      .h3("Funnel"),
      bars(funnel),
    ]
    if !s.filters.isEmpty { parts.append(filtersTable(s.filters)) }
    if !records.isEmpty {
      let instructions = records.compactMap { $0.string("instruction") }.filter { !$0.isEmpty }
      let outputs = records.compactMap { $0.string("output") }.filter { !$0.isEmpty }
      if !instructions.isEmpty {
        parts.append(.h3(safe("Instruction length (words, \(instructions.count) records)")))
        parts.append(
          histogram(instructions.map { Double(Text.wordCount($0)) }, edges: wordEdges, format: { "\(Int($0))" }))
      }
      if !outputs.isEmpty {
        parts.append(.h3(safe("Output length (words, \(outputs.count) records)")))
        parts.append(histogram(outputs.map { Double(Text.wordCount($0)) }, edges: wordEdges, format: { "\(Int($0))" }))
      }
      let similarities = records.compactMap(nearestSimilarity)
      if !similarities.isEmpty {
        parts.append(.h3(safe("ROUGE-L similarity to the nearest earlier text (\(similarities.count) records)")))
        parts.append(
          histogram(
            similarities, edges: stride(from: 0.0, through: 1.0, by: 0.1).map { $0 },
            format: { String(format: "%.1f", $0) }))
      }
      for key in ["method", "operation", "style", "score", "topic", "persona"] {
        var mix: [String: Int] = [:]
        for record in records {
          let value =
            record.meta[key]?.stringValue ?? record.meta["reverse"]?.objectValue?[key]?.stringValue
            ?? (key == "score" ? record.meta["curation"]?.objectValue?["score"]?.intValue.map { "score \($0)" } : nil)
          if let value { mix[value, default: 0] += 1 }
        }
        if !mix.isEmpty {
          parts.append(.h3(safe("\(key.capitalized) mix")))
          parts.append(
            bars(
              mix.byCountDescending.map {
                ($0.key, $0.value, "mix")
              }))
        }
      }
    }
    if !s.llm.isEmpty {
      let p50 = s.llm.latencyPercentile(0.5).map { "p50 \(Int($0)) ms" } ?? ""
      let p95 = s.llm.latencyPercentile(0.95).map { ", p95 \(Int($0)) ms" } ?? ""
      parts.append(
        .p(
          safe(
            "LLM: \(s.llm.requestsSent) requests sent, \(s.llm.answeredFromJournal) from the journal, "
              + "\(s.llm.retried) retried, \(s.llm.failed.values.reduce(0, +)) failed; \(s.llm.promptTokens) prompt and "
              + "\(s.llm.completionTokens) completion tokens. Latency \(p50)\(p95).")))
      if let thinking = StatsReport.thinkingText(s.llm) { parts.append(.p(safe("Thinking: \(thinking)."))) }
    }
    for (criterion, histogram) in s.scores.sorted(by: { $0.key < $1.key }) {
      // A judge's score distribution, and the records it gave each score.
      parts.append(.h3(safe("Scores: \(criterion)")))
      parts.append(bars(histogram.orderedScores.map { ($0, histogram.counts[$0] ?? 0, "records") }))
      for score in histogram.orderedScores {
        let examples = histogram.examples[score] ?? []
        parts.append(
          .details(
            .summary(safe("\(criterion) \(score): \(histogram.counts[score] ?? 0) records, examples")),
            .group(examples.map { .pre(safe($0)) })))
      }
    }
    if let diversity = entry.diversity {
      parts.append(.h3("Diversity"))
      parts.append(.p(safe(diversity.summary.replacingOccurrences(of: "diversity: ", with: ""))))
      if !diversity.topOpenings.isEmpty {
        parts.append(bars(diversity.topOpenings.map { ("\"\($0.opening)\"", $0.count, "mix") }))
      }
    }
    for (kind, values) in s.steering.sorted(by: { $0.key < $1.key }) {
      // Prompts per topic (persona) and the records they yielded, most kept first; and what reached the output.
      let sorted = values.byKeptDescending
      parts.append(.h3(safe("\(kind.capitalized)s: kept records per \(kind) (\(values.count) drawn)")))
      parts.append(bars(sorted.prefix(30).map { ($0.key, $0.value.kept, "kept") }))
      parts.append(
        .details(
          .summary(safe("Every \(kind): prompts and kept records")),
          .table(
            .group(
              [.tr(.th(safe(kind)), .th("prompts"), .th("kept"))]
                + sorted.map { key, count in
                  .tr(.td(safe(key)), .td(safe("\(count.prompts)")), .td(safe("\(count.kept)")))
                }))))
    }
    if !s.counters.isEmpty {
      parts.append(
        .details(
          .summary("Counters"),
          .table(
            .group(
              s.counters.sorted { $0.key < $1.key }.map { key, value in
                .tr(.td(safe(key)), .td(safe("\(value)")))
              }))))
    }
    return .element(named: "section", nodes: parts)
  }

  static func filtersTable(_ filters: [FilterStats]) -> BodyNode {
    var nodes: [BodyNode] = [.h3("Filters and dropped examples")]
    var rows: [Node<HTML.TableContext>] = [.tr(.th("filter"), .th("seen"), .th("kept"), .th("dropped"))]
    for f in filters {
      rows.append(
        .tr(.td(safe(f.name)), .td(safe("\(f.seen)")), .td(safe("\(f.kept)")), .td(safe("\(f.droppedTotal)"))))
    }
    nodes.append(.table(.group(rows)))
    for f in filters {
      for (reason, n) in f.dropped.byCountDescending {
        let examples = f.examples[reason] ?? []
        nodes.append(
          .details(
            .summary(
              safe("\(f.name): \(reason) — \(n) dropped, \(examples.count) example\(examples.count == 1 ? "" : "s")")),
            .group(examples.map { .pre(safe($0)) })))
      }
    }
    return .div(.group(nodes))
  }

  /// The highest ROUGE-L similarity a stage recorded for a record, if any.
  static func nearestSimilarity(_ record: Record) -> Double? {
    if let max = record.meta["rouge_l_max"]?.doubleValue { return max }
    for key in ["most_similar_instructions", "most_similar"] {
      if let scores = record[key]?.objectValue {
        var best: Double?
        for (_, value) in scores { if let v = value.doubleValue { best = max(best ?? v, v) } }
        if let best { return best }
      }
    }
    return nil
  }

  /// Requests and tokens over the run's time, from the arrival times in the
  /// journals (responses answered from a journal on resume are not counted again).
  static func timeline(_ directory: RunDirectory) -> BodyNode {
    var events: [(at: Double, tokens: Int)] = []
    for folder in FileSystem.list(directory.stagesDirectory) {
      let journal = directory.stageDirectory(folder) + "/journal"
      for file in FileSystem.list(journal) where file.hasSuffix(".jsonl") {
        guard let reader = try? LineReader(path: journal + "/" + file) else { continue }
        while events.count < 2_000_000, let line = try? reader.withNextLine({ Array($0) }) {
          guard let o = try? JSONParser.parse(line).objectValue, let at = o["at"]?.doubleValue else { continue }
          let usage = o["response"]?.objectValue?["usage"]?.objectValue
          events.append((at, (usage?["prompt_tokens"]?.intValue ?? 0) + (usage?["completion_tokens"]?.intValue ?? 0)))
        }
      }
    }
    guard let first = events.map(\.at).min(), let last = events.map(\.at).max() else { return .empty }
    let span = max(1, last - first)
    let bin = [1.0, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400].first { span / $0 <= 60 } ?? 86400
    let count = Int(span / bin) + 1
    var requests = [Int](repeating: 0, count: count)
    var tokens = [Int](repeating: 0, count: count)
    for event in events {
      let i = min(count - 1, Int((event.at - first) / bin))
      requests[i] += 1
      tokens[i] += event.tokens
    }
    let start = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: first))
    return .div(
      .h2("Requests and tokens over time"),
      .p(
        safe(
          "\(events.count) responses journaled from \(start), in bins of \(ProgressLine.duration(bin)) "
            + "(\(ProgressLine.duration(span)) in all).")),
      .h3("Responses per bin"), columns(requests, kind: "req"),
      .h3("Tokens per bin"), columns(tokens, kind: "tok"))
  }

  /// A column chart as inline SVG (one column per bin, the largest value labelled).
  static func columns(_ values: [Int], kind: String) -> BodyNode {
    let width = 760, height = 120
    let maxValue = max(1, values.max() ?? 1)
    let step = Double(width) / Double(max(1, values.count))
    var nodes: [BodyNode] = [
      .attribute(named: "xmlns", value: "http://www.w3.org/2000/svg"),
      .attribute(named: "width", value: "\(width)"), .attribute(named: "height", value: "\(height + 16)"),
      .attribute(named: "role", value: "img"),
    ]
    for (i, value) in values.enumerated() {
      let h = Int(Double(height) * Double(value) / Double(maxValue))
      nodes.append(
        .element(
          named: "rect",
          nodes: [
            .attribute(named: "x", value: String(format: "%.1f", Double(i) * step)),
            .attribute(named: "y", value: "\(height - h)"),
            .attribute(named: "width", value: String(format: "%.1f", max(1, step - 1))),
            .attribute(named: "height", value: "\(h)"), .attribute(named: "class", value: kind),
          ]))
    }
    nodes.append(
      .element(
        named: "text",
        nodes: [
          .attribute(named: "x", value: "0"), .attribute(named: "y", value: "\(height + 14)"),
          safe("max \(maxValue) per bin"),
        ]))
    return .element(named: "svg", nodes: nodes)
  }

  static let wordEdges: [Double] = [0, 5, 10, 20, 50, 100, 200, 500, 1000]

  static func histogram(_ values: [Double], edges: [Double], format: (Double) -> String) -> BodyNode {
    var counts = [Int](repeating: 0, count: edges.count)
    for v in values {
      let i = (edges.lastIndex { $0 <= v } ?? 0)
      counts[min(i, counts.count - 1)] += 1
    }
    let labels = edges.indices.map { i in
      i + 1 < edges.count ? "\(format(edges[i]))–\(format(edges[i + 1]))" : "≥ \(format(edges[i]))"
    }
    return bars(zip(labels, counts).map { ($0, $1, "hist") })
  }

  /// A horizontal bar chart as inline SVG: a label, a bar, the number.
  static func bars(_ items: [(String, Int, String)]) -> BodyNode {
    let width = 760, labelWidth = 300, rowHeight = 22
    let maxValue = max(1, items.map(\.1).max() ?? 1)
    var nodes: [BodyNode] = [
      .attribute(named: "xmlns", value: "http://www.w3.org/2000/svg"),
      .attribute(named: "width", value: "\(width)"),
      .attribute(named: "height", value: "\(max(1, items.count) * rowHeight + 4)"),
      .attribute(named: "role", value: "img"),
    ]
    for (i, (label, value, kind)) in items.enumerated() {
      let y = i * rowHeight
      let barWidth = Int(Double(width - labelWidth - 80) * Double(value) / Double(maxValue))
      let shown = label.count > 42 ? String(label.prefix(41)) + "…" : label
      nodes.append(
        .element(
          named: "text",
          nodes: [
            .attribute(named: "x", value: "0"), .attribute(named: "y", value: "\(y + 15)"), safe(shown),
          ]))
      nodes.append(
        .element(
          named: "rect",
          nodes: [
            .attribute(named: "x", value: "\(labelWidth)"), .attribute(named: "y", value: "\(y + 3)"),
            .attribute(named: "width", value: "\(max(barWidth, value > 0 ? 1 : 0))"),
            .attribute(named: "height", value: "16"),
            .attribute(named: "class", value: kind),
          ]))
      nodes.append(
        .element(
          named: "text",
          nodes: [
            .attribute(named: "x", value: "\(labelWidth + barWidth + 6)"), .attribute(named: "y", value: "\(y + 15)"),
            safe("\(value)"),
          ]))
    }
    return .element(named: "svg", nodes: nodes)
  }

  static let css = """
    body { font-family: sans-serif; margin: 2em; color: #222; max-width: 70em; }
    table { border-collapse: collapse; margin: 0.5em 0; }
    td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left; }
    section { border-top: 2px solid #888; margin-top: 2em; }
    pre { white-space: pre-wrap; background: #f6f6f6; padding: 6px; border-left: 3px solid #c66; }
    svg text { font-size: 12px; fill: #222; }
    rect.in { fill: #6a8fd0; } rect.kept { fill: #4caf50; } rect.drop { fill: #d9534f; }
    rect.hist { fill: #8c7ae6; } rect.mix { fill: #f0ad4e; } rect.req { fill: #5bc0de; } rect.tok { fill: #999; }
    """
}
