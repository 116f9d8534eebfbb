#!/usr/bin/env python3
"""Tiny TCP listeners for the ports that the firewall policy names but that no
real service holds in the mailflow lists container (ssh 22, spamd 783,
rsync 873), so that a port that cannot be reached is the firewall's doing.

Usage: listeners.py PORT=BANNER [PORT=BANNER ...]
Each connection gets the banner line and is closed.
"""
import socket
import socketserver
import sys
import threading


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def handler_for(banner: bytes):
    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                self.request.sendall(banner)
                self.request.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    return Handler


def main(argv):
    if not argv:
        sys.exit("usage: listeners.py PORT=BANNER ...")
    servers = []
    for spec in argv:
        port, _, banner = spec.partition("=")
        server = Server(("0.0.0.0", int(port)), handler_for((banner + "\r\n").encode()))
        servers.append(server)
        print(f"listeners: port {port} answers {banner!r}", flush=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


if __name__ == "__main__":
    main(sys.argv[1:])
