import Foundation
import InstillCore
import InstillTestSupport
import Testing

/// The exported shards must load with Hugging Face `datasets`, through the data
/// files and through the dataset card's front matter.
struct DatasetsLoadTests {
  @Test(arguments: ["messages", "alpaca", "sharegpt"])
  func exportLoadsWithPythonDatasets(format: String) async throws {
    let dir = TempDir()
    _ = writeQA(dir, count: 1200)
    let p = dir.write(
      "p.yaml",
      """
      name: loadable
      stages:
        - kind: read
          path: qa.jsonl
          fields: {instruction: q, output: a}
          records_per_shard: 300
        - kind: export
          format: \(format)
          records_per_shard: 250
          validation_ratio: 0.2
      """)
    let run = dir.file("run")
    let result = try await instill("run", p, "--run-dir", run)
    #expect(result.status == 0, "\(result.stderr)")
    let script = """
      import json, sys
      from datasets import load_dataset
      data = sys.argv[1]
      files = {"train": data + "/train-*.jsonl.gz", "validation": data + "/validation-*.jsonl.gz"}
      ds = load_dataset("json", data_files=files)
      by_card = load_dataset(data)
      print(json.dumps({"train": len(ds["train"]), "validation": len(ds["validation"]),
                        "card_train": len(by_card["train"]), "card_validation": len(by_card["validation"]),
                        "columns": sorted(ds["train"].column_names)}))
      """
    let python = try await runProgram(
      "/usr/bin/env", ["python3", "-c", script, run + "/data"],
      environment: [
        "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
        "HF_HOME": dir.file("hf"), "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
      ])
    #expect(python.status == 0, "python datasets failed (Scripts/test installs it): \(python.stderr.suffix(2000))")
    let out = try JSONParser.parse(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)).objectValue ?? [:]
    let manifest = try JSONParser.parse(String(decoding: FileSystem.read(run + "/data/dataset.json"), as: UTF8.self))
      .objectValue
    let splits = manifest?["splits"]?.objectValue
    #expect(out["train"]?.intValue == splits?["train"]?.objectValue?["records"]?.intValue)
    #expect(out["validation"]?.intValue == splits?["validation"]?.objectValue?["records"]?.intValue)
    #expect(out["card_train"] == out["train"])
    #expect(out["card_validation"] == out["validation"])
    #expect((out["train"]?.intValue ?? 0) + (out["validation"]?.intValue ?? 0) == 1200)
    let columns = out["columns"]?.arrayValue?.compactMap(\.stringValue) ?? []
    switch format {
    case "messages": #expect(columns.contains("messages"))
    case "alpaca": #expect(columns.contains("instruction") && columns.contains("output"))
    default: #expect(columns.contains("conversations"))
    }
  }
}
