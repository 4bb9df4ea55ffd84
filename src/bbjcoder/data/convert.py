"""Turn validated examples into ChatML records: system prompt, varied user prompt, assistant answer.

The user prompt is one of several templates per type, picked by a hash of the example id, so the
same example always reads the same way while the dataset as a whole does not repeat one sentence.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from bbjcoder.data.markdown import CodeBlock, Example
from bbjcoder.data.records import Fim, Record
from bbjcoder.data.schema import GENERATIONS

GENERATION_NAMES: dict[str, str] = {
    "character": "character UI (terminal)",
    "vpro5": "Visual PRO/5",
    "bbj-gui": "BBj GUI (Swing)",
    "dwc": "DWC (browser)",
    "all": "any (portable BBj that runs in every generation)",
}
SHORT_NAMES: dict[str, str] = {
    "character": "character-mode",
    "vpro5": "Visual PRO/5",
    "bbj-gui": "BBj GUI",
    "dwc": "DWC",
    "all": "portable",
}

SYSTEM_PROMPT = (
    "You are an expert programmer in BBj (BASIS Business BASIC). Write correct, idiomatic BBj that "
    "compiles, put code in ```bbj blocks, and explain code clearly and precisely. "
    "Target generation: {generation}."
)

# Placeholders: {title} {task} {code} {gen} {expected} {from_gen} {to_gen} {prefix} {suffix}
TEMPLATES: dict[str, tuple[str, ...]] = {
    "comprehension": (
        "What does this BBj program do?\n\n{code}",
        "Explain what the following BBj code does and what happens when it runs.\n\n{code}",
        "{code}\n\nWalk me through this BBj code. What is its behavior?",
        "I found this BBj code in an existing application. Can you explain it?\n\n{code}",
        "Describe step by step what this {gen} BBj code does.\n\n{code}",
    ),
    "completion": (
        "Write a BBj program for this task: {task}",
        "How do I do this in BBj? {task}\n\nWhen it runs: {expected}",
        "Write {gen} BBj code.\n\nTask: {task}\nExpected behavior: {expected}",
        "Show me BBj code that does the following: {task}",
        "I need a BBj example: {task} Please include the complete code.",
    ),
    "completion_fim": (
        "Fill in the missing part of this BBj code ({title}).\n\nBefore the gap:\n{prefix}\n\nAfter the gap:\n{suffix}",
        "Complete the BBj code between these two fragments. {task}\n\n{prefix}\n\n...\n\n{suffix}",
        "The middle of this {gen} BBj program is missing. Write only the missing lines.\n\nCode before:\n{prefix}\n\nCode after:\n{suffix}",
        "{prefix}\n\n{suffix}\n\nWrite the BBj code that goes between the two blocks above ({title}).",
    ),
    "completion_continue": (
        "Continue this BBj program ({title}).\n\n{prefix}",
        "Complete the following BBj code. {task}\n\n{prefix}",
        "{prefix}\n\nFinish this {gen} BBj code so that it does the following: {task}",
        "Here is the start of a BBj program. Write the rest.\nGoal: {task}\n\n{prefix}",
    ),
    # Most carry the example's task (its description), as a user asking for a port says what the
    # result should look like (the suite's migration prompts all do); one stays terse.
    "migration": (
        "Migrate this {from_gen} BBj code to {to_gen}. {task}\n\n{code}",
        "Rewrite the following {from_gen} program for {to_gen}. {task}\n\n{code}",
        "{code}\n\nThis is {from_gen} code. How would it look in {to_gen}?",
        "Port this BBj code from {from_gen} to {to_gen}, keeping what it does. {task}\n\n{code}",
    ),
    # A migration inside one generation (from_generation = to_generation): a requested change to a
    # program, answered with the whole changed program. "Migrate X to X" would say nothing, so the
    # task is the prompt.
    "rework": (
        "Change this {gen} BBj program. {task}\n\n{code}",
        "{code}\n\n{task} Keep it {gen} BBj and show the whole program.",
        "Here is some {gen} BBj code. {task}\n\n{code}",
        "Rewrite this {gen} BBj code. {task}\n\n{code}",
    ),
    # A migration `all -> all`: a generation-neutral refactoring, so no "from X to Y" in the prompt.
    "refactoring": (
        "Refactor this BBj code: {task}\n\n{code}",
        "{code}\n\nRewrite this BBj code in a more modern, structured style, keeping what it does.",
        "Modernise the following BBj program without changing its behavior ({title}):\n\n{code}",
        "Clean up this legacy BBj code. {task}\n\n{code}",
    ),
    "explanation": (
        "Explain {title} in BBj, with an example.",
        "How does this work in BBj: {task} Show some code.",
        "Can you explain this BBj topic with a code example? {task}",
        "Teach me about {title} in {gen} BBj.",
        "I am new to BBj. What should I know about {title}? Include an example.",
    ),
}


def generation_names(labels: Sequence[str]) -> str:
    """Readable names of generation labels joined in English: "A, B and C"."""
    names = [GENERATION_NAMES[g] for g in labels]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _short(labels: Sequence[str]) -> str:
    names = [SHORT_NAMES[g] for g in labels]
    return names[0] if len(names) == 1 else "/".join(names)


# What each generation looks like, so one served model can answer for all four: the Modelfile's
# and `serve`'s prompt, which follows the training prompt's sentence.
GENERATIONS_GUIDE = """\
BBj has four generations:
1. character: line-numbered Business BASIC for text terminals (PRINT, INPUT, mnemonics such as 'CS' \
and @(col,row), keyed files with OPEN/READ RECORD/WRITE RECORD and ERR= branches);
2. vpro5: Visual PRO/5 GUI code driven through a SYSGUI channel with PRINT (sysgui) mnemonics and CTRL();
3. bbj-gui: object-oriented BBj with BBjAPI() and BBjSysGui windows and controls, event callbacks \
(setCallback) and PROCESS_EVENTS;
4. dwc: the same BBjAPI controls running in the browser through the Dynamic Web Client, styled with CSS.
When the user shows existing code, answer in that code's generation and style (line numbers or \
labels, mnemonics or objects). For a new program, write modern BBj for the DWC unless asked otherwise.
Write complete, syntactically correct BBj in one ```bbj fenced block, then explain briefly. Use the \
type suffixes ($ string, % integer, ! object). Never invent BBjAPI methods; say so when unsure."""

_ANY_GENERATION = "the one the user's code uses, else DWC (browser) for new programs"


def system_prompt(labels: Sequence[str] = ()) -> str:
    """The one BBj system prompt. With generation labels (character, vpro5, bbj-gui, dwc, all) it is
    the prompt training examples of those generations carry; without (the Modelfile, `serve`) the
    same sentence for any generation, followed by how to choose one."""
    if labels:
        return SYSTEM_PROMPT.format(generation=generation_names(labels))
    return SYSTEM_PROMPT.format(generation=_ANY_GENERATION) + "\n\n" + GENERATIONS_GUIDE


def pick_template(kind: str, example_id: str) -> str:
    """The template for `kind`, chosen deterministically by a hash of the example id."""
    options = TEMPLATES[kind]
    return options[zlib.crc32(f"{kind}:{example_id}".encode()) % len(options)]


def fence(blocks: Sequence[CodeBlock]) -> str:
    """Code blocks as ```bbj fences, each led by its file name when it has one."""
    parts = []
    for b in blocks:
        head = f"`{b.filename}`:\n" if b.filename else ""
        parts.append(f"{head}```bbj\n{b.code.strip(chr(10))}\n```")
    return "\n\n".join(parts)


def mid_sentence(title: str) -> str:
    """A title as it reads inside a sentence: "Describing a screen" -> "describing a screen",
    while names keep their case ("BBjVector basics", "SQL queries", "DWC styling")."""
    first, _, rest = title.partition(" ")
    if len(first) > 1 and first[0].isupper() and first[1:].islower():
        return first.lower() + (" " + rest if rest else "")
    return title


def _task(example: Example) -> str:
    front = example.front
    assert front is not None
    title = front.title.strip().rstrip(".")
    if front.description:
        desc = front.description.strip()
        return desc if desc.endswith((".", "?", "!")) else desc + "."
    return title + "."


def _expected(example: Example) -> str:
    if not example.expected:
        return ""
    head = "Expected output:" if example.expected_kind == "output" else "Expected behavior:"
    return f"{head}\n\n{example.expected}"


def example_to_record(example: Example) -> Record:
    """One valid example as a ChatML record (raises AssertionError on an invalid one)."""
    front = example.front
    assert front is not None, "convert only valid examples"
    gens = front.generations()
    target = front.target_generations()
    values = {
        "title": mid_sentence(front.title.strip().rstrip(".")),
        "task": _task(example),
        "gen": _short(target),
        "expected": " ".join(example.expected.split()) or "as described",
        "code": fence(example.code),
        "prefix": "",
        "suffix": "",
        "from_gen": SHORT_NAMES.get(front.from_generation or "all", "portable"),
        "to_gen": _short(target),
    }
    fim: Fim | None = None
    kind: str = front.type
    if front.type == "comprehension":
        answer = "\n\n".join(p for p in (_expected(example), example.explanation) if p)
    elif front.type == "completion" and example.is_fim:
        assert example.prefix is not None and example.completion is not None
        suffix = example.suffix.code if example.suffix is not None else ""
        fim = Fim(example.prefix.code, example.completion.code, suffix)
        values["prefix"] = fence([example.prefix])
        values["suffix"] = fence([example.suffix]) if example.suffix is not None else ""
        kind = "completion_fim" if suffix.strip() else "completion_continue"
        answer = f"{fence([example.completion])}\n\n{example.explanation}"
    elif front.type == "completion":
        answer = f"{values['code']}\n\n{example.explanation}"
    elif front.type == "migration":
        values["code"] = fence(example.before)
        if front.from_generation == "all":
            kind = "refactoring"
        elif (front.from_generation,) == target:  # one generation to the same one (not a list)
            kind = "rework"
        answer = "\n\n".join(p for p in (fence(example.after), _expected(example), example.explanation) if p)
    else:  # explanation: the code shows the concept, the prose explains it
        answer = "\n\n".join(p for p in (values["code"], _expected(example), example.explanation) if p)
    user = pick_template(kind, example.id).format(**values)
    return Record(
        id=example.id,
        source=example.path,
        type=front.type,
        generation=gens if gens == ("all",) else tuple(g for g in GENERATIONS if g in gens),
        messages=(("system", system_prompt(target)), ("user", user.strip()), ("assistant", answer.strip())),
        difficulty=front.difficulty,
        tags=tuple(front.tags),
        fim=fim,
        origin="synthetic" if front.is_synthetic else "curated",
    )
