import Foundation
import InstillCore

/// Loads an exported `data/` folder with Python's `datasets` (offline) and
/// returns the train split's size and the first record's columns.
public func loadWithDatasets(_ data: String, scratch: String) async throws -> (
  status: Int32, train: Int?, columns: [String], stderr: String
) {
  let script = """
    import json, sys
    from datasets import load_dataset
    ds = load_dataset(sys.argv[1])
    print(json.dumps({"train": len(ds["train"]), "columns": ds["train"].column_names}))
    """
  let python = try await runProgram(
    "/usr/bin/env", ["python3", "-c", script, data],
    environment: [
      "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": scratch,
      "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    ])
  let object = (try? JSONParser.parse(python.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))?.objectValue
  return (
    python.status, object?["train"]?.intValue,
    object?["columns"]?.arrayValue?.compactMap(\.stringValue) ?? [], String(python.stderr.suffix(2000))
  )
}
