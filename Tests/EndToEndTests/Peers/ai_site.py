#!/usr/bin/env python3
"""Serves one test page (a conversation titled "Budget review", as AI chats name theirs) over HTTPS for every host name (the browser maps AI sites' names to it
with --host-resolver-rules): a text box and a file input, each reporting what it received in
the page (data-* attributes on <body>), and logs every request line to stdout.

usage: ai_site.py CERT KEY [ADDRESS [PORT]]  (default 127.0.0.1 and a free port; prints "listening PORT" once ready)"""
import http.server, ssl, sys

PAGE = b"""<!doctype html><html><head><meta charset="utf-8"><title>Budget review</title></head><body data-pastes="0" data-drops="0" data-files="">
<textarea id="box" autofocus style="display:block;width:95vw;height:60vh"></textarea>
<form id="form" method="post" action="/upload" enctype="multipart/form-data"><input type="file" id="file" name="file"></form>
<script>
document.getElementById('box').addEventListener('paste', () => { document.body.dataset.pastes = String(Number(document.body.dataset.pastes) + 1); });
document.getElementById('box').addEventListener('drop', () => { document.body.dataset.drops = String(Number(document.body.dataset.drops) + 1); });
// Files set by script (no file choice, no change event), then the form sent.
window.submitWith = (name, text) => {
  const data = new DataTransfer();
  data.items.add(new File([text], name, {type: 'text/plain'}));
  document.getElementById('file').files = data.files;
  document.getElementById('form').requestSubmit();
};
document.getElementById('box').addEventListener('keydown', (event) => { if (event.key === 'Enter') document.body.dataset.sent = event.target.value; });
document.getElementById('file').addEventListener('change', (event) => {
  document.body.dataset.files = Array.from(event.target.files).map((file) => file.name).join(',');
});
</script></body></html>"""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        print(f"POST {self.headers.get('Host')} {self.path} {length}", flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format, *args):
        print(f"{self.command} {self.headers.get('Host')} {self.path}", flush=True)


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a browser refusing the test certificate in its own background requests is not news


server = Server((sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 else 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
