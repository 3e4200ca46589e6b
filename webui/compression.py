"""Gzip for the JSON the pages read: a ranking record with its effects is ~35 KB of numbers, ~4x smaller gzipped.

Only answers to GET, and only JSON: a compressed answer that holds a secret next to text the requester chose leaks
the secret through its length (BREACH), and the pages' HTML holds the CSRF token; the API's GETs hold no secret
(tokens are only ever in answers to POSTs). Streamed answers (exports, live updates) are left as they are.
"""

from __future__ import annotations

import gzip

from flask import Request, Response

MIN_BYTES = 1024  # below this the gzip header and the CPU cost more than they save
# A per-result answer (tens of KB) is compressed hard: it goes to every open page on every result. A large one
# (the trajectory: ~700 KB at 100k trials) at the fastest level: level 5 took half the route's time, for 15 % less.
LARGE_BYTES = 64 * 1024
SMALL_LEVEL, LARGE_LEVEL = 9, 1


def compress_json(request: Request, response: Response) -> Response:
    """`response` gzipped when the client accepts it and it is a GET's JSON of at least MIN_BYTES."""
    response.vary.add("Accept-Encoding")
    if (
        request.method != "GET"
        or response.mimetype != "application/json"
        or response.is_streamed
        or response.direct_passthrough
        or "Content-Encoding" in response.headers
        or "gzip" not in request.accept_encodings
    ):
        return response
    body = response.get_data()
    if len(body) < MIN_BYTES:
        return response
    response.set_data(gzip.compress(body, compresslevel=LARGE_LEVEL if len(body) >= LARGE_BYTES else SMALL_LEVEL))
    response.headers["Content-Encoding"] = "gzip"
    return response
