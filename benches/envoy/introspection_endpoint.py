#!/usr/bin/env python3
"""A loopback RFC 7662 endpoint for the OPAQUE=1 Envoy bench (benches/envoy/run.sh): every
POST is answered active, with the lab's issuer and audience, scope and a day of life. The
bench's token is reused, so after the first Check every answer comes from our cache; this
only has to be correct, not fast.

    introspection_endpoint.py PORT_FILE   binds 127.0.0.1:0 and writes the port to PORT_FILE
"""
import http.server
import json
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = int(time.time())
        body = json.dumps({
            "active": True, "iss": "https://issuer.example.com", "aud": "https://api.example.com/",
            "sub": "user-42", "scope": "read write", "iat": now, "exp": now + 86400,
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
