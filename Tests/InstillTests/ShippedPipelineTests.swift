import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// Every pipeline we ship validates, and its first (source) stage runs with counts
/// that add up. A pipeline that starts with an LLM stage (Magpie needs no seeds)
/// only validates here; RecipeTransparencyTests runs it against the ideal model.
struct ShippedPipelineTests {
  @Test func everyShippedPipelineValidatesAndItsSourceStageAddsUp() async throws {
    let dir = TempDir()
    let files =
      FileSystem.list(repositoryPath("Pipelines")).filter { $0.hasSuffix(".yaml") }
      + FileSystem.list(repositoryPath("Pipelines/slurm")).filter { $0.hasSuffix(".yaml") }.map { "slurm/" + $0 }
    #expect(files.count >= 9, "\(files)")
    for file in files {
      let path = repositoryPath("Pipelines/" + file)
      try await instill(expect: 0, "validate", path)
      let text = try String(contentsOfFile: path, encoding: .utf8)
      // The first stage's name: the first `- name:` or, without one, its kind.
      let firstStage =
        text.split(separator: "\n").first { $0.contains("- name:") || $0.contains("- kind:") }
        .map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) } ?? ""
      if text.contains("kind: magpie"), firstStage == "magpie" { continue }
      let run = dir.file("run-" + file.replacingOccurrences(of: "/", with: "-"))
      try await instill(expect: 0, "run", path, "--run-dir", run, "--stage", firstStage)
      let stats = try await statsJSON(run)
      let first = stats["stages"]?.arrayValue?.first?.objectValue
      #expect(first?["status"] == .string("complete"), "\(file)")
      #expect(first?["counts_add_up"] == .bool(true), "\(file)")
      #expect((first?["stats"]?.objectValue?["records_out"]?.intValue ?? 0) > 0, "\(file)")
    }
  }
}
