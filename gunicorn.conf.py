"""gunicorn settings for the ROKO backend (read from the working directory, or `-c gunicorn.conf.py`).

Request limits, set explicitly (docs/security.md, "Input limits"): gunicorn checks them
while it reads the request, before Flask runs, and answers a request over a limit with its
own short plain response, not our JSON error shape: a request line over the limit gets
414, too many header fields or one too large gets 431, and the connection is closed.
No partner sends anything near them (the longest header we receive is Optimove's
signature, under 100 bytes; the session cookie is under 1 kB).
"""

# Bytes of the request line (method, path with its query string, HTTP version).
limit_request_line = 4094
# Number of header fields in one request (gunicorn's default is 100; a browser behind a
# load balancer sends about 20).
limit_request_fields = 50
# Bytes of one header field (name, colon and value).
limit_request_field_size = 8190

# gunicorn logs the request line or header of a request it refuses itself; this logger
# masks phone numbers in it, as the app's own log does (roko_app/web/gunicorn_log.py).
logger_class = "roko_app.web.gunicorn_log.Logger"
