"""``pi-sandbox mcp``: an MCP server (official ``mcp`` SDK) over a front-door session (docs/mcp.md)."""
