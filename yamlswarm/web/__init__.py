"""The live web UI (`--web`): watch and steer a running test from a browser.

`server.WebUI` is the observer that serves it (gevent's WSGI server, in the
run's process), `board` builds the once-a-second picture shared by every
browser, `app` is the WSGI application with its guard (token, origin) and the
Locust-compatible API, `locust` Locust's JSON shapes; the page is `static/`.
"""
