"""The evaluation's Markdown: the results table (rows = systems, columns = task metrics) and report.md, which
explains the numbers and links every output of the run."""

from dataclasses import dataclass, field

MISSING = "—"
MAX_EXAMPLE_CHARS = 200
WHAT_THE_COLUMNS_MEAN = {
    "asr": "the cascade's Whisper transcripts alone against the transcript (its ASR step)",
    "repeat": "error rate (WER, or CER for languages without spaces) of the answer to \"Repeat what was "
              "said.\" against the transcript, both Whisper-normalised; lower is better; *_vs_text: against the "
              "text system's answer instead (does the speech get the answer the transcript gets?); *_where_text_repeats: "
              "on the clips whose transcript the text system repeats exactly, the error rate and the share of "
              "exact repeats (the words a system carries, with no rambling to hide them)",
    "continuation": "BLEU / chrF (0–100) of the continuation against the text system's continuation of the "
                    "gold transcript: agreement with the upper bound",
    "translation": "BLEU (0–100) against the reference translation (bleu_LANG per target language when "
                   "several)",
    "alignment": "held-out KL(text ‖ speech) at τ = 1 with the true n: at transcript positions (input_kl), "
                 "at response positions (response_kl), over both (kl); CIF count error mean |n̂ − n| / n; "
                 "token_accuracy: the share of speech vectors whose nearest LLM input embedding is their "
                 "transcript token (\"alignment (train count=BAND)\": of the vectors whose token the "
                 "training transcripts hold that many times, with --train-manifest); "
                 "shuffled_*: the same KL with every clip's audio swapped for another clip's, the "
                 "no-information floor",
    "latency": "seconds per clip at batch size 1 from the audio (text: the transcript) to the first response "
               "token and to the whole response; the cascade's include its ASR",
}


def format_value(value) -> str:
    return f"{value:.4g}" if is_number(value) and isinstance(value, float) else str(value)


def is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def table_columns(results: dict[str, dict[str, dict]],
                  task_order: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(task, metric) pairs: tasks in `task_order` (others after them), each in order of first appearance;
    counts (num_*) are left to results.json."""
    columns = {}
    for tasks in results.values():
        for task, metrics in tasks.items():
            for metric, value in metrics.items():
                if not metric.startswith("num_") and is_number(value):
                    columns.setdefault((task, metric), None)
    rank = {task: index for index, task in enumerate(task_order)}
    return sorted(columns, key=lambda column: rank.get(column[0], len(rank)))  # a stable sort


def markdown_table(results: dict[str, dict[str, dict]], task_order: tuple[str, ...] = ()) -> str:
    """results: system → task → metric → value. One row per system, one column per (task, metric)."""
    columns = table_columns(results, task_order)
    lines = ["| system | " + " | ".join(f"{task} {metric}" for task, metric in columns) + " |",
             "|---|" + "---:|" * len(columns)]
    for system, tasks in results.items():
        cells = [format_value(tasks[task][metric]) if metric in tasks.get(task, {}) else MISSING
                 for task, metric in columns]
        lines.append(f"| {system} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def results_tables(results: dict[str, dict[str, dict]], task_order: tuple[str, ...]) -> str:
    """The table of the tasks in `task_order`, then, when there are any, a table of the other results (the
    per-group scores, "repeat (source=fortune)")."""
    def only(keep) -> dict[str, dict[str, dict]]:
        return {system: {task: metrics for task, metrics in tasks.items() if keep(task)}
                for system, tasks in results.items()}

    grouped = only(lambda task: task not in task_order)
    text = markdown_table(only(lambda task: task in task_order), task_order)
    if any(grouped.values()):
        text += "\nPer group:\n\n" + markdown_table({system: tasks for system, tasks in grouped.items() if tasks})
    return text


def escape_cell(text: str, limit: int = MAX_EXAMPLE_CHARS) -> str:
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("|", "\\|")


@dataclass
class ReportContext:
    settings: dict[str, str]  # what was evaluated, shown as a list (manifest, model, systems, tasks, ...)
    num_clips: int  # records evaluated
    skipped: list[str] = field(default_factory=list)  # "where: why" of every record left out
    notes: list[str] = field(default_factory=list)
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, path relative to the report)
    examples: list[dict] = field(default_factory=list)  # utterance rows (id, task, system, output, reference)


def example_sections(rows: list[dict]) -> list[str]:
    """One small table per (task, clip): the reference, then every system's output."""
    lines, grouped = [], {}
    for row in rows:
        grouped.setdefault((row["task"], row["id"]), []).append(row)
    for (task, clip_id), group in grouped.items():
        lines += [f"**{task}** — `{clip_id}`  ", f"reference: {escape_cell(group[0]['reference'])}", "",
                  "| system | output |", "|---|---|"]
        lines += [f"| {row['system']} | {escape_cell(row['output'])} |" for row in group]
        lines.append("")
    return lines


def render_report(results: dict[str, dict[str, dict]], context: ReportContext,
                  task_order: tuple[str, ...] = ()) -> str:
    lines = ["# BLSP-KD evaluation", ""]
    lines += [f"- **{name}**: {value}" for name, value in context.settings.items()]
    lines += [f"- **records evaluated**: {context.num_clips}; **skipped**: {len(context.skipped)} "
              "(listed at the end)", ""]
    if context.notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in context.notes] + [""]
    lines += ["## Results", "", results_tables(results, task_order)]
    tasks_shown = {task for tasks in results.values() for task in tasks}
    lines += [f"- *{task}*: {meaning}" for task, meaning in WHAT_THE_COLUMNS_MEAN.items()
              if task in tasks_shown]
    lines += ["", "Files: [results.json](results.json) (system → task → metric, with counts), "
              "[results.md](results.md) (the table), [utterances.jsonl](utterances.jsonl) (every output with "
              "its reference).", ""]
    if context.plots:
        lines += ["## Plots", ""]
        for caption, path in context.plots:
            lines += [f"### {caption}", "", f"![{caption}]({path})", ""]
    if context.examples:
        lines += ["## Examples", ""] + example_sections(context.examples)
    lines += [f"## Skipped records ({len(context.skipped)})", ""]
    lines += [f"- {problem}" for problem in context.skipped] or ["None."]
    return "\n".join(lines) + "\n"
