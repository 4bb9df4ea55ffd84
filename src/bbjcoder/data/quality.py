"""Dataset quality: formatting lint, exact duplicates and near duplicates (MinHash + LSH, numpy).

Nothing is dropped silently: `clean_records` returns the kept records and, for every record left
out, a `rejected.jsonl` entry with its reason (and the id it duplicated).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bbjcoder.data.records import Record, rejected
from bbjcoder.data.schema import CODE_ANSWER_TYPES

_FENCED = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)
_TOKEN = re.compile(r"\w+|[^\w\s]")
_WS = re.compile(r"\s+")
# Lines that are BBj code, not prose: REM, assignments, statement shapes prose never has.
_CODE_LINE = re.compile(
    r"^\s*(?:REM\b|[A-Za-z_][\w.]*[$!%]?\s*=\s*\S|FOR\s+\w+\s*=|NEXT\s+\w+\s*$|GOSUB\s+\w+\s*$|"
    r"GOTO\s+\w+\s*$|OPEN\s*\(|READ\s*(?:RECORD\s*)?\(|WRITE\s*(?:RECORD\s*)?\(|PRINT\s*[\"'@(]|"
    r"class\s+public\b|methodend\s*$|classend\s*$|process_events\s*$|release\s*$|END\s*$)",
    re.IGNORECASE,
)
# Two such lines outside any fence make "missing code fences" (one could be a quoted example).
_UNFENCED_MIN_LINES = 2

_MERSENNE = np.uint64((1 << 61) - 1)
_MASK32 = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True)
class DedupConfig:
    """Near-duplicate settings: Jaccard threshold on `shingle`-token shingles, MinHash size."""

    threshold: float = 0.85
    shingle: int = 5
    num_perm: int = 128
    seed: int = 1
    exact: bool = True
    near: bool = True


@dataclass
class LintResult:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class QualityReport:
    kept: list[Record]
    rejected: list[dict[str, Any]]
    warnings: list[tuple[str, str]]  # (record id, message)
    counts: dict[str, int]


# --- lint ---------------------------------------------------------------------------------------


def code_blocks(text: str) -> list[str]:
    """The contents of the fenced blocks in Markdown `text` (any line endings)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [m.group(2) for m in _FENCED.finditer(text)]


def lint_record(record: Record) -> LintResult:
    """Formatting problems of one record. Errors reject the record; warnings are reported."""
    out = LintResult()
    answer = record.content("assistant")
    if not record.content("user").strip():
        out.errors.append("empty user message")
    if not answer.strip():
        out.errors.append("empty assistant answer")
    if answer.count("```") % 2:
        out.errors.append("unbalanced code fence in the assistant answer")
    blocks = code_blocks(answer)
    outside = _FENCED.sub("", answer.replace("\r\n", "\n"))
    if sum(1 for ln in outside.splitlines() if _CODE_LINE.match(ln)) >= _UNFENCED_MIN_LINES:
        out.errors.append("missing code fences: the answer has BBj code outside a ```bbj block")
    elif record.type in CODE_ANSWER_TYPES and answer.strip() and not any(b.strip() for b in blocks):
        out.errors.append(f"no code in the assistant answer, but a {record.type} answer needs code")
    for role, content in record.messages:
        if "\r\n" in content and re.search(r"(?<!\r)\n", content):
            out.warnings.append(f"mixed line endings in the {role} message")
        elif "\r" in content:
            out.warnings.append(f"CR line endings in the {role} message")
    all_code = code_blocks(record.content("user")) + blocks
    if any(re.search(r"[ \t]+$", b, re.MULTILINE) for b in all_code):
        out.warnings.append("trailing whitespace in code")
    if any(re.search(r"^\t", b, re.MULTILINE) for b in all_code) and any(
        re.search(r"^ +\S", b, re.MULTILINE) for b in all_code
    ):
        out.warnings.append("code indents with both tabs and spaces")
    return out


# --- duplicates ---------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form used for duplicate detection."""
    return _WS.sub(" ", text.lower()).strip()


