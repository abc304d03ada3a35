import ArgumentParser
import Foundation
import InstillCore
import InstillRunner
import InstillEvolInstruct
import InstillSelfInstruct
import InstillReverse
import InstillUnnatural
import InstillStages
import Logging

@main
struct Instill: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "instill",
    abstract: "Generate instruction-tuning datasets with LLMs: staged, resumable, deterministic.",
    discussion: """
      Exit codes: 0 complete; 1 failure; 2 invalid usage, pipeline or input file; \
      3 stopped early by a budget or a signal (run again to resume); 4 another process holds the run directory.
      """,
    version: "0.1.0",
    subcommands: [Run.self, Status.self, Stats.self, Report.self, Validate.self, Dedup.self])
}

/// Every stage kind a pipeline may use.
func stageCatalog() -> StageCatalog {
  var catalog = StageCatalog()
  catalog.registerBuiltins()
  catalog.registerSelfInstruct()
  catalog.registerEvolInstruct()
  catalog.registerUnnatural()
  catalog.registerReverse()
  return catalog
}

/// Runs `body`, mapping errors to the documented exit codes and messages on stderr.
func withExitCodes(_ body: () async throws -> Void) async throws {
  do {
    try await body()
  } catch let error as InstillError {
    FileHandle.standardError.write(Data("instill: error: \(error)\n".utf8))
    throw ExitCode(error.exitCode)
  } catch let stop as StoppedEarly {
    FileHandle.standardError.write(Data("instill: \(stop)\n".utf8))
    throw ExitCode(3)
  } catch let exit as ExitCode {
    throw exit
  } catch is CancellationError {
    FileHandle.standardError.write(Data("instill: stopped; run the same command again to resume\n".utf8))
    throw ExitCode(3)
  } catch {
    FileHandle.standardError.write(Data("instill: error: \(error)\n".utf8))
    throw ExitCode(1)
  }
}

struct LogOptions: ParsableArguments {
  @Flag(name: .shortAndLong, help: "Log every step (debug level).")
  var verbose = false
  @Flag(name: .shortAndLong, help: "Log warnings and errors only.")
  var quiet = false

  func bootstrap() -> Logger {
    let level: Logger.Level = verbose ? .debug : quiet ? .warning : .info
    LoggingSystem.bootstrap { label in
      var handler = StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    return Logger(label: "instill")
  }
}
