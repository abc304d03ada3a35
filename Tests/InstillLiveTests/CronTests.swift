import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// The cron recipe from the README, played fast on the real model: the same
/// command started every 2 seconds with a short --max-time, whether or not the
/// last one has finished, one of them killed with SIGKILL, until one exits 0.
@Suite(.serialized)
struct CronTests {
  @Test func sameCommandEveryFewSecondsUntilDone() async throws {
    let dir = TempDir()
    let p = TestPipelines.generate(dir, llm: "  provider: local\n  max_concurrency: 4", count: 40)
    let run = dir.file("run")
    let metrics = dir.file("instill.prom")
    let command = ["run", p, "--run-dir", run, "--max-time", "4", "--metrics-file", metrics, "--quiet"]

    var running: [(process: Process, started: Date)] = []
    var exits: [Int32] = []
    var killed = 0
    var done = false
    let deadline = Date().addingTimeInterval(300)
    while !done && Date() < deadline {
      // Reap the finished ones, like cron mail would report them.
      for (process, _) in running where !process.isRunning {
        if process.terminationReason == .uncaughtSignal {
          #expect(process.terminationStatus == SIGKILL)
        } else {
          exits.append(process.terminationStatus)
          if process.terminationStatus == 0 { done = true }
        }
      }
      running.removeAll { !$0.process.isRunning }
      if done { break }
      // Once: SIGKILL the invocation that has been working for 2 seconds and has journaled something.
      if killed == 0, journalLineCount(run + "/stages/02-generate/journal") > 0,
        let victim = running.first(where: { Date().timeIntervalSince($0.started) > 2 })
      {
        kill(victim.process.processIdentifier, SIGKILL)
        killed += 1
      }
      running.append((try launchInstill(command, stderr: FileHandle.nullDevice), Date()))
      try await Task.sleep(for: .seconds(2))
    }
    for (process, _) in running { await waitForExit(process) }
    #expect(done, "no invocation finished the run in 5 minutes; exit codes so far: \(exits)")
    #expect(killed == 1)
    print("cron: exit codes in order \(exits), one SIGKILL")
    // Exit codes cron sees: 3 (stopped by --max-time, come back later), 4 (another
    // invocation holds the lock), finally 0; nothing else.
    #expect(exits.contains(3), "\(exits)")
    #expect(exits.contains(4), "\(exits)")
    #expect(Set(exits).isSubset(of: [0, 3, 4]), "\(exits)")

    let status = try await instill("status", run)
    #expect(status.stdout.contains("state: complete"), "\(status.stdout)")
    let prom = try String(contentsOfFile: metrics, encoding: .utf8)
    #expect(prom.contains(/instill_run_complete\{[^}]*\} 1/), "\(prom)")
    // Every reply journaled once: no request was paid for twice across invocations
    // (the killed one's unjournaled replies excepted, which were never received).
    let journal = run + "/stages/02-generate/journal"
    #expect(journalKeys(journal).count == journalLineCount(journal))
    #expect(journalKeys(journal).count == 40)

    // One uninterrupted run on the same replies: the same dataset, byte for byte.
    let single = dir.file("single")
    try copyJournals(from: run, to: single)
    #expect(try await instill("run", p, "--run-dir", single).status == 0)
    #expect(treeDigest(single + "/data") == treeDigest(run + "/data"))
    let stats = try await stageStats(single, "generate")
    #expect(stats["llm"]?.objectValue?["requests_sent"]?.intValue == 0)
  }
}
