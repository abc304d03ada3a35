import Foundation
import InstillCore
import Testing

/// Copies every stage's `journal/` folder of a run into a fresh run directory,
/// so running the same pipeline there replays the recorded responses.
public func copyJournals(from run: String, to replay: String) throws {
  try FileManager.default.createDirectory(atPath: replay + "/stages", withIntermediateDirectories: true)
  for folder in FileSystem.list(run + "/stages") where FileSystem.exists(run + "/stages/\(folder)/journal") {
    try FileManager.default.createDirectory(atPath: replay + "/stages/" + folder, withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: run + "/stages/\(folder)/journal", toPath: replay + "/stages/\(folder)/journal")
  }
}

/// Runs `instill run PIPELINE --run-dir RUN` in the background and kills it with
/// SIGKILL as soon as `journal` holds `count` responses; returns the request keys
/// journaled at that moment. Records an issue (and returns what is journaled)
/// when the run ends first or `deadline` passes.
public func killAfterJournaled(
  _ pipeline: String, runDir: String, journal: String, count: Int,
  deadline: Duration = .seconds(900),
  sourceLocation: SourceLocation = #_sourceLocation
) async throws -> Set<String> {
  let process = try launchInstill(["run", pipeline, "--run-dir", runDir, "--quiet"])
  let start = ContinuousClock.now
  while journalKeys(journal).count < count {
    guard process.isRunning else {
      Issue.record(
        "instill ended (status \(process.terminationStatus)) before \(count) responses were journaled",
        sourceLocation: sourceLocation)
      return journalKeys(journal)
    }
    guard ContinuousClock.now - start < deadline else {
      Issue.record("fewer than \(count) responses journaled within \(deadline)", sourceLocation: sourceLocation)
      break
    }
    try await Task.sleep(for: .milliseconds(100))
  }
  kill(process.processIdentifier, SIGKILL)
  await waitForExit(process)
  return journalKeys(journal)
}

/// What a killed and resumed run left.
public struct ResumedRun: Sendable {
  public let run: String
  /// The killed stage's journal folder.
  public let journal: String
  public let journaledAtKill: Set<String>
  /// The killed stage's statistics after the resume.
  public let stats: JSONObject
  /// The resumed run's stderr.
  public let stderr: String
}

/// The resume contract, end to end: runs `pipeline` in `dir/run`, kills it
/// with SIGKILL once the stage in `folder` (`NN-name`) has journaled
/// `killAfter` responses, and runs it again to the end. Checks that the kill
/// came before the stage's first shard was written (when `midStage`), that the
/// resumed stage answered exactly the journaled requests from its journal and
/// sent every other request once, and that every stage's counts add up. With
/// `replay`, a fresh run directory given the journals reproduces the data byte
/// for byte without starting the server.
@discardableResult
public func assertResumesAfterKill(
  _ pipeline: String, in dir: TempDir, stage folder: String, killAfter: Int,
  midStage: Bool = true, replay: Bool = false,
  sourceLocation: SourceLocation = #_sourceLocation
) async throws -> ResumedRun {
  let run = dir.file("run")
  let journal = run + "/stages/\(folder)/journal"
  let atKill = try await killAfterJournaled(
    pipeline, runDir: run, journal: journal, count: killAfter,
    sourceLocation: sourceLocation)
  if midStage {
    #expect(!FileSystem.exists(shardFile(run, folder)), "the kill came after the stage", sourceLocation: sourceLocation)
  }
  let resumed = try await instill("run", pipeline, "--run-dir", run)
  #expect(resumed.status == 0, "\(resumed.stderr)", sourceLocation: sourceLocation)
  let name = String(folder.drop { $0 != "-" }.dropFirst())
  let stats = try await stageStats(run, name, sourceLocation: sourceLocation)
  #expect(stats["llm"]?.objectValue?["answered_from_journal"]?.intValue == atKill.count, sourceLocation: sourceLocation)
  #expect(
    journalLineCount(journal) == journalKeys(journal).count, "a journaled request was sent again",
    sourceLocation: sourceLocation)
  #expect(journalKeys(journal).isSuperset(of: atKill), sourceLocation: sourceLocation)
  for stage in try await statsJSON(run, sourceLocation: sourceLocation)["stages"]?.arrayValue ?? [] {
    #expect(stage.objectValue?["counts_add_up"] == .bool(true), "\(stage)", sourceLocation: sourceLocation)
  }
  if replay {
    // llama-server with several slots is not bitwise reproducible when the batch
    // composition changes, so a request in flight at the kill may get another
    // reply when re-sent. What must hold: the same responses give the same
    // dataset. Replaying the journals in a fresh run directory sends nothing.
    let copy = dir.file("replay")
    try copyJournals(from: run, to: copy)
    let replayed = try await instill("run", pipeline, "--run-dir", copy)
    #expect(replayed.status == 0, "\(replayed.stderr)", sourceLocation: sourceLocation)
    #expect(
      !replayed.stderr.contains("started llama-server"), "a journaled request was sent again",
      sourceLocation: sourceLocation)
    #expect(treeDigest(copy + "/data") == treeDigest(run + "/data"), sourceLocation: sourceLocation)
  }
  return ResumedRun(run: run, journal: journal, journaledAtKill: atKill, stats: stats, stderr: resumed.stderr)
}
