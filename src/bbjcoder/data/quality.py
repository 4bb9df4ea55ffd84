"""Dataset quality: formatting lint, exact duplicates and near duplicates (MinHash + LSH, numpy).

Nothing is dropped silently: `clean_records` returns the kept records and, for every record left
out, a `rejected.jsonl` entry with its reason (and the id it duplicated).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from bbjcoder.data.fences import has_unclosed_fence, split_fences
from bbjcoder.data.records import Record, Rejected, rejected
from bbjcoder.data.schema import CODE_ANSWER_TYPES

# Lines that are BBj code, not prose: REM, assignments, statement shapes prose never has.
_CODE_LINE = re.compile(
    r"^\s*(?:REM\b|[A-Za-z_][\w.]*[$!%]?\s*=\s*\S|FOR\s+\w+\s*=|NEXT\s+\w+\s*$|GOSUB\s+\w+\s*$|"
    r"GOTO\s+\w+\s*$|OPEN\s*\(|READ\s*(?:RECORD\s*)?\(|WRITE\s*(?:RECORD\s*)?\(|PRINT\s*[\"'@(]|"
    r"class\s+public\b|methodend\s*$|classend\s*$|process_events\s*$|release\s*$|END\s*$)",
    re.IGNORECASE,
)
# Two such lines outside any fence make "missing code fences" (one could be a quoted example).
_UNFENCED_MIN_LINES = 2


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
    rejected: list[Rejected]
    warnings: list[tuple[str, str]]  # (record id, message)
    counts: dict[str, int]


@dataclass(frozen=True)
class _View:
    """What lint and dedup look at, computed once per record."""

    user: str
    answer: str
    user_code: list[str]
    user_prose: str
    answer_code: list[str]
    answer_prose: str

    @classmethod
    def of(cls, record: Record) -> _View:
        user, answer = record.content("user"), record.content("assistant")
        user_code, user_prose = split_fences(user)
        answer_code, answer_prose = split_fences(answer)
        return cls(user, answer, user_code, user_prose, answer_code, answer_prose)


# --- lint ---------------------------------------------------------------------------------------

_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_TAB_INDENT = re.compile(r"^\t", re.MULTILINE)
_SPACE_INDENT = re.compile(r"^ +\S", re.MULTILINE)
_LONE_LF = re.compile(r"(?<!\r)\n")


def lint_record(record: Record, view: _View | None = None) -> LintResult:
    """Formatting problems of one record. Errors reject the record; warnings are reported."""
    v = view or _View.of(record)
    out = LintResult()
    if not v.user.strip():
        out.errors.append("empty user message")
    if not v.answer.strip():
        out.errors.append("empty assistant answer")
    if has_unclosed_fence(v.answer):
        out.errors.append("unbalanced code fence in the assistant answer")
    if sum(1 for ln in v.answer_prose.splitlines() if _CODE_LINE.match(ln)) >= _UNFENCED_MIN_LINES:
        out.errors.append("missing code fences: the answer has BBj code outside a ```bbj block")
    elif record.type in CODE_ANSWER_TYPES and v.answer.strip() and not any(b.strip() for b in v.answer_code):
        out.errors.append(f"no code in the assistant answer, but a {record.type} answer needs code")
    for role, content in record.messages:
        if "\r" in content:
            mixed = "\r\n" in content and _LONE_LF.search(content)
            out.warnings.append(f"{'mixed' if mixed else 'CR'} line endings in the {role} message")
    all_code = v.user_code + v.answer_code
    if any(_TRAILING_WS.search(b) for b in all_code):
        out.warnings.append("trailing whitespace in code")
    if any(_TAB_INDENT.search(b) for b in all_code) and any(_SPACE_INDENT.search(b) for b in all_code):
        out.warnings.append("code indents with both tabs and spaces")
    return out


# --- duplicates ---------------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form used for duplicate detection."""
    return " ".join(text.lower().split())


def dedup_text(record: Record, view: _View | None = None) -> tuple[str, str]:
    """(prompt, code) of a record: the user's request without code, and all code in the record."""
    v = view or _View.of(record)
    code = "\n".join(v.user_code + v.answer_code)
    if not code.strip():
        code = v.answer  # prose-only answers: the text itself is what must not repeat
    return normalise(v.user_prose), normalise(code)


