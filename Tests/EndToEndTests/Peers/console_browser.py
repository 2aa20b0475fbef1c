#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol through the Bulwark web console: logs in
with an API token by filling and submitting the real form, opens the dashboard and an incident,
saves screenshots, and prints what the rendered DOM holds (and any Content-Security-Policy
violation the browser reported) as one JSON object.

usage: console_browser.py BASE_URL TOKEN INCIDENT_ID ARTIFACTS_DIR"""
import base64, json, os, re, subprocess, sys, tempfile, time
from cdp import DevToolsConnection

base, token, incident, artifacts = sys.argv[1:5]
os.makedirs(artifacts, exist_ok=True)
profile = tempfile.mkdtemp(prefix="console-chromium-")
# The collector's certificate comes from the test deployment's own CA.
browser = subprocess.Popen(
    ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors", "--remote-debugging-port=0",
     "--user-data-dir=" + profile, "--window-size=1280,900", "about:blank"],
    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
url = None
deadline = time.time() + 30
while time.time() < deadline and url is None:
    line = browser.stderr.readline()
    match = re.search(r"DevTools listening on (ws://\S+)", line)
    if match:
        url = match.group(1)
if url is None:
    print(json.dumps({"error": "chromium did not start"}))
    sys.exit(1)

console_errors = []


def log_error(event):
    if event.get("method") == "Log.entryAdded" and event["params"]["entry"].get("level") == "error":
        console_errors.append(event["params"]["entry"].get("text", ""))


cdp = DevToolsConnection(url, on_event=log_error)
call = cdp.call
session = cdp.attach(call("Target.createTarget", {"url": "about:blank"})["targetId"])
call("Log.enable", session=session)


def evaluate(expression):
    return cdp.evaluate(session, expression, await_promise=False)


def wait_for(expression, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        if evaluate(expression):
            return True
        time.sleep(0.1)
    return False


def open_page(path):
    call("Page.navigate", {"url": base + path}, session=session)
    wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")


def screenshot(name):
    data = call("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    with open(os.path.join(artifacts, name), "wb") as f:
        f.write(base64.b64decode(data))


result = {}
open_page("/console")  # not signed in: sent to the login page
result["redirected_to_login"] = evaluate("location.pathname")
screenshot("console-login.png")
evaluate(f"document.getElementById('token').value = {json.dumps(token)}; document.getElementById('login').submit(); true")
wait_for("location.pathname === '/console' && document.readyState === 'complete'")
result["after_login"] = evaluate("location.pathname")
result["who"] = evaluate("(document.getElementById('who') || {}).textContent")
result["apps_count"] = evaluate("(document.getElementById('apps-count') || {}).textContent")
result["incidents_count"] = evaluate("(document.getElementById('incidents-count') || {}).textContent")
result["chart_bars"] = evaluate("document.querySelectorAll('#incident-chart rect').length")
result["agents_table"] = evaluate("(document.getElementById('agents') || {}).innerText")
result["scripts"] = evaluate("document.scripts.length")
result["heading_font"] = evaluate("getComputedStyle(document.querySelector('h1')).fontSize")
screenshot("console-dashboard.png")
open_page("/console/incident?id=" + incident)
result["incident_heading"] = evaluate("(document.querySelector('#incident h2') || {}).textContent")
result["grant_form"] = evaluate("!!document.getElementById('grant')")
screenshot("console-incident.png")
open_page("/console/inventory?category=local_llm&min_risk=0")
result["inventory_rows"] = evaluate("document.querySelectorAll('#inventory tbody tr').length")
result["inventory_first"] = evaluate("(document.querySelector('#inventory tbody a') || {}).textContent")
result["inventory_text"] = evaluate("(document.getElementById('inventory') || {}).innerText")
screenshot("console-inventory.png")
evaluate("document.querySelector('#inventory tbody a').click(); true")
wait_for("location.pathname === '/console/app' && document.readyState === 'complete'")
result["app_name"] = evaluate("(document.getElementById('app-name') || {}).textContent")
result["app_text"] = evaluate("document.body.innerText")
screenshot("console-app.png")
open_page("/console/inventory?category=ai_coding")
result["filtered_out"] = evaluate("document.querySelectorAll('#inventory tbody tr').length")
open_page("/console/agents")
result["agents_page"] = evaluate("document.body.innerText")
screenshot("console-agents.png")
result["console_errors"] = console_errors
print(json.dumps(result))
cdp.close()
browser.terminate()
browser.wait(timeout=10)
