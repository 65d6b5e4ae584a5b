"""The article's database route: visits counted in SQLite.

A database call blocks the thread that makes it (on SQLite's write lock and on the fsync of the commit). Made
on the event loop's thread it would stop every other request, so the coroutine hands it to a thread pool
(`run_in_executor`) and yields until it is done — the way the Rust async servers use their blocking pools.
"""
import sqlite3
import threading

import tornado.ioloop
from tornado.options import options

from handlers.params import Handler, text

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
    async def get(self):
        name = text(self, "name")
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
