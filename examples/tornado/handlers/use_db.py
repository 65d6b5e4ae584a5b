"""The article's database route: visits counted in SQLite.

A database call blocks the thread that makes it (on SQLite's write lock and on the fsync of the commit). Made
on the event loop's thread it would stop every other request, so the coroutine hands it to a thread pool
(`run_in_executor`) and yields until it is done — the way the Rust async servers use their blocking pools.
"""
import sqlite3
import threading

import tornado.ioloop
from tornado.options import options

from handlers.params import Handler, bad, text

# The largest body POST /db/visit reads (docs/workload.md).
MAX_FORM_BYTES = 4096
FORM = "application/x-www-form-urlencoded"

_local = threading.local()


def create_table(path):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS visits (name TEXT PRIMARY KEY, count INTEGER NOT NULL)")
    db.commit()
    db.close()


def _connection():
    # One connection per pool thread: an SQLite connection is not shared between threads.
    if not hasattr(_local, "db"):
        db = sqlite3.connect(options.db, timeout=30, isolation_level=None)
        db.execute("PRAGMA synchronous=FULL")
        _local.db = db
    return _local.db


def visit(name):
    db = _connection()
    db.execute("BEGIN IMMEDIATE")  # takes the write lock now: concurrent visits queue, none fails halfway
    try:
        db.execute(
            "INSERT INTO visits (name, count) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET count = count + 1",
            (name,),
        )
        (count,) = db.execute("SELECT count FROM visits WHERE name = ?", (name,)).fetchone()
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return count


def visits(name):
    row = _connection().execute("SELECT count FROM visits WHERE name = ?", (name,)).fetchone()
    return row[0] if row else 0


class VisitHandler(Handler):
    """The article counts a visit on GET; POST is the method for a write (RFC 9110 §9.3.3), and the lab's
    clients use it. Both answer `Cache-Control: no-store` (the base handler's default)."""

    async def get(self):
        await self.count(text(self, "name"))

    async def post(self):
        if len(self.request.body) > MAX_FORM_BYTES:
            self.set_status(413)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f"the request body is larger than {MAX_FORM_BYTES} bytes")
            return
        content_type = self.request.headers.get("Content-Type")
        if content_type is not None and content_type.split(";")[0].strip().lower() != FORM:
            self.set_status(415)
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(f'POST /db/visit takes an {FORM} body, not "{content_type}"')
            return
        if self.request.body and content_type is None:
            bad("a body without Content-Type")
        await self.count(text(self, "name", form=True))

    async def count(self, name):
        # The coroutine yields here while a pool thread blocks on SQLite.
        count = await tornado.ioloop.IOLoop.current().run_in_executor(None, visit, name)
        self.write(str(count))


class VisitsHandler(Handler):
    async def get(self):
        name = text(self, "name")
        count = await tornado.ioloop.IOLoop.current().run_in_executor(None, visits, name)
        self.write(str(count))


use_db_routing = [
    (r"/db/visit", VisitHandler),
    (r"/db/visits", VisitsHandler),
]
