#!/usr/bin/python3
"""A minimal aiosmtpd sink, the peer of mailflow's sink in scripts/bench-sink:
accepts every message (250) and keeps nothing but a count.

    /usr/bin/python3 scripts/bench/aiosmtpd-sink.py 127.0.0.1 2613

Prints "listening" once bound; on SIGTERM or SIGINT prints "received N".
"""
import asyncio
import signal
import sys

from aiosmtpd.smtp import SMTP


class Sink:
    received = 0

    async def handle_DATA(self, server, session, envelope):
        Sink.received += 1
        return "250 OK"


async def main(host, port):
    loop = asyncio.get_running_loop()
    # A fixed hostname: without one aiosmtpd asks getfqdn() on every connection.
    server = await loop.create_server(lambda: SMTP(Sink(), hostname="aiosmtpd.bench"), host, port)
    stop = loop.create_future()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set_result, None)
    print("listening", flush=True)
    await stop
    server.close()
    print(f"received {Sink.received}", flush=True)


asyncio.run(main(sys.argv[1], int(sys.argv[2])))
