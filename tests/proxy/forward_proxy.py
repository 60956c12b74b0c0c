"""A minimal forward HTTP proxy for tests: it relays absolute-URI requests
(what a client configured with HTTP_PROXY sends for http:// URLs), streams
the response back (SSE included), and appends "METHOD URL" for each request
to the file named by its second argument. It listens on 127.0.0.1, on a port
the kernel picks, and prints that port on stdout once it is ready."""

import http.client
import http.server
import socketserver
import sys
import urllib.parse

LOG = sys.argv[1]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self):
        with open(LOG, "a") as log:
            log.write(f"{self.command} {self.path}\n")
        url = urllib.parse.urlsplit(self.path)
        body = None
        if "Content-Length" in self.headers:
            body = self.rfile.read(int(self.headers["Content-Length"]))
        upstream = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("proxy-connection", "connection")}
        path = url.path + (f"?{url.query}" if url.query else "")
        upstream.request(self.command, path, body=body, headers=headers)
        resp = upstream.getresponse()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        while True:
            chunk = resp.read1(65536)
            if not chunk:
                break
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        upstream.close()

    do_GET = do_POST = do_DELETE = relay

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Proxy)
print(server.server_address[1], flush=True)
server.serve_forever()
