#!/usr/bin/env bash
# Drive `agtrace-mcp serve --demo` with the MCP Inspector CLI: strict tools/list, then a tools/call of every tool.
set -euo pipefail
SERVER=$1
WORK=$2
TOOLS_DIR=${AGTRACE_MCP_TOOLS_DIR:-$WORK/tools}
mkdir -p "$TOOLS_DIR"
if [ ! -x "$TOOLS_DIR/node_modules/.bin/mcp-inspector" ]; then
  npm install --silent --no-audit --no-fund --prefix "$TOOLS_DIR" @modelcontextprotocol/inspector@2.12.0 >/dev/null
fi
I="$TOOLS_DIR/node_modules/.bin/mcp-inspector"
export HOME="$WORK/home"   # no inspector state in the real HOME; the demo data dir lives here too
mkdir -p "$HOME"
S=(-- "$SERVER" serve --demo)

"$I" --cli --strict --method tools/list "${S[@]}" > "$WORK/tools.json"
python3 - "$WORK/tools.json" <<'PY'
import json, sys
tools = {t["name"]: t for t in json.load(open(sys.argv[1]))["tools"]}
expected = {"list_sessions", "get_session", "get_turn", "find_failed_tools", "search_history", "list_projects",
            "get_text", "current_session"}
missing = expected - set(tools)
assert not missing, f"missing tools: {missing}"
for name, t in tools.items():
    a = t.get("annotations", {})
    assert a.get("readOnlyHint") is True and a.get("openWorldHint") is False, name
    assert "outputSchema" in t, name
print(f"tools/list --strict: {len(tools)} tools, all read-only with an outputSchema")
PY

call() {
  local name=$1; shift
  "$I" --cli -q --format json --method tools/call --tool-name "$name" "$@" "${S[@]}" > "$WORK/out.json"
  python3 -c "
import json,sys
r=json.load(open('$WORK/out.json'))['result']
assert not r.get('isError'), r
assert r.get('structuredContent') is not None
print('tools/call $name: ok')"
}
call list_sessions --tool-arg limit=3
call get_session --tool-arg session_id=111111
call get_turn --tool-arg session_id=111111 --tool-arg turn_index=-1
call find_failed_tools --tool-arg limit=5
call search_history --tool-arg query=pytest
call list_projects
call get_text --tool-arg session_id=111111 --tool-arg field=output --tool-arg call_id=toolu_pytest
call get_turn --tool-arg session_id=111111 --tool-arg turn_index=0 --tool-arg detail=outline
call current_session --tool-arg project=/home/dev/webapp
for extra in analyze_session get_usage secret_findings; do
  if python3 -c "import json,sys; sys.exit(0 if '$extra' in {t['name'] for t in json.load(open('$WORK/tools.json'))['tools']} else 1)"; then
    case $extra in
      analyze_session) call analyze_session --tool-arg session_id=111111 ;;
      get_usage) call get_usage --tool-arg session_id=111111 ;;
      secret_findings) call secret_findings ;;
    esac
  fi
done

# an expected failure is a tool error (exit 5), not a crash
set +e
"$I" --cli -q --format json --method tools/call --tool-name get_session --tool-arg session_id=zzzzzzzz "${S[@]}" >/dev/null 2>&1
code=$?
set -e
[ "$code" = 5 ] || { echo "expected a tool error (exit 5) for an unknown session, got $code"; exit 1; }
echo "tools/call get_session(unknown id): tool error, as expected"

# the modern protocol era too
"$I" --cli -q --format json --protocol-era modern --method tools/call --tool-name list_sessions --tool-arg limit=1 "${S[@]}" > "$WORK/out.json"
python3 -c "import json; r=json.load(open('$WORK/out.json'))['result']; assert not r.get('isError'); print('modern era tools/call: ok')"
