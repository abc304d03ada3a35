import ArgumentParser
import Foundation
import InstillCore
import InstillEndpoints
import InstillKit
import InstillLLM
import InstillRunner

struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show stages, shards done and pending, records, requests, and whether a run holds the lock.")

  @Argument(help: "The run directory.")
  var runDir: String

  @Option(
    name: .customLong("pending-tasks"),
    help:
      "Print only the job-array task indexes (of N tasks) that still own unfinished shards, as a Slurm --array list.")
  var pendingTasks: Int?

  @Option(name: .customLong("stage"), help: "With --pending-tasks: look only at this map stage (repeatable).")
  var stages: [String] = []

  func validate() throws {
    if let pendingTasks, pendingTasks < 1 { throw ValidationError("--pending-tasks must be at least 1") }
    if !stages.isEmpty && pendingTasks == nil { throw ValidationError("--stage goes with --pending-tasks") }
  }

  func run() async throws {
    try await withExitCodes {
      let directory = RunDirectory(runDir)
      if let pendingTasks {
        print(RunDirectory.arraySpec(try directory.pendingTasks(count: pendingTasks, stages: stages)))
        return
      }
      guard directory.readPlan() != nil else {
        let holder = RunLock.holder(directory: runDir)
        print(
          "run directory: \(runDir)\nstate: not started (no plan.json yet)\nlock: "
            + (holder.map { "held by pid \($0)" } ?? "free"))
        return
      }
      let report = try StatsReport.load(directory: directory)
      print(report.statusText(directory: runDir, holders: RunLock.holders(directory: runDir)), terminator: "")
    }
  }
}

struct Stats: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show filter statistics: per stage records in/out, every filter's counts and dropped examples.")

  @Argument(help: "The run directory.")
  var runDir: String

  @Flag(help: "Print stable, machine-readable JSON instead of a table.")
  var json = false

  @Flag(name: .customLong("no-examples"), help: "Leave dropped examples out of the table.")
  var noExamples = false

  @Option(
    name: .customLong("examples"),
    help: "Print every kept example of one drop reason, whole: REASON, FILTER:REASON or STAGE/FILTER:REASON.")
  var examplesOf: String?

  func run() async throws {
    try await withExitCodes {
      let report = try StatsReport.load(directory: RunDirectory(runDir))
      if let examplesOf {
        let text = report.examples(of: examplesOf)
        guard !text.isEmpty else {
          throw InstillError.input(
            "no dropped examples of '\(examplesOf)' in \(runDir) "
              + "(reasons are listed by `instill stats \(runDir)`)")
        }
        print(text, terminator: "")
      } else if json {
        FileHandle.standardOutput.write(Data(report.encoded()))
      } else {
        print(report.table(examples: !noExamples), terminator: "")
      }
    }
  }
}

struct Validate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check a pipeline file and its seed files without calling an LLM.",
    discussion: """
      With --explain, also print for every LLM stage the effective endpoint, model and sampling, and where each \
      value comes from. Sampling precedence, per key: the stage's `sampling:`, then the method's decoding, then \
      `llm.sampling`, then the server's defaults (the key is not sent).
      """)

  @Argument(help: "The pipeline file (YAML).")
  var pipeline: String

  @Flag(help: "Print each stage's effective endpoint, model and sampling, and where each value came from.")
  var explain = false

  @Flag(
    name: .customLong("stages"),
    help: "Print only the stages, one per line: name, kind, map or global, llm or -, separated by tabs (for scripts).")
  var listStages = false

  func run() async throws {
    try await withExitCodes {
      let loaded = try Pipeline.load(file: pipeline, catalog: stageCatalog())
      try loaded.validate()
      let settings = try LLMSettings.parse(loaded.llm)
      let endpoints = Dictionary(uniqueKeysWithValues: try LLMSettings.parseEndpoints(loaded))
      if listStages {
        for stage in loaded.stages {
          print(
            [stage.name, stage.kind, stage.shape.rawValue, stage.stage.usesLLM ? "llm" : "-"].joined(separator: "\t"))
        }
        return
      }
      print(
        "\(pipeline): ok — pipeline '\(loaded.name)', \(loaded.stages.count) stages: "
          + loaded.stages.map { "\($0.name) (\($0.kind), \($0.shape.rawValue))" }.joined(separator: ", "))
      if explain { print(Self.explanation(loaded, settings, endpoints: endpoints), terminator: "") }
    }
  }

  /// One block per stage: LLM settings with their sources, or "no LLM".
  static func explanation(
    _ pipeline: Pipeline, _ pipelineSettings: LLMSettings, endpoints: [String: LLMSettings] = [:]
  ) -> String {
    var text = ""
    for planned in pipeline.stages {
      text += "\nstage \(planned.name) (\(planned.kind))"
      guard let stage = planned.stage as? any LLMStage else {
        text += ": no LLM\n"
        continue
      }
      let cascade = stage.llm.cascade
      if !cascade.isEmpty { text += ": a cascade, cheapest first\n" }
      let tiers: [String?] = cascade.isEmpty ? [stage.llm.endpointName] : cascade.map { $0 == "llm" ? nil : $0 }
      for (i, name) in tiers.enumerated() {
        let settings = name.flatMap { endpoints[$0] } ?? pipelineSettings
        let section = name.map { "endpoints.\($0)" } ?? "llm"
        let (model, modelSource): (String, String) =
          settings.model.map { ($0, "\(section).model") }
          ?? (settings.provider == .local
            ? (LocalModel.modelName, "provider local default") : ("default", "endpoint default"))
        if !cascade.isEmpty {
          text += " tier \(i + 1) \(cascade[i])" + (name.map { " (\(endpoints[$0]?.baseURL ?? ""))" } ?? "") + "\n"
        } else {
          text += name.map { " on endpoint \($0) (\(settings.baseURL ?? ""))\n" } ?? "\n"
        }
        let lines = stage.llm.explain(
          defaultModel: model, modelSource: modelSource, pipelineSampling: settings.sampling,
          pipelineExtraBody: settings.extraBody, section: section)
        let width = lines.map(\.key.count).max() ?? 0
        for line in lines {
          text +=
            "  " + line.key.padding(toLength: width, withPad: " ", startingAt: 0)
            + "  \(line.value)  (\(line.source))\n"
        }
      }
    }
    return text
  }
}

struct Report: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write one self-contained HTML report of a run: funnels, drop reasons with examples, histograms.",
    discussion: "No network, scripts or external fonts: the file opens anywhere. Record text is always escaped.")

  @Argument(help: "The run directory.")
  var runDir: String

  @Option(name: .customLong("output"), help: "Where to write the report (default: DIR/report.html).")
  var output: String?

  func run() async throws {
    try await withExitCodes {
      let html = try HTMLReport.render(directory: RunDirectory(runDir))
      let path = output ?? runDir + "/report.html"
      try FileSystem.writeAtomically(Array(html.utf8), to: path, durable: false)
      print(path)
    }
  }
}