def near_parts(record: Record, view: _View | None = None) -> list[str]:
    """The texts compared for near duplicates, one per role.

    With code anywhere: the user's code and the whole answer. The user's prose is left out then,
    since for converted examples it is mostly template wording that would hide duplicates. Without
    code: the user's prose and the answer.
    """
    v = view or _View.of(record)
    answer = v.answer.lower()
    if v.user_code or v.answer_code:
        return ["\n".join(v.user_code).lower(), answer]
    return [v.user.lower(), answer]


def exact_key(record: Record, view: _View | None = None) -> str:
    prompt, code = dedup_text(record, view)
    return hashlib.sha256(f"{record.type}\x00{prompt}\x00{code}".encode()).hexdigest()


# Byte classes for tokenizing in numpy: 0 whitespace, 1 word (ASCII alnum, _, any non-ASCII byte,
# so UTF-8 letters stay inside words), 2 punctuation (each byte its own token): the regex
# `\w+|[^\w\s]` on ASCII text, without creating a Python string per token.
_BYTE_CLASS = np.array(
    [1 if b >= 128 or chr(b).isalnum() or b == 95 else 0 if chr(b).isspace() else 2 for b in range(256)],
    dtype=np.uint8,
)
_MAX_TOKEN_POW = 1 << 12
_TOKEN_POW = np.cumprod(np.full(_MAX_TOKEN_POW, 0x100000001B3, dtype=np.uint64))  # wraps mod 2^64
_PAD_TOKEN = np.uint64(0xA5A5A5A5A5A5A5A5)


