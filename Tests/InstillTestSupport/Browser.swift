import Foundation
import Testing

/// Renders a page in headless Chromium: the DOM after parsing, and the browser's log.
public func renderInChromium(_ file: String) async throws -> (dom: String, log: String) {
  guard FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") else {
    Issue.record("chromium is not installed (Scripts/test installs it from Debian)")
    return ("", "")
  }
  let result = try await runProgram(
    "/usr/bin/chromium",
    [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
      "--user-data-dir=" + NSTemporaryDirectory() + "/chromium-\(UUID().uuidString)", "--dump-dom", "file://" + file,
    ])
  return (result.stdout, result.stderr)
}

/// Lines of the browser's log that report a console message or a failed load.
public func consoleProblems(_ log: String) -> [String] {
  log.split(separator: "\n").map(String.init).filter {
    $0.contains("CONSOLE") || $0.contains("Uncaught") || $0.contains("ERR_FILE_NOT_FOUND") || $0.contains("Refused to")
  }
}
