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
          Make it harder in this one way: add structured data the task must work with, such as a piece of code, a table, JSON, an SQL query, XML or a formula.
          The new prompt may be only 10 to 20 words longer than the old one, not counting the added data. Reply with the new prompt alone, without any heading or label.

          Five prompts made harder this way:

          Prompt: Sort a list of numbers.
          Harder prompt: Sort the readings in this JSON document from largest to smallest and return the result as valid JSON.
          {"station": "Harbor", "readings": [12.5, 3.1, 44.0, 7.25]}

          Prompt: Find the best-paid employee.
          Harder prompt: Write an SQL query that returns the best-paid employee of each department from this table, ties included.
          CREATE TABLE staff (name TEXT, department TEXT, salary INTEGER);

          Prompt: Describe how sales went.
          Harder prompt: Describe the trend in this table and name the region whose sales grew fastest from the first to the second quarter.
          | region | Q1  | Q2  |
          |--------|-----|-----|
          | North  | 120 | 150 |
          | South  | 200 | 190 |

          Prompt: Tell me about this book.
          Harder prompt: Using the XML record below, describe the book and say how many years passed between its first and latest edition.
          <book><title>Tides</title><first-edition>1998</first-edition><latest-edition>2021</latest-edition></book>

          Prompt: Check whether a word is a palindrome.
          Harder prompt: This Python function should tell whether a word is a palindrome, but it answers False for "Level". Fix it and explain the mistake.
          def is_palindrome(word):
              return word == word[::-1]

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
