"""The article's coroutines: a wait that yields to the event loop, and a cached factorial.

`SayHelloHandler` awaits a timer: while it waits, the event loop serves other requests, so ten concurrent
requests take one wait, not ten. `BlockHandler` calls `time.sleep` instead — the article's warning: a blocking
call inside a coroutine stops the whole event loop, and ten requests take ten waits again.
"""
import json
import os
import time

import tornado.gen
from tornado.options import options

from handlers.params import Handler, bad, number, text

FACT_MAX = 20000
MS_MAX = 60000
CACHE_MAX = 1024

# The article's cache: results kept in the process, shared by every request of this process.
_fact_cache = {}


def compute(n):
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result


def fact(n):
    if n not in _fact_cache:
        value = compute(n)
        if len(_fact_cache) >= CACHE_MAX:
            return value  # capped, so a client walking every n cannot grow it without bound
        _fact_cache[n] = value
    return _fact_cache[n]


class SayHelloHandler(Handler):
    async def get(self):
        name = text(self, "name")
        ms = number(self, "ms", MS_MAX, default=options.hello_ms)
        if not options.quiet:
            print(f"SayHelloHanlder to {name}", flush=True)  # the article's log line, typo and all
        # The coroutine yields here: the event loop runs other requests until the timer fires.
        await tornado.gen.sleep(ms / 1000)
        if not options.quiet:
            print("SayHelloHanlder end", flush=True)
        self.write(f"hello {name}")


class FactHandler(Handler):
    def get(self):
        n = number(self, "n", FACT_MAX)
        cache = self.get_query_argument("cache", "1", strip=False)
        if cache not in ("0", "1"):
            bad(f'parameter "cache" must be 0 or 1, not "{cache}"')
        # CPU work on the event loop's thread: other requests wait while it runs.
        self.write(str(fact(n) if cache == "1" else compute(n)))
        # N! depends on N alone: a cache may keep it a day (docs/workload.md).
        self.set_header("Cache-Control", "max-age=86400")


class NoParamHandler(Handler):
    def get(self):
        self.finish()


class BlockHandler(Handler):
    def get(self):
        ms = number(self, "ms", MS_MAX)
        # The anti-pattern: a blocking call in a handler. The event loop (the only thread) sleeps with it.
        time.sleep(ms / 1000)
        self.write(f"blocked {ms} ms")


class HealthHandler(Handler):
    def get(self):
        self.set_header("Content-Type", "application/json")
        self.write(
            json.dumps(
                {
                    "server": "tornado",
                    "model": "event loop (tornado coroutines)",
                    "pid": os.getpid(),
                    "threads": 1,
                    "processes": options.processes,
                }
            )
        )


fact_routing = [
    (r"/say/hello", SayHelloHandler),
    (r"/fact", FactHandler),
    (r"/no/param", NoParamHandler),
    (r"/block", BlockHandler),
    (r"/health", HealthHandler),
]
