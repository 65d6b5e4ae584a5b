"""The article's `multi_task_async`: ten requests over asynchronous I/O (tornado's AsyncHTTPClient).

    python3 client/multi_task_async.py --port=9999  # about 3 s: all ten wait at once

While one request waits for its answer, the event loop sends the next; the answers are handled as they come.
"""
import asyncio
import datetime

from tornado.httpclient import AsyncHTTPClient
from tornado.options import define, options, parse_command_line

define("port", type=int, default=8888, help="the server's port")
define("n", type=int, default=10, help="requests")


async def main():
    AsyncHTTPClient.configure(None, max_clients=options.n)  # the default pool would hold 10 in flight
    client = AsyncHTTPClient()
    url = f"http://127.0.0.1:{options.port}/say/hello?name=Lucy"
    # Each fetch yields to the event loop at once; gather waits for all of them together.
    for response in await asyncio.gather(*(client.fetch(url) for _ in range(options.n))):
        print(f"Task Result: {response.code}")


if __name__ == "__main__":
    parse_command_line()
    print(datetime.datetime.now())
    asyncio.run(main())
    print(datetime.datetime.now())
