"""The data stage: example schema, Markdown reader, ChatML conversion and import, quality, split,
stats and the stage-1 corpus builder. Imports no torch; formats are in docs/formats.md.
"""
