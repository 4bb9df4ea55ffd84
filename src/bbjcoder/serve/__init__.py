"""Serving an exported model: the OpenAI-compatible HTTP server and the MCP server for editors/agents.

`server.serve` runs llama-cpp-python's server on a GGUF; `mcp_server.run_stdio` speaks MCP over stdio.
"""