def dedup_text(record: Record) -> tuple[str, str]:
    """(prompt, code) of a record: the user's request without code, and all code in the record."""
    user = record.content("user")
    answer = record.content("assistant")
    code = "\n".join(code_blocks(user) + code_blocks(answer))
    prompt = _FENCED.sub(" ", user)
    if not code.strip():
        code = answer  # prose-only answers: the text itself is what must not repeat
    return normalise(prompt), normalise(code)


def near_parts(record: Record) -> list[str]:
    """The texts compared for near duplicates, one per role.

    With code anywhere: the user's code and the whole answer. The user's prose is left out then,
    since for converted examples it is mostly template wording that would hide duplicates. Without
    code: the user's prose and the answer.
    """
    user = record.content("user")
    answer = normalise(record.content("assistant"))
    user_code = code_blocks(user)
    if user_code or code_blocks(record.content("assistant")):
        return [normalise("\n".join(user_code)), answer]
    return [normalise(user), answer]


def exact_key(record: Record) -> str:
    prompt, code = dedup_text(record)
    return hashlib.sha256(f"{record.type}\x00{prompt}\x00{code}".encode()).hexdigest()


class MinHasher:
    """MinHash signatures of token-shingle sets, computed in numpy batches (no per-shingle Python)."""

    def __init__(self, num_perm: int = 128, shingle: int = 5, seed: int = 1) -> None:
        rng = np.random.default_rng(seed)
        # a < 2^31 and x < 2^32 keep a*x + b below 2^64, so uint64 arithmetic never wraps.
        self.a = rng.integers(1, 1 << 31, size=num_perm, dtype=np.uint64)
        self.b = rng.integers(0, 1 << 31, size=num_perm, dtype=np.uint64)
        self.shingle = shingle
        self.num_perm = num_perm
        self._vocab: dict[str, int] = {}

    def shingles(self, text: str, salt: int = 0) -> np.ndarray:
        """32-bit hashes of the distinct `shingle`-token windows of `text` (xor `salt`, to keep
        the shingles of different parts apart)."""
        vocab = self._vocab
        ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in _TOKEN.findall(text)), dtype=np.uint64)
        k = self.shingle
        if len(ids) < k:
            ids = np.concatenate([ids, np.full(k - len(ids), 0xFFFFFFF, dtype=np.uint64)])
        h = np.zeros(len(ids) - k + 1, dtype=np.uint64)
        for j in range(k):  # polynomial rolling hash; uint64 overflow wraps, which is fine here
            h = h * np.uint64(1_000_003) + ids[j : len(ids) - k + 1 + j] * np.uint64(2654435761)
        return np.unique((h ^ (h >> np.uint64(29)) ^ np.uint64(salt)) & _MASK32)

    def record_shingles(self, parts: Sequence[str]) -> np.ndarray:
        if len(parts) == 1:
            return self.shingles(parts[0])
        return np.unique(
            np.concatenate([self.shingles(t, 0x9E3779B1 * k & 0xFFFFFFFF) for k, t in enumerate(parts)])
        )

    def signatures(self, shingle_sets: Sequence[np.ndarray], chunk: int = 1 << 16) -> np.ndarray:
        """(n, num_perm) uint64 signatures; records are processed in chunks of ~`chunk` shingles."""
        n = len(shingle_sets)
        sig = np.empty((n, self.num_perm), dtype=np.uint64)
        start = 0
        while start < n:
            stop, total = start, 0
            while stop < n and (total == 0 or total + len(shingle_sets[stop]) <= chunk):
                total += len(shingle_sets[stop])
                stop += 1
            flat = np.concatenate(shingle_sets[start:stop])
            offsets = np.cumsum([0] + [len(s) for s in shingle_sets[start : stop - 1]])
            hv = (flat[:, None] * self.a[None, :] + self.b[None, :]) % _MERSENNE
            sig[start:stop] = np.minimum.reduceat(hv & _MASK32, offsets, axis=0)
            start = stop
        return sig


