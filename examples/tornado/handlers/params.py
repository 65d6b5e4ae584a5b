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
    """The base of every handler: a bad request's reason is its body (tornado's own error page otherwise)."""

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, BadRequest):
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            self.finish(error.body)
        else:
            super().write_error(status_code, **kwargs)


def text(handler, name):
    values = handler.get_query_arguments(name, strip=False)
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
