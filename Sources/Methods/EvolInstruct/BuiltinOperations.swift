/// The built-in operation sets, written in the same YAML format as a user's own
/// `operations:` file and loaded by the same code. Every prompt is our own
/// wording; the rules of the in-depth prompts (keep non-text parts and the
/// given input, add only 10 to 20 words, stay answerable by people) hold for each.
enum BuiltinOperations {
  static let general = """
    # Evol-Instruct's five in-depth operations and the in-breadth one.
    operations:
      - name: add_constraints
        kind: depth
        template: |
          You rewrite prompts to make them harder. Rewrite the prompt below so that it is more demanding for a capable AI assistant, while a person can still make sense of it and answer it.
          Keep every part that is not plain prose (tables, code, formulas) and keep any input the prompt provides.
          Make it harder in this one way: add exactly one more constraint or requirement.
          The new prompt may be only 10 to 20 words longer than the old one. Reply with the new prompt alone, without any heading or label.

          #Original Prompt#:
          {instruction}

          #New Prompt#:
      - name: deepen
        kind: depth
        template: |
          You rewrite prompts to make them harder. Rewrite the prompt below so that it is more demanding for a capable AI assistant, while a person can still make sense of it and answer it.
          Keep every part that is not plain prose (tables, code, formulas) and keep any input the prompt provides.
          Make it harder in this one way: where the prompt asks about a topic, ask about it more deeply and more broadly.
          The new prompt may be only 10 to 20 words longer than the old one. Reply with the new prompt alone, without any heading or label.

          #Original Prompt#:
          {instruction}

          #New Prompt#:
      - name: concretize
        kind: depth
        template: |
          You rewrite prompts to make them harder. Rewrite the prompt below so that it is more demanding for a capable AI assistant, while a person can still make sense of it and answer it.
          Keep every part that is not plain prose (tables, code, formulas) and keep any input the prompt provides.
          Make it harder in this one way: replace general ideas with more specific, concrete ones.
          The new prompt may be only 10 to 20 words longer than the old one. Reply with the new prompt alone, without any heading or label.

          #Original Prompt#:
          {instruction}

          #New Prompt#:
      - name: increase_reasoning
        kind: depth
        template: |
          You rewrite prompts to make them harder. Rewrite the prompt below so that it is more demanding for a capable AI assistant, while a person can still make sense of it and answer it.
          Keep every part that is not plain prose (tables, code, formulas) and keep any input the prompt provides.
          Make it harder in this one way: if a few simple steps of thought would solve it, ask explicitly for reasoning in several steps.
          The new prompt may be only 10 to 20 words longer than the old one. Reply with the new prompt alone, without any heading or label.

          #Original Prompt#:
          {instruction}

          #New Prompt#:
      - name: complicate_input
        kind: depth
        template: |
          You rewrite prompts to make them harder. Rewrite the prompt below so that it is more demanding for a capable AI assistant, while a person can still make sense of it and answer it.
          Keep every part that is not plain prose (tables, code, formulas) and keep any input the prompt provides.
          Make it harder in this one way: add structured data the task must work with, such as a piece of code, a table, JSON, an SQL query or a formula.
          The new prompt may be only 10 to 20 words longer than the old one, not counting the added data. Reply with the new prompt alone, without any heading or label.

          #Original Prompt#:
          {instruction}

          #New Prompt#:
      - name: breadth
        kind: breadth
        template: |
          You invent new prompts. Take the prompt below as inspiration and write a brand-new prompt in the same domain, on a rarer topic.
          It should be about as long and as difficult as the original, and a person must be able to understand and answer it.
          Reply with the new prompt alone, without any heading or label.

          #Original Prompt#:
          {instruction}

          #New Prompt#:
    """

  static let code = """
    # The five code operations (in depth); the complexity one is chosen rarely.
    operations:
      - name: add_code_constraints
        kind: depth
        template: |
          You make programming tasks harder. Rewrite the task below into a more demanding one that a programmer could still understand and solve.
          Keep any code, examples and input the task provides.
          Make it harder in this one way: add new constraints and requirements, about ten more words.
          Reply with the new task alone, without any heading or label.

          #Original Task#:
          {instruction}

          #New Task#:
      - name: rarer_requirement
        kind: depth
        template: |
          You make programming tasks harder. Rewrite the task below into a more demanding one that a programmer could still understand and solve.
          Keep any code, examples and input the task provides.
          Make it harder in this one way: replace a common requirement with a less common, more specific one.
          Reply with the new task alone, without any heading or label.

          #Original Task#:
          {instruction}

          #New Task#:
      - name: more_reasoning_steps
        kind: depth
        template: |
          You make programming tasks harder. Rewrite the task below into a more demanding one that a programmer could still understand and solve.
          Keep any code, examples and input the task provides.
          Make it harder in this one way: if only a few logical steps solve it, add requirements that need more steps of reasoning.
          Reply with the new task alone, without any heading or label.

          #Original Task#:
          {instruction}

          #New Task#:
      - name: erroneous_code
        kind: depth
        template: |
          You make programming tasks harder. Rewrite the task below into a more demanding one that a programmer could still understand and solve.
          Keep any code, examples and input the task provides.
          Make it harder in this one way: include a short piece of code with a mistake in it, presented as a reference, to mislead the solver.
          Reply with the new task alone, without any heading or label.

          #Original Task#:
          {instruction}

          #New Task#:
      - name: higher_complexity
        kind: depth
        weight: 0.25
        template: |
          You make programming tasks harder. Rewrite the task below into a more demanding one that a programmer could still understand and solve.
          Keep any code, examples and input the task provides.
          Make it harder in this one way: ask for a lower time or space complexity than the obvious solution has.
          Reply with the new task alone, without any heading or label.

          #Original Task#:
          {instruction}

          #New Task#:
    """
}
