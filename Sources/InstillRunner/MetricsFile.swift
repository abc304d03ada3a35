import Foundation
import InstillCore
import Prometheus

/// `instill run --metrics-file PATH`: the run's counts in Prometheus' text
/// format, written atomically (node_exporter's textfile collector reads the
/// folder; it must never see half a file). Built from the same statistics as
/// `instill stats`, so both always agree.
public enum MetricsFile {
  /// Writes the metrics of the run in `directory` after an invocation that
  /// ended with `exitCode`. The time of the last exit 0 is kept in
  /// `DIR/last-success` so a failed run still reports when it last succeeded.
  public static func write(to path: String, directory: RunDirectory, pipeline: String?, exitCode: Int32)
    throws(InstillError)
  {
    let successFile = directory.path + "/last-success"
    let now = Date().timeIntervalSince1970
    if exitCode == 0, FileSystem.exists(directory.path) {
      try FileSystem.writeAtomically(Array(String(format: "%.3f\n", now).utf8), to: successFile, durable: false)
    }
    let lastSuccess = (try? String(contentsOfFile: successFile, encoding: .utf8))
      .flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    let report = try? StatsReport.load(directory: directory)
    let text = render(
      report: report, pipeline: report?.pipeline ?? pipeline ?? "", exitCode: exitCode,
      lastSuccess: lastSuccess, now: now)
    try FileSystem.writeAtomically(Array(text.utf8), to: path, durable: false)
  }

  public static func render(report: StatsReport?, pipeline: String, exitCode: Int32, lastSuccess: Double?, now: Double)
    -> String
  {
    let registry = PrometheusCollectorRegistry()
    let run = [("pipeline", pipeline)]
    registry.makeGauge(name: "instill_run_last_exit_code", labels: run).set(Double(exitCode))
    registry.makeGauge(name: "instill_run_last_end_timestamp_seconds", labels: run).set(now)
    if let lastSuccess {
      registry.makeGauge(name: "instill_run_last_success_timestamp_seconds", labels: run).set(lastSuccess)
    }
    if let report {
      registry.makeGauge(name: "instill_run_complete", labels: run).set(Double(report.complete ? 1 : 0))
      for entry in report.stages {
        let stage = run + [("stage", entry.name), ("stage_kind", entry.kind)]
        let stats = entry.stats
        registry.makeGauge(name: "instill_stage_complete", labels: stage).set(
          Double(entry.status == "complete" ? 1 : 0))
        registry.makeCounter(name: "instill_stage_records_in_total", labels: stage).increment(
          by: Int64(stats.recordsIn))
        registry.makeCounter(name: "instill_stage_records_out_total", labels: stage).increment(
          by: Int64(stats.recordsOut))
        for (reason, n) in stats.dropped {
          registry.makeCounter(
            name: "instill_stage_dropped_total", labels: stage + [("filter", ""), ("reason", reason)]
          )
          .increment(by: Int64(n))
        }
        for filter in stats.filters {
          for (reason, n) in filter.dropped {
            registry.makeCounter(
              name: "instill_stage_dropped_total", labels: stage + [("filter", filter.name), ("reason", reason)]
            )
            .increment(by: Int64(n))
          }
        }
        let llm = stats.llm
        for (kind, n) in [
          ("sent", llm.requestsSent), ("from_journal", llm.answeredFromJournal), ("retried", llm.retried),
        ] {
          registry.makeCounter(name: "instill_llm_requests_total", labels: stage + [("outcome", kind)]).increment(
            by: Int64(n))
        }
        for (kind, n) in llm.failed {
          registry.makeCounter(name: "instill_llm_requests_total", labels: stage + [("outcome", "failed_" + kind)])
            .increment(by: Int64(n))
        }
        for (type, n) in [
          ("prompt", llm.promptTokens), ("completion", llm.completionTokens), ("reasoning", llm.reasoningTokens),
        ] {
          registry.makeCounter(name: "instill_llm_tokens_total", labels: stage + [("type", type)]).increment(
            by: Int64(n))
        }
        if let cost = entry.cost, let currency = cost.currency, cost.unpriced.count < cost.models.count {
          registry.makeGauge(name: "instill_stage_cost", labels: stage + [("currency", currency)]).set(cost.amount)
        }
      }
      if let cost = report.cost, let currency = cost.currency, let perExample = cost.perKeptExample {
        registry.makeGauge(name: "instill_run_cost", labels: run + [("currency", currency)]).set(cost.total)
        registry.makeGauge(name: "instill_run_cost_per_kept_example", labels: run + [("currency", currency)]).set(
          perExample)
      } else if let cost = report.cost, let currency = cost.currency {
        registry.makeGauge(name: "instill_run_cost", labels: run + [("currency", currency)]).set(cost.total)
      }
    }
    var buffer: [UInt8] = []
    registry.emit(into: &buffer)
    // Sorted lines: the same counts give the same file.
    let lines = String(decoding: buffer, as: UTF8.self).split(separator: "\n")
    return sortedFamilies(lines) + "\n"
  }

  /// Keeps each `# TYPE` line before its samples while sorting families by name.
  static func sortedFamilies(_ lines: [Substring]) -> String {
    var families: [(String, [Substring])] = []
    for line in lines {
      if line.hasPrefix("# TYPE ") {
        families.append((String(line.split(separator: " ")[2]), [line]))
      } else if !families.isEmpty {
        families[families.count - 1].1.append(line)
      }
    }
    var merged: [String: [Substring]] = [:]
    for (name, block) in families {
      if merged[name] == nil { merged[name] = [block[0]] }
      merged[name]! += block.dropFirst()
    }
    return merged.keys.sorted().map { name in
      let block = merged[name]!
      return ([block[0]] + block.dropFirst().sorted()).joined(separator: "\n")
    }.joined(separator: "\n")
  }
}
