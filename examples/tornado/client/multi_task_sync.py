"""The article's `multi_task_sync`: ten requests from coroutines that use a *blocking* HTTP client.

    python3 client/multi_task_sync.py --port=9999   # about 30 s: coroutines over blocking I/O change nothing

Each coroutine calls urlopen, which blocks the only thread — and with it the event loop — until the server
answers, so the ten requests go one after another.
"""
import asyncio
import datetime
import os
import urllib.request

from tornado.options import define, options, parse_command_line

define("port", type=int, default=8888, help="the server's port")
define("n", type=int, default=10, help="requests")


async def task(url):
    with urllib.request.urlopen(url) as response:  # blocks the event loop: no other coroutine runs meanwhile
        return response.status


async def main():
    url = f"http://127.0.0.1:{options.port}/say/hello?name=Lucy"
    for status in await asyncio.gather(*(task(url) for _ in range(options.n))):
        print(f"Task Result: {status}")


if __name__ == "__main__":
    parse_command_line()
    print(datetime.datetime.now())
    print(f"my pid: {os.getpid()}")
    asyncio.run(main())
    print(datetime.datetime.now())