def token_hashes(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash of every token of all texts in order, number of tokens per text)."""
    if not texts:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
    encoded = [t.encode("utf-8") for t in texts]
    blens = np.array([len(e) for e in encoded], dtype=np.int64)
    text_start = np.cumsum(blens + 1) - (blens + 1)  # texts are joined with one space
    data = np.frombuffer(b" ".join(encoded), dtype=np.uint8)
    cls = _BYTE_CLASS[data]
    prev = np.zeros_like(cls)
    prev[1:] = cls[:-1]
    is_start = (cls == 2) | ((cls == 1) & (prev != 1))
    starts = np.flatnonzero(is_start)
    inside = np.flatnonzero(cls != 0)  # bytes that belong to a token, in order
    tok_of = np.cumsum(is_start)[inside] - 1
    pos_in_tok = (inside - starts[tok_of]) % _MAX_TOKEN_POW
    contrib = (data[inside].astype(np.uint64) + np.uint64(1)) * _TOKEN_POW[pos_in_tok]
    first = np.flatnonzero(is_start[inside]) if len(inside) else np.zeros(0, dtype=np.int64)
    tok = np.add.reduceat(contrib, first) if len(first) else np.zeros(0, dtype=np.uint64)
    tok ^= tok >> np.uint64(31)
    tok *= np.uint64(0x94D049BB133111EB)
    tok ^= tok >> np.uint64(29)
    text_of_tok = np.searchsorted(text_start, starts, side="right") - 1
    counts = np.bincount(text_of_tok, minlength=len(texts)).astype(np.int64)
    return tok, counts


class MinHasher:
    """MinHash signatures of token-shingle sets, computed in numpy batches (no per-shingle Python).

    Tokens are words and single punctuation marks (so `x=1` and `x = 1` agree), hashed by
    `token_hashes` without a Python loop over tokens; windows of
    `shingle` ids are hashed with a rolling polynomial. Signatures use one-permutation hashing
    (each shingle hash falls in one of `num_perm` bins, the bin keeps its minimum) with rotation
    densification for empty bins, so they cost O(shingles) instead of O(shingles x num_perm); two
    signatures agree in a bin with probability ~ the Jaccard similarity of the sets.
    """

    def __init__(self, num_perm: int = 128, shingle: int = 5, seed: int = 1) -> None:
        if num_perm < 1 or num_perm & (num_perm - 1):
            raise ValueError(f"num_perm must be a power of two, got {num_perm}")
        rng = np.random.default_rng(seed)
        self.seed_mul = np.uint64(int(rng.integers(1 << 62, dtype=np.uint64)) | 1)
        self.shingle = shingle
        self.num_perm = num_perm
        self._bits = num_perm.bit_length() - 1

    def batch(self, records_parts: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray]:
        """(64-bit shingle hashes of all records concatenated, start offset of each record).

        Each part (role) of a record is shingled on its own and salted with its index, so shingles
        of the question and of the answer never match each other; a part shorter than `shingle`
        tokens is padded to one shingle, so every record has at least one.
        """
        k = self.shingle
        texts = [t for parts in records_parts for t in parts]
        part_salt = np.array([p for parts in records_parts for p in range(len(parts))], dtype=np.uint64)
        part_record = np.repeat(np.arange(len(records_parts)), [len(parts) for parts in records_parts])
        tok, counts = token_hashes(texts)
        # pad short parts to k tokens (vectorised: place the real tokens, fill the rest with PAD)
        lens = np.maximum(counts, k)
        new_start = np.cumsum(lens) - lens
        old_start = np.cumsum(counts) - counts
        part_of_tok = np.repeat(np.arange(len(texts)), counts)
        arr = np.full(int(lens.sum()), _PAD_TOKEN, dtype=np.uint64)
        arr[new_start[part_of_tok] + (np.arange(len(tok)) - old_start[part_of_tok])] = tok
        ends = np.cumsum(lens)
        pos = np.arange(len(arr), dtype=np.int64)
        starts = pos[pos + k <= np.repeat(ends, lens)]
        h = np.zeros(len(starts), dtype=np.uint64)
        for j in range(k):  # polynomial rolling hash; uint64 overflow wraps, which is fine here
            h = h * np.uint64(1_000_003) + arr[starts + j] * np.uint64(0x9E3779B97F4A7C15)
        windows = lens - k + 1
        h ^= np.repeat(part_salt, windows) * np.uint64(0xC2B2AE3D27D4EB4F)
        h ^= h >> np.uint64(29)
        h *= self.seed_mul
        h ^= h >> np.uint64(32)
        rec = np.repeat(part_record, windows)
        offsets = np.searchsorted(rec, np.arange(len(records_parts)), side="left")
        return h, offsets

    def shingles(self, text: str) -> np.ndarray:
        """The distinct shingle hashes of one text."""
        h, _ = self.batch([[text]])
        return np.unique(h)

    def signatures(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(records, num_perm) uint64 signatures by one-permutation hashing + rotation densification."""
        n, bins = len(offsets), self.num_perm
        counts = np.diff(np.append(offsets, len(hashes)))
        rec = np.repeat(np.arange(n, dtype=np.int64), counts)
        bin_of = (
            (hashes >> np.uint64(64 - self._bits)).astype(np.int64)
            if self._bits
            else np.zeros(len(hashes), np.int64)
        )
        value = hashes & np.uint64((1 << 40) - 1)
        empty = np.uint64(1 << 62)
        flat = np.full(n * bins, empty, dtype=np.uint64)
        np.minimum.at(flat, rec * bins + bin_of, value)
        sig = flat.reshape(n, bins)
        missing = sig == empty
        if missing.any():
            # an empty bin takes the value of the next non-empty bin to its right (circularly),
            # shifted by the distance so borrowed values differ from the originals
            doubled = np.concatenate([sig, sig], axis=1)
            idx = np.where(np.concatenate([~missing, ~missing], axis=1), np.arange(2 * bins), 2 * bins)
            nxt = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1][:, :bins]
            dist = (nxt - np.arange(bins)).astype(np.uint64)
            borrowed = np.take_along_axis(doubled, nxt, axis=1) + dist * np.uint64(1 << 41)
            sig = np.where(missing, borrowed, sig)
        return sig

    def signature_of(self, texts: Sequence[str]) -> np.ndarray:
        h, off = self.batch([texts])
        return self.signatures(h, off)[0]


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
    """Jaccard similarity of two sorted arrays of distinct hashes."""
    inter = len(np.intersect1d(a, b, assume_unique=True))
    union = len(a) + len(b) - inter
    return inter / union if union else 1.0


