"""Cheap checks that a file another stage wrote is whole before a slow load trips over it.

Each check raises a UserError naming the file, what is wrong and what to do, in one or two lines,
instead of the loader's traceback: truncated GGUF, safetensors, torch checkpoints, JSON state.
No torch or numpy imports: these only read headers and sizes.
"""

from __future__ import annotations

import json
import mmap
import struct
import zipfile
from pathlib import Path
from typing import Any

from bbjcoder.errors import ModelError, UserError


class CorruptFile(UserError):
    """A file that exists but is truncated or unreadable."""


def check_json_object(path: Path, *, hint: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse a JSON file that must hold an object (with `required` keys)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CorruptFile(f"cannot read: {exc.strerror}", path=path, hint=hint) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFile(f"not valid JSON ({exc}): truncated or corrupt", path=path, hint=hint) from exc
    if not isinstance(data, dict):
        raise CorruptFile(f"holds a JSON {type(data).__name__}, expected an object", path=path, hint=hint)
    missing = [k for k in required if k not in data]
    if missing:
        raise CorruptFile(f"has no {', '.join(missing)}: not the expected file", path=path, hint=hint)
    return data


def check_safetensors(path: Path, *, hint: str) -> None:
    """The 8-byte header length, the JSON header, and every tensor's bytes inside the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CorruptFile(f"truncated: {size} bytes, no safetensors header", path=path, hint=hint)
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100 << 20):
                raise CorruptFile(
                    f"truncated or not safetensors: header claims {n} bytes, file has {size}",
                    path=path,
                    hint=hint,
                )
            header = json.loads(fh.read(n))
    except OSError as exc:
        raise CorruptFile(f"cannot read: {exc.strerror}", path=path, hint=hint) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptFile("corrupt safetensors header (not JSON)", path=path, hint=hint) from exc
    if not isinstance(header, dict):
        raise CorruptFile("corrupt safetensors header", path=path, hint=hint)
    end = max(
        (int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)),
        default=0,
    )
    if size < 8 + n + end:
        raise CorruptFile(f"truncated: {size} bytes, the tensors need {8 + n + end}", path=path, hint=hint)


def check_torch_file(path: Path, *, hint: str) -> None:
    """A `torch.save` file (zip format): readable directory and matching CRCs, without torch."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except FileNotFoundError as exc:
        raise CorruptFile("missing", path=path, hint=hint) from exc
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise CorruptFile(f"truncated or corrupt ({exc})", path=path, hint=hint) from exc
    if bad is not None:
        raise CorruptFile(f"corrupt: member {bad} fails its CRC check", path=path, hint=hint)


# --- GGUF -------------------------------------------------------------------------------------------

# GGUF metadata value types -> struct format (fixed-size ones); 8 = string, 9 = array.
_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


class _Cursor:
    def __init__(self, buf: Any) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        n = struct.calcsize("<" + fmt)
        if self.pos + n > len(self.buf):
            raise EOFError
        (value,) = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += n
        return value

    def string(self) -> bytes:
        n = self.take("Q")
        if self.pos + n > len(self.buf):
            raise EOFError
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def value(self, vtype: int) -> Any:
        if vtype in _FIXED:
            return self.take(_FIXED[vtype])
        if vtype == 8:
            return self.string()
        if vtype == 9:
            etype, count = self.take("I"), self.take("Q")
            if etype in _FIXED:  # skip without decoding: tokenizer arrays are large
                n = struct.calcsize("<" + _FIXED[etype]) * count
                if self.pos + n > len(self.buf):
                    raise EOFError
                self.pos += n
                return None
            for _ in range(count):
                self.value(etype)
            return None
        raise ValueError(f"unknown metadata value type {vtype}")


def gguf_problem(path: Path) -> str | None:
    """What is wrong with a GGUF file (bad magic, truncated header or tensor data), or None."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    size = path.stat().st_size
    if size < 24:
        return f"too short to be GGUF ({size} bytes)"
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if buf[:4] != b"GGUF":
            return f"not a GGUF file (starts with {bytes(buf[:4])!r}, expected b'GGUF')"
        cur = _Cursor(buf)
        cur.pos = 4
        try:
            version = cur.take("I")
            if version < 2:
                return None  # GGUF v1: too old to check here; llama.cpp will say more
            n_tensors, n_kv = cur.take("Q"), cur.take("Q")
            alignment = 32
            for _ in range(n_kv):
                key = cur.string()
                value = cur.value(cur.take("I"))
                if key == b"general.alignment" and isinstance(value, int):
                    alignment = value
            end = 0
            for _ in range(n_tensors):
                cur.string()
                dims = [cur.take("Q") for _ in range(cur.take("I"))]
                ttype, offset = cur.take("I"), cur.take("Q")
                elems = 1
                for d in dims:
                    elems *= d
                block, type_size = GGML_QUANT_SIZES.get(GGMLQuantizationType(ttype), (1, 0))
                end = max(end, offset + elems // block * type_size)
        except EOFError:
            return f"truncated: the header runs past the end of the file ({size} bytes)"
        except ValueError as exc:
            return f"corrupt header: {exc}"
        data_start = -(-cur.pos // alignment) * alignment
        if size < data_start + end:
            return f"truncated: {size} bytes, the tensors need {data_start + end}"
    return None


def check_gguf(path: str | Path, *, hint: str | None = None) -> None:
    """ModelError naming the GGUF file and what is wrong with it, before llama.cpp loads it."""
    path = Path(path)
    if not path.is_file():
        raise ModelError("no GGUF file here", path=path)
    problem = gguf_problem(path)
    if problem:
        raise ModelError(
            problem,
            path=path,
            hint=hint or "export it again (`bbjcoder export RUN`) or copy/download the file again",
        )
