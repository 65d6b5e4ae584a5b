"""The article's `single_task`: one synchronous request to /say/hello, which waits 3 s on the server.

    python3 client/single_task.py --port=9999     # about 3 s

The article used `requests`; this uses the standard library's urllib, so that nothing needs installing.
"""
import datetime
import urllib.request

from tornado.options import define, options, parse_command_line

define("port", type=int, default=8888, help="the server's port")
define("name", type=str, default="Lucy")

if __name__ == "__main__":
    parse_command_line()
    url = f"http://127.0.0.1:{options.port}/say/hello?name={options.name}"
    print(datetime.datetime.now())
    print(f"request url {url}")
    with urllib.request.urlopen(url) as response:  # the thread blocks here until the answer arrives
        print(f"in callback, status: {response.status}")
    print(datetime.datetime.now())
