"""Tool kinds: one vocabulary (read, write, execute, search, plan, ask, mcp, other) over every agent's tool names."""

from __future__ import annotations

_KINDS: dict[str, str] = {}


def _add(kind: str, *names: str) -> None:
    for n in names:
        _KINDS[n.lower()] = kind


_add("read", "Read", "NotebookRead", "read_file", "read_many_files", "view_file", "view_image", "cat",
     "list_dir", "list_directory", "LS", "read_background_output", "BashOutput", "TaskOutput", "view",
     "read_url_content", "WebFetch", "web_fetch", "fetch", "view_code_item", "list_background_processes")
_add("write", "Write", "Edit", "MultiEdit", "NotebookEdit", "write_file", "replace", "apply_patch", "edit",
     "write_to_file", "replace_file_content", "multi_replace_file_content", "create", "str_replace",
     "str_replace_editor", "edit_file", "patch", "save_memory")
_add("execute", "Bash", "shell", "shell_command", "exec_command", "write_stdin", "local_shell_call",
     "run_shell_command", "run_command", "exec", "bash", "powershell", "KillBash", "KillShell", "TaskStop",
     "command_status", "send_command_input", "manage_task", "schedule")
_add("search", "Grep", "Glob", "grep", "glob", "search_file_content", "grep_search", "find_by_name",
     "WebSearch", "web_search", "web_search_call", "google_web_search", "search_web", "codebase_search",
     "ToolSearch", "tool_search_call", "rg", "find")
_add("plan", "TodoWrite", "TaskCreate", "TaskUpdate", "TaskList", "TaskGet", "update_plan", "write_todos",
     "ExitPlanMode", "EnterPlanMode", "enter_plan_mode", "exit_plan_mode", "update_topic", "Task", "Agent",
     "spawn_agent", "wait_agent", "send_message", "followup_task", "list_agents", "invoke_subagent",
     "define_subagent", "task", "Skill", "skill", "report_intent")
_add("ask", "AskUserQuestion", "ask_user", "request_user_input", "ask_question", "ask_permission",
     "ask_followup_question")


def tool_kind(name: str) -> str:
    """Classify a tool name; MCP tools are recognised by their naming conventions."""
    k = _KINDS.get(name.lower())
    if k is not None:
        return k
    if name.startswith("mcp__") or name.startswith("mcp_") or name.startswith("mcp:"):
        return "mcp"
    return "other"
