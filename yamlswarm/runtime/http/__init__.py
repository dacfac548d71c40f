"""The HTTP client of virtual users: `session` (keep-alive connections, cookies, redirects),
`cookies` (the jar), `wire` (one connection's I/O and response parsing) and `response`
(what steps and hooks see).
"""
