"""Readers for the RouteLLM evaluation data in ``../shared/data/routellm`` (GSM8K, MT-Bench).

GSM8K rows carry correctness labels for Mixtral (the cheap route) and GPT-4 (the flagship);
MT-Bench items pair both models' answers to one question turn with GPT-4's 1-10 grades.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

DEFAULT_DATA_DIR = Path("../shared/data/routellm")
GSM8K_FILE = Path("gsm8k/gsm8k_responses.csv")
MTBENCH_JUDGEMENTS = Path("mt_bench/judgements.jsonl")
MTBENCH_QUESTIONS = Path("mt_bench/question.jsonl")

CHEAP_MODEL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
FLAGSHIP_MODEL = "gpt-4-1106-preview"

Label = Literal["flagship", "tie", "cheap"]
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class GsmRow:
    index: int
    question: str
    cheap: str
    flagship: str
    cheap_correct: bool
    flagship_correct: bool
    # The correct final answer when known (not in the RouteLLM file; other datasets may have it).
    reference: str | None = None

    @property
    def label(self) -> Label:
        """flagship-better, tie (both right or both wrong), or cheap-better."""
        if self.flagship_correct == self.cheap_correct:
            return "tie"
        return "flagship" if self.flagship_correct else "cheap"

    @property
    def exactly_one_correct(self) -> bool:
        return self.flagship_correct != self.cheap_correct


def spread(items: list[T], limit: int | None) -> list[T]:
    """``limit`` evenly spaced rows (all rows when None): a small run still spans the file."""
    if limit is None or limit >= len(items):
        return list(items)
    if limit <= 0:
        return []
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


def stratified(rows: list[GsmRow], limit: int | None) -> list[GsmRow]:
    """``limit`` rows with the labels in proportion, each label at least once when possible.

    A handful of plain evenly spaced rows is often all ties (64% of the file); a small run
    must still show how the judge does on rows where exactly one model is right.
    """
    if limit is None or limit >= len(rows):
        return list(rows)
    groups = {
        label: [r for r in rows if r.label == label] for label in ("flagship", "tie", "cheap")
    }
    groups = {label: group for label, group in groups.items() if group}
    shares = {label: len(group) * limit / len(rows) for label, group in groups.items()}
    quotas = {label: int(share) for label, share in shares.items()}
    if limit >= len(groups):
        quotas = {label: max(1, quota) for label, quota in quotas.items()}
    # Largest remainders fill what flooring left; the largest groups give back any excess.
    by_remainder = sorted(
        groups, key=lambda label: shares[label] - int(shares[label]), reverse=True
    )
    while sum(quotas.values()) < limit:
        quotas[by_remainder[0]] += 1
        by_remainder = by_remainder[1:] + by_remainder[:1]
    while sum(quotas.values()) > limit:
        largest = max(quotas, key=lambda label: quotas[label])
        quotas[largest] -= 1
    chosen = [row for label, group in groups.items() for row in spread(group, quotas[label])]
    return sorted(chosen, key=lambda row: row.index)


def load_gsm8k(data_dir: Path | None = None, limit: int | None = None) -> list[GsmRow]:
    """The RouteLLM GSM8K pairs; ``limit`` takes a label-stratified, evenly spaced subset."""
    path = (data_dir or DEFAULT_DATA_DIR) / GSM8K_FILE
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [
            GsmRow(
                index=index,
                question=record["prompt"],
                cheap=record[f"{CHEAP_MODEL}_response"],
                flagship=record[f"{FLAGSHIP_MODEL}_response"],
                cheap_correct=record[CHEAP_MODEL] == "True",
                flagship_correct=record[FLAGSHIP_MODEL] == "True",
            )
            for index, record in enumerate(csv.DictReader(handle))
        ]
    return stratified(rows, limit)


@dataclass(frozen=True, slots=True)
class MtItem:
    question_id: int
    turn: int
    category: str
    question: str
    cheap: str
    flagship: str
    cheap_score: float  # GPT-4's grade of the cheap answer
    flagship_score: float


_TURN1_QUESTION = re.compile(r"\[Question\]\n(?P<q>.*?)\n\n\[The Start of", re.DOTALL)
_TURN1_ANSWER = re.compile(
    r"\[The Start of Assistant's Answer\]\n(?P<a>.*?)\n\[The End of Assistant's Answer\]",
    re.DOTALL,
)
_CONVERSATION = re.compile(
    r"<\|The Start of Assistant A's Conversation with User\|>(?P<c>.*?)"
    r"<\|The End of Assistant A's Conversation with User\|>",
    re.DOTALL,
)
_SPEAKER = re.compile(r"^### (User|Assistant A):\n", re.MULTILINE)


def _conversation(prompt: str) -> list[tuple[str, str]]:
    """(speaker, text) turns of the judged conversation in a multi-turn judge prompt."""
    match = _CONVERSATION.search(prompt)
    if not match:
        raise ValueError("no assistant conversation in a multi-turn judge prompt")
    parts = _SPEAKER.split(match.group("c"))
    # split() yields [preamble, speaker, text, speaker, text, ...].
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts) - 1, 2)]


def parse_judge_prompt(prompt: str, turn: int) -> tuple[str, str]:
    """(question as the judge should see it, the judged answer) from an MT-Bench judge prompt."""
    if turn == 1:
        question, answer = _TURN1_QUESTION.search(prompt), _TURN1_ANSWER.search(prompt)
        if not question or not answer:
            raise ValueError("unrecognised single-turn judge prompt")
        return question.group("q").strip(), answer.group("a").strip()
    turns = _conversation(prompt)
    users = [text for speaker, text in turns if speaker == "User"]
    answers = [text for speaker, text in turns if speaker == "Assistant A"]
    if len(users) < 2 or len(answers) < 2:
        raise ValueError("multi-turn judge prompt without two turns")
    return f"Earlier question: {users[0]}\n\nFollow-up question: {users[1]}", answers[1]


def load_mtbench(data_dir: Path | None = None, limit: int | None = None) -> list[MtItem]:
    base = data_dir or DEFAULT_DATA_DIR
    categories: dict[int, str] = {}
    with (base / MTBENCH_QUESTIONS).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                categories[int(record["question_id"])] = str(record.get("category", ""))
    by_key: dict[tuple[int, int], dict[str, tuple[str, str, float]]] = {}
    with (base / MTBENCH_JUDGEMENTS).open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            turn = int(record["turn"])
            question, answer = parse_judge_prompt(record["user_prompt"], turn)
            key = (int(record["question_id"]), turn)
            by_key.setdefault(key, {})[record["model"]] = (question, answer, float(record["score"]))
    items = []
    for (question_id, turn), models in sorted(by_key.items()):
        if CHEAP_MODEL not in models or FLAGSHIP_MODEL not in models:
            continue
        question, cheap, cheap_score = models[CHEAP_MODEL]
        _, flagship, flagship_score = models[FLAGSHIP_MODEL]
        items.append(
            MtItem(
                question_id=question_id,
                turn=turn,
                category=categories.get(question_id, ""),
                question=question,
                cheap=cheap,
                flagship=flagship,
                cheap_score=cheap_score,
                flagship_score=flagship_score,
            )
        )
    return spread(items, limit)
