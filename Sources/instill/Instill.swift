import ArgumentParser
import Foundation
import InstillCore
import InstillDocuments
import InstillEvolInstruct
import InstillJudges
import InstillMagpie
import InstillReverse
import InstillRunner
import InstillSelfInstruct
import InstillStages
import InstillUnnatural
import Logging
import Synchronization

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

  /// Parses and runs the command. Bad usage (an unknown option, a missing
  /// argument) exits 2 like every other invalid input, not ArgumentParser's 64.
  static func main() async {
    do {
      var command = try parseAsRoot()
      if var command = command as? any AsyncParsableCommand {
        try await command.run()
      } else {
        try command.run()
      }
    } catch {
      guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
      FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
      Foundation.exit(2)
    }
  }
}

/// Every stage kind a pipeline may use.
func stageCatalog() -> StageCatalog {
  var catalog = StageCatalog()
  catalog.registerBuiltins()
  catalog.registerDocuments()
  catalog.registerJudges()
  catalog.registerSelfInstruct()
  catalog.registerEvolInstruct()
  catalog.registerUnnatural()
  catalog.registerReverse()
  catalog.registerMagpie()
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
    let terminal = TerminalStatus.stderrIsTerminal
    LoggingSystem.bootstrap { label in
      // On a terminal, log lines go through the status line so they do not run into it.
      var handler =
        terminal
        ? StreamLogHandler(label: label, stream: StatusAwareStderr())
        : StreamLogHandler.standardError(label: label)
      handler.logLevel = level
      return handler
    }
    return Logger(label: "instill")
  }
}

/// The live progress line at the bottom of a terminal, and the log lines above it.
final class TerminalStatus: Sendable {
  static let shared = TerminalStatus()
  static let stderrIsTerminal = isatty(STDERR_FILENO) == 1

  private let current = Mutex<String?>(nil)

  /// Replaces the status line (nil removes it).
  func show(_ line: String?) {
    current.withLock { current in
      var text = "\r\u{1B}[2K"
      if let line { text += Self.fitted(line) }
      Self.write(text)
      current = line.map(Self.fitted)
    }
  }

  /// Writes a log line above the status line.
  func log(_ text: String) {
    current.withLock { current in
      Self.write(current == nil ? text : "\r\u{1B}[2K" + text + (current ?? ""))
    }
  }

  /// Cut to the terminal's width so the line never wraps (a wrapped line cannot be redrawn in place).
  static func fitted(_ line: String) -> String {
    var size = winsize()
    let columns = ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
    return line.count < columns ? line : String(line.prefix(max(10, columns - 2))) + "…"
  }

  static func write(_ text: String) {
    var bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let n = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
      if n <= 0 { break }
      offset += n
    }
  }
}

struct StatusAwareStderr: TextOutputStream, Sendable {
  mutating func write(_ string: String) { TerminalStatus.shared.log(string) }
}
