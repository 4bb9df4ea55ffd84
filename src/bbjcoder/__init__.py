"""bbjcoder: turn an open code LLM into a model that writes correct BBj.

The package is split into stages (data, train, evaluate, export, serve) that talk through files.
"""

__version__ = "0.1.0"
