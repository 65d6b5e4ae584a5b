"""The article's server, rebuilt: one tornado process, one event loop, every request a coroutine.

Run it as the article does:

    python3 app.py --port=9999
    curl 'http://127.0.0.1:9999/say/hello?name=alice'      # "hello alice", after 3 s

and with `--processes=N` as the article's multi-process idea: the listening socket is bound first, then
tornado's `fork_processes` starts N copies of this process, each with its own event loop, sharing that socket.

The routes are the article's (`/say/hello`, the cached `/fact`, a database route), extended to the lab's
workload contract (docs/workload.md: `ms`, `/no/param`, `/db/visits`, `/block`, `/health`) so that the lab
can verify and measure it beside the Rust servers with `--server tornado='python3 examples/tornado/app.py
--port={port}'`. Protocol details are tornado's own: its
bodies are `text/html`; the lab reports that as a warning and measures it anyway.
"""
import os
import sys

import tornado.ioloop
import tornado.netutil
import tornado.process
import tornado.web
from tornado.httpserver import HTTPServer
from tornado.options import define, options, parse_command_line

define("port", type=int, default=8888, help="服务端监听的端口 (the port to listen on)")
define("host", type=str, default="127.0.0.1", help="the address to listen on")
define("processes", type=int, default=1, help="processes sharing the port (tornado's fork_processes)")
define("hello_ms", type=int, default=3000, help="/say/hello's wait when the request gives no ms")
define("db", type=str, default="", help="the SQLite file (default: a temp file named after the port)")
define("quiet", type=bool, default=False, help="no access log")
parse_command_line()

# The handlers read the options above, so they are imported after parsing (as in the article).
from handlers.fact import fact_routing  # noqa: E402
from handlers.use_db import use_db_routing  # noqa: E402


def make_app():
    routings = fact_routing + use_db_routing
    log_function = (lambda handler: None) if options.quiet else None
    return tornado.web.Application(routings, log_function=log_function)


if __name__ == "__main__":
    sys.set_int_max_str_digits(0)  # 20000! has 77,338 digits; Python refuses more than 4,300 by default
    sockets = tornado.netutil.bind_sockets(options.port, address=options.host)
    port = sockets[0].getsockname()[1]
    if not options.db:
        import tempfile

        options.db = os.path.join(tempfile.gettempdir(), f"lab-visits-tornado-{port}.sqlite")
    from handlers import use_db

    use_db.create_table(options.db)  # once, before forking
    print(f"listening on http://{options.host}:{port}", flush=True)
    if options.processes > 1:
        # The multi-process model: N copies of this process, each with its own event loop, accept on the
        # one socket bound above. fork_processes restarts a child that dies and never returns in the parent.
        parent = os.getpid()
        tornado.process.fork_processes(options.processes, max_restarts=100)
        # A child never outlives the parent that supervises it (the Rust servers use PR_SET_PDEATHSIG).
        tornado.ioloop.PeriodicCallback(lambda: os.getppid() != parent and os._exit(0), 500).start()
    server = HTTPServer(make_app())
    server.add_sockets(sockets)
    # The event loop: from here on this thread only waits for events (a readable socket, a timer, a
    # finished database call) and runs the coroutine each one resumes.
    tornado.ioloop.IOLoop.current().start()
