import Foundation
import InstillCore

/// Pipelines several test files share.
public enum TestPipelines {
  public static func questions(_ dir: TempDir, count: Int) {
    let topics = ["rivers", "volcanoes", "bread", "chess", "the moon", "bees", "glaciers", "printing", "tides", "owls"]
    var text = ""
    for i in 0..<count {
      text +=
        JSONWriter.string(
          .object([
            "instruction": .string("In one sentence, what is interesting about \(topics[i % topics.count]) (#\(i))?")
          ])) + "\n"
    }
    dir.write("questions.jsonl", text)
  }

  /// Fifty one-line questions (or `count`) on the embedded model or an endpoint
  /// given in `llm` (the `llm:` section's lines): read → generate → export.
  public static func generate(_ dir: TempDir, llm: String, count: Int = 50) -> String {
    questions(dir, count: count)
    return dir.write(
      "local.yaml",
      """
      name: local-generate
      seed: 5
      llm:
      \(llm)
      stages:
        - kind: read
          path: questions.jsonl
          records_per_shard: 10
        - kind: generate
          prompt: "{instruction}"
          sampling: {temperature: 0, max_tokens: 48, seed: 1}
        - kind: export
          format: alpaca
          shuffle: false
      """)
  }

  /// The head of a pipeline on the embedded model (4 slots, 2 threads), up to
  /// `stages:`; the caller appends its stages as list items.
  public static func localHead(name: String, seed: Int) -> String {
    """
    name: \(name)
    seed: \(seed)
    llm:
      provider: local
      max_concurrency: 4
      local: {threads: 2, context_per_slot: 2048}
    stages:

    """
  }

  /// The head of a pipeline on the embedded model that starts by reading our
  /// seed tasks; the caller appends its stages (as list items under `stages:`).
  public static func onOurSeeds(name: String) -> String {
    localHead(name: name, seed: 42) + """
        - kind: read
          path: \(repositoryPath("Seeds/self-instruct/seed_tasks.jsonl"))
          format: self_instruct

      """
  }

  /// Questions answered by a scripted endpoint at `baseURL` (with quick retries):
  /// read → generate (sampled) → export.
  public static func generate(
    _ dir: TempDir, baseURL: String, count: Int = 60, extraLLM: String = "", endpoint: String = "chat"
  ) -> String {
    var seeds = ""
    for i in 0..<count {
      seeds +=
        JSONWriter.string(
          .object(["instruction": .string("Question number \(i): why is the sky blue on day \(i * 7)?")])) + "\n"
    }
    dir.write("questions.jsonl", seeds)
    return dir.write(
      "generate.yaml",
      """
      name: fault-test
      seed: 3
      llm:
        provider: openai
        base_url: \(baseURL)
        model: fake-model
        max_concurrency: 4
        timeout: 3
        max_retries: 4
        retry_base_delay: 0.05
        \(extraLLM)
      stages:
        - kind: read
          path: questions.jsonl
          records_per_shard: 15
        - kind: generate
          endpoint: \(endpoint)
          prompt: "Answer briefly. {instruction}"
          sampling: {temperature: 0.7, max_tokens: 64}
        - kind: export
          format: alpaca
      """)
  }

  /// `count` generated question/answer records read in shards of `perShard`
  /// → length and keyword filter → export: no LLM.
  public static func qa(
    _ dir: TempDir, count: Int, exportFormat: String = "messages", perShard: Int = 500,
    validation: Double = 0.1
  ) -> String {
    _ = writeQA(dir, count: count)
    return dir.write(
      "pipeline.yaml",
      """
      name: qa-test
      seed: 11
      stages:
        - name: seeds
          kind: read
          path: qa.jsonl
          format: jsonl
          fields: {instruction: q, output: a}
          records_per_shard: \(perShard)
        - name: clean
          kind: filter
          filters:
            - type: length
              field: instruction
              min: 3
              max: 12
            - type: keywords
              words: [image]
        - kind: export
          format: \(exportFormat)
          records_per_shard: 700
          validation_ratio: \(validation)
      """)
  }
}
