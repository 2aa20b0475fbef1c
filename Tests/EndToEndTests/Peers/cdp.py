"""The Chrome DevTools protocol over one WebSocket, shared by the peers that drive Chromium:
commands answered in order, events kept (and handed to `on_event`) as they pass."""
import json
import websocket


class DevToolsConnection:
    def __init__(self, url, on_event=None):
        self.ws = websocket.create_connection(url, timeout=30)
        self.next_id = 0
        self.events = []
        self.on_event = on_event

    def call(self, method, params=None, session=None):
        """Sends one command (to a page when `session` is given) and returns its result;
        an error answer raises with the protocol's message."""
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(self.ws.recv())
            if "method" in answer:
                self.events.append(answer)
                if self.on_event:
                    self.on_event(answer)
                continue
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})

    def attach(self, target):
        """A flat session on `target`, with page events enabled."""
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable", session=session)
        return session

    def evaluate(self, session, expression, await_promise=True):
        """The value of `expression` in the page; a thrown exception raises."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": await_promise}, session=session)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"].get("exception", {}).get("description", "exception"))
        return result.get("result", {}).get("value")

    def close(self):
        self.ws.close()