def near_duplicates(
    records: Sequence[Record], config: DedupConfig, views: Sequence[_View] | None = None
) -> dict[int, tuple[int, float]]:
    """For each record that nearly duplicates an earlier one: index -> (earlier index, Jaccard)."""
    if not records:
        return {}
    hasher = MinHasher(config.num_perm, config.shingle, config.seed)
    views = views or [_View.of(r) for r in records]
    hashes, offsets = hasher.batch([near_parts(r, v) for r, v in zip(records, views, strict=True)])
    sig = hasher.signatures(hashes, offsets)
    ends = np.append(offsets[1:], len(hashes))
    bands, rows = lsh_params(config.threshold, config.num_perm)
    candidates: set[tuple[int, int]] = set()
    type_ids = np.unique(np.array([r.type for r in records]), return_inverse=True)[1]
    for band in range(bands):
        # records whose band rows agree (and whose types agree) share a bucket: sort, then group
        band_sig = np.ascontiguousarray(sig[:, band * rows : (band + 1) * rows])
        keys = np.concatenate([type_ids[:, None].astype(np.uint64), band_sig], axis=1)
        order = np.lexsort(keys.T[::-1])
        sorted_keys = keys[order]
        same = np.all(sorted_keys[1:] == sorted_keys[:-1], axis=1)
        if not same.any():
            continue
        # runs of equal keys: start where `same` switches on, end where it switches off
        edges = np.flatnonzero(np.diff(np.concatenate([[False], same, [False]]).astype(np.int8)))
        for lo, hi in zip(edges[0::2], edges[1::2], strict=True):
            members = sorted(order[lo : hi + 1].tolist())
            for a_pos, j in enumerate(members):
                for i in members[a_pos + 1 :]:
                    candidates.add((j, i))
    sets: dict[int, np.ndarray] = {}

    def shingle_set(i: int) -> np.ndarray:
        if i not in sets:
            sets[i] = np.unique(hashes[offsets[i] : ends[i]])
        return sets[i]

    dup_of: dict[int, tuple[int, float]] = {}
    for j, i in sorted(candidates):
        if i in dup_of or j in dup_of:
            continue  # compare against kept records only
        sim = jaccard(shingle_set(j), shingle_set(i))
        if sim >= config.threshold:
            dup_of[i] = (j, sim)
    return dup_of


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector: dedup allocates many small acyclic objects while the
    whole dataset is alive, and collections that find nothing cost ~30% of the step."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def clean_records(records: Sequence[Record], config: DedupConfig | None = None) -> QualityReport:
    """Lint, then drop exact and near duplicates; the earliest record of a group is kept."""
    with _gc_paused():
        return _clean_records(records, config)


def _clean_records(records: Sequence[Record], config: DedupConfig | None) -> QualityReport:
    config = config or DedupConfig()
    out_rejected: list[Rejected] = []
    warnings: list[tuple[str, str]] = []
    counts = {"input": len(records), "lint": 0, "exact_duplicate": 0, "near_duplicate": 0, "duplicate_id": 0}

    linted: list[tuple[Record, _View]] = []
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
        view = _View.of(r)
        lint = lint_record(r, view)
        warnings.extend((r.id, w) for w in lint.warnings)
        if lint.errors:
            counts["lint"] += 1
            out_rejected.append(rejected(r.id, r.source, "lint: " + "; ".join(lint.errors), "quality"))
        else:
            linted.append((r, view))

    unique: list[tuple[Record, _View]] = []
    if config.exact:
        first: dict[str, Record] = {}
        for r, view in linted:
            key = exact_key(r, view)
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
                unique.append((r, view))
    else:
        unique = list(linted)

    kept = [r for r, _ in unique]
    if config.near and unique:
        dups = near_duplicates(kept, config, [v for _, v in unique])
        kept = []
        for i, (r, _) in enumerate(unique):
            if i in dups:
                j, sim = dups[i]
                counts["near_duplicate"] += 1
                out_rejected.append(
                    rejected(
                        r.id,
                        r.source,
                        "near duplicate",
                        "quality",
                        duplicate_of=unique[j][0].id,
                        similarity=round(sim, 4),
                    )
                )
            else:
                kept.append(r)
    counts["kept"] = len(kept)
    return QualityReport(kept=kept, rejected=out_rejected, warnings=warnings, counts=counts)
