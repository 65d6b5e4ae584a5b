"""The workload contract's parameters (docs/workload.md): a bad one is a 400 whose body is the reason, on one
line, so that a person with curl can fix the request."""
import tornado.web


class BadRequest(tornado.web.HTTPError):
    def __init__(self, reason):
        super().__init__(400)
        self.body = reason


def bad(reason):
    raise BadRequest(reason)


class Handler(tornado.web.RequestHandler):
    """The base of every handler: a bad request's reason is its body (tornado's own error page otherwise), every
    answer says whether a cache may keep it (docs/workload.md: no-store unless the route says otherwise), and a
    405 lists the methods the route takes (RFC 9110 §15.5.6)."""

    def set_default_headers(self):
        # Also what an error response starts from: tornado clears a response to these before writing an error.
        self.set_header("Cache-Control", "no-store")

    def allowed_methods(self):
        base = tornado.web.RequestHandler
        return [m for m in ("GET", "POST") if getattr(type(self), m.lower()) is not getattr(base, m.lower())]

    def write_error(self, status_code, **kwargs):
        if status_code == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, BadRequest):
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(error.body)
        else:
            super().write_error(status_code, **kwargs)


def text(handler, name, form=False):
    """A text parameter from the query, or with `form` from the query and an urlencoded body together (tornado
    decodes a body of that type into the same arguments)."""
    values = (handler.get_arguments if form else handler.get_query_arguments)(name, strip=False)
    if not values:
        bad(f'missing parameter "{name}"')
    if len(values) > 1:
        bad(f'parameter "{name}" is given more than once')
    value = values[0]
    if not value:
        bad(f'parameter "{name}" is empty')
    if len(value.encode()) > 256:
        bad(f'parameter "{name}" is longer than 256 bytes')
    return value


def number(handler, name, maximum, default=None):
    values = handler.get_query_arguments(name, strip=False)
    if not values:
        if default is not None:
            return default
        bad(f'missing parameter "{name}"')
    if len(values) > 1:
        bad(f'parameter "{name}" is given more than once')
    value = values[0]
    if not (value.isascii() and value.isdigit()) or int(value) > maximum:
        bad(f'parameter "{name}" must be a whole number from 0 to {maximum}, not "{value}"')
    return int(value)
