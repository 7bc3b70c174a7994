"""agtrace-mcp: coding-agent session history for agents, over MCP."""

__version__ = "0.1.0"
