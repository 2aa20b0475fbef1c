#!/usr/bin/env python3
"""A line-oriented driver for a running Chromium over the DevTools protocol: reads one JSON
command per line on stdin, answers one JSON object per line on stdout.

  {"op": "navigate", "url": U}                 → {"url": location after load}
  {"op": "eval", "expr": JS}                   → {"value": result (promises awaited)}
  {"op": "files", "selector": S, "paths": [P]} → {} (sets a file input as the file chooser would)

usage: devtools.py WS_URL  (the browser's "DevTools listening on ws://…" endpoint)"""
import json, sys, time
from cdp import DevToolsConnection

cdp = DevToolsConnection(sys.argv[1])
call = cdp.call
pages = [target for target in call("Target.getTargets")["targetInfos"] if target["type"] == "page"]
session = cdp.attach(pages[0]["targetId"] if pages else call("Target.createTarget", {"url": "about:blank"})["targetId"])


def evaluate(expression):
    return cdp.evaluate(session, expression)


def navigate(url):
    call("Page.navigate", {"url": url}, session=session)
    deadline = time.time() + 30
    while time.time() < deadline:
        time.sleep(0.2)
        try:
            if evaluate("document.readyState") == "complete" and evaluate("location.href") != "about:blank":
                return evaluate("location.href")
        except Exception:
            pass  # the document is being replaced
    raise RuntimeError(f"{url} did not load")


for line in sys.stdin:
    command = json.loads(line)
    try:
        if command["op"] == "navigate":
            answer = {"url": navigate(command["url"])}
        elif command["op"] == "eval":
            answer = {"value": evaluate(command["expr"])}
        elif command["op"] == "files":
            root = call("DOM.getDocument", session=session)["root"]["nodeId"]
            node = call("DOM.querySelector", {"nodeId": root, "selector": command["selector"]}, session=session)["nodeId"]
            call("DOM.setFileInputFiles", {"files": command["paths"], "nodeId": node}, session=session)
            answer = {}
        else:
            answer = {"error": f"unknown op {command['op']}"}
    except Exception as error:
        answer = {"error": str(error)}
    print(json.dumps(answer), flush=True)
