#!/usr/bin/env python3
"""A Splunk HTTP Event Collector stand-in for the SIEM forwarding test: HTTPS on 127.0.0.1,
POST /services/collector/event with `Authorization: Splunk <token>`; each accepted body is
appended to the output file and answered like Splunk does ({"text":"Success","code":0}); a wrong
token gets 403 {"text":"Invalid token","code":4}. Prints "ready PORT" when listening."""
import http.server, json, ssl, sys

cert, key, token, output = sys.argv[1:5]

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/services/collector/event":
            return self.answer(404, {"text": "Not found", "code": 404})
        if self.headers.get("Authorization") != "Splunk " + token:
            return self.answer(403, {"text": "Invalid token", "code": 4})
        with open(output, "ab") as f:
            f.write(body)
        self.answer(200, {"text": "Success", "code": 0})

    def answer(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.minimum_version = ssl.TLSVersion.TLSv1_2
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", server.server_address[1], flush=True)
server.serve_forever()
