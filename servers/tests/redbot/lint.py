"""Runs REDbot (Mark Nottingham's "lint for HTTP", `pip install redbot`) on requests and prints its notes.

Input on stdin: one request per line, `METHOD URL [CONTENT-TYPE BODY]` (the body as it goes on the wire, e.g.
`name=x`). Output on stdout: one JSON object per request, in order:

    {"method": ..., "url": ..., "status": 200, "sent": 2, "notes": [{"level": "warning", "id": ..., "summary": ...}]}

`sent` is how many requests REDbot put on the wire for it (the request itself and the active checks it ran:
content negotiation, range, ETag and Last-Modified validation each repeat the request when the first response
gives them a reason to), so that a caller can tell how many visits a POST or GET /db/visit should have counted.
Levels are httplint's: good, info, warning, bad. `error` is set when REDbot could not fetch at all.

Exit code 3 when redbot cannot be imported (the caller turns that into a skip or, under CI, a failure).
"""
import json
import sys

try:
    import thor
    from configparser import ConfigParser
    from redbot.resource import HttpResource
    from redbot.resource.fetch import RedFetcher, RedHttpClient
except ImportError as missing:
    print(f"redbot missing: {missing}", file=sys.stderr)
    sys.exit(3)


def notes(response_notes):
    out = []
    for note in response_notes:
        out.append({"level": note.level.value, "id": note.__class__.__name__, "summary": note.summary})
        out.extend(notes(note.subnotes))
    return out


def lint(config, method, url, content_type, body):
    # A connection pool of its own for each check, as the `redbot` command has (one check per process): a
    # connection pooled during one check and reused by the next, after REDbot's loop was stopped and started
    # again in between, may never carry the next request, which then times out.
    RedFetcher.client = RedHttpClient()
    resource = HttpResource(config)
    headers = []
    if method not in ("GET", "HEAD"):
        # REDbot writes the body as given and frames it only by the headers given here.
        headers.append(("Content-Length", str(len(body))))
    if content_type:
        headers.append(("Content-Type", content_type))
    resource.set_request(url, method=method, headers=headers, content=body)

    @thor.events.on(resource)
    def check_done():
        thor.stop()

    resource.check()
    # Runs REDbot's event loop until the request and every active check it started are done.
    thor.run()
    fetches = [resource] + list(resource.subreqs.values())
    result = {
        "method": method,
        "url": url,
        "status": resource.response.status_code,
        "sent": sum(1 for fetch in fetches if fetch.fetch_started),
        "notes": notes(resource.response.notes),
    }
    if resource.fetch_error is not None:
        result["error"] = str(resource.fetch_error.desc)
    return result


def main():
    parser = ConfigParser()
    # Loopback servers: REDbot refuses local addresses unless told otherwise.
    parser.read_dict({"redbot": {"enable_local_access": "True"}})
    config = parser["redbot"]
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        method, url = parts[0], parts[1]
        content_type = parts[2] if len(parts) > 2 else None
        body = parts[3].encode() if len(parts) > 3 else b""
        print(json.dumps(lint(config, method, url, content_type, body)), flush=True)


if __name__ == "__main__":
    main()
