#!/usr/bin/env python3
"""The same line-oriented driver as devtools.py, for Firefox over WebDriver BiDi: installs the
extension in DIR as a temporary add-on first (accepting the test server's certificate), then
reads one JSON command per line on stdin and answers one JSON object per line on stdout.

  {"op": "navigate", "url": U}                 → {"url": location after load}
  {"op": "eval", "expr": JS}                   → {"value": result (promises awaited)}
  {"op": "files", "selector": S, "paths": [P]} → {} (sets a file input as the file chooser would)

usage: bidi.py WS_URL EXTENSION_DIR  (Firefox's "WebDriver BiDi listening on ws://…" address)"""
import json, sys, time
import websocket

ws = websocket.create_connection(sys.argv[1].rstrip("/") + "/session", timeout=60, suppress_origin=True)
next_id = 0


def call(method, params=None):
    global next_id
    next_id += 1
    ws.send(json.dumps({"id": next_id, "method": method, "params": params or {}}))
    while True:
        answer = json.loads(ws.recv())
        if answer.get("id") == next_id:
            if answer.get("type") == "error":
                raise RuntimeError(f"{method}: {answer.get('error')}: {answer.get('message')}")
            return answer.get("result", {})


def plain(remote):
    """A BiDi remote value as plain JSON."""
    kind = remote.get("type")
    if kind in ("string", "boolean"):
        return remote["value"]
    if kind == "number":
        value = remote["value"]
        return value if isinstance(value, (int, float)) else None
    if kind == "array":
        return [plain(item) for item in remote.get("value", [])]
    if kind == "object":
        return {key if isinstance(key, str) else plain(key): plain(value) for key, value in remote.get("value", [])}
    return None


call("session.new", {"capabilities": {"alwaysMatch": {"acceptInsecureCerts": True}}})
extension = call("webExtension.install", {"extensionData": {"type": "path", "path": sys.argv[2]}})
print(f"installed {extension.get('extension')}", file=sys.stderr, flush=True)
context = call("browsingContext.getTree")["contexts"][0]["context"]
call("browsingContext.activate", {"context": context})  # the tab the window shows (and its title)


def evaluate(expression, own=False):
    result = call("script.evaluate", {"expression": expression, "target": {"context": context}, "awaitPromise": True,
                                      "resultOwnership": "root" if own else "none"})
    if result.get("type") == "exception":
        raise RuntimeError(result["exceptionDetails"].get("text", "exception"))
    return result["result"]


def navigate(url):
    try:
        call("browsingContext.navigate", {"context": context, "url": url, "wait": "complete"})
    except RuntimeError:
        pass  # a redirect to an extension page can end the navigation differently
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if plain(evaluate("document.readyState")) == "complete":
                return plain(evaluate("location.href"))
        except RuntimeError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not load")


for line in sys.stdin:
    command = json.loads(line)
    try:
        if command["op"] == "navigate":
            answer = {"url": navigate(command["url"])}
        elif command["op"] == "eval":
            answer = {"value": plain(evaluate(command["expr"]))}
        elif command["op"] == "files":
            node = evaluate(f"document.querySelector({json.dumps(command['selector'])})", own=True)
            call("input.setFiles", {"context": context, "element": {"sharedId": node["sharedId"]}, "files": command["paths"]})
            answer = {}
        else:
            answer = {"error": f"unknown op {command['op']}"}
    except Exception as error:
        answer = {"error": str(error)}
    print(json.dumps(answer), flush=True)
call("session.end")