def lsh_params(threshold: float, num_perm: int, recall: float = 0.98) -> tuple[int, int]:
    """(bands, rows per band) for LSH: the fewest false candidates below `threshold` such that a pair
    at exactly `threshold` still becomes a candidate with probability >= `recall`.

    Candidates are verified with the exact Jaccard of their shingle sets, so false candidates cost
    only time while missed ones would be kept duplicates.
    """
    xs = np.linspace(0.0, threshold, 101)
    best, best_fp = (num_perm, 1), float("inf")
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands < recall:
            continue
        fp = float(np.trapezoid(1.0 - (1.0 - xs**rows) ** bands, xs))
        if fp < best_fp:
            best, best_fp = (bands, rows), fp
    return best


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = len(np.union1d(a, b))
    return len(np.intersect1d(a, b, assume_unique=True)) / union if union else 1.0


def near_duplicates(records: Sequence[Record], config: DedupConfig) -> dict[int, tuple[int, float]]:
    """For each record that nearly duplicates an earlier one: index -> (earlier index, Jaccard)."""
    hasher = MinHasher(config.num_perm, config.shingle, config.seed)
    sets = [hasher.record_shingles(near_parts(r)) for r in records]
    if not sets:
        return {}
    sig = hasher.signatures(sets)
    bands, rows = lsh_params(config.threshold, config.num_perm)
    buckets: dict[tuple[int, bytes], list[int]] = defaultdict(list)
    candidates: set[tuple[int, int]] = set()
    for i in range(len(records)):
        row = sig[i]
        for band in range(bands):
            key = (band, row[band * rows : (band + 1) * rows].tobytes())
            bucket = buckets[key]
            for j in bucket:
                if records[j].type == records[i].type:
                    candidates.add((j, i))
            bucket.append(i)
    dup_of: dict[int, tuple[int, float]] = {}
    for j, i in sorted(candidates):
        if i in dup_of or j in dup_of:
            continue  # compare against kept records only
        sim = jaccard(sets[j], sets[i])
        if sim >= config.threshold:
            dup_of[i] = (j, sim)
    return dup_of


def clean_records(records: Sequence[Record], config: DedupConfig | None = None) -> QualityReport:
    """Lint, then drop exact and near duplicates; the earliest record of a group is kept."""
    config = config or DedupConfig()
    out_rejected: list[dict[str, Any]] = []
    warnings: list[tuple[str, str]] = []
    counts = {"input": len(records), "lint": 0, "exact_duplicate": 0, "near_duplicate": 0, "duplicate_id": 0}

    linted: list[Record] = []
    seen_ids: dict[str, str] = {}
    for r in records:
        if r.id in seen_ids:
            counts["duplicate_id"] += 1
            out_rejected.append(
                rejected(
                    r.id, r.source, "duplicate id", "quality", duplicate_of=r.id, first_source=seen_ids[r.id]
                )
            )
            continue
        seen_ids[r.id] = r.source
        lint = lint_record(r)
        warnings.extend((r.id, w) for w in lint.warnings)
        if lint.errors:
            counts["lint"] += 1
            out_rejected.append(rejected(r.id, r.source, "lint: " + "; ".join(lint.errors), "quality"))
        else:
            linted.append(r)

    unique: list[Record] = []
    if config.exact:
        first: dict[str, Record] = {}
        for r in linted:
            key = exact_key(r)
            if key in first:
                counts["exact_duplicate"] += 1
                out_rejected.append(
                    rejected(
                        r.id,
                        r.source,
                        "exact duplicate",
                        "quality",
                        duplicate_of=first[key].id,
                        similarity=1.0,
                    )
                )
            else:
                first[key] = r
                unique.append(r)
    else:
        unique = list(linted)

    kept = unique
    if config.near and unique:
        dups = near_duplicates(unique, config)
        kept = []
        for i, r in enumerate(unique):
            if i in dups:
                j, sim = dups[i]
                counts["near_duplicate"] += 1
                out_rejected.append(
                    rejected(
                        r.id,
                        r.source,
                        "near duplicate",
                        "quality",
                        duplicate_of=unique[j].id,
                        similarity=round(sim, 4),
                    )
                )
            else:
                kept.append(r)
    counts["kept"] = len(kept)
    return QualityReport(kept=kept, rejected=out_rejected, warnings=warnings, counts=counts)
