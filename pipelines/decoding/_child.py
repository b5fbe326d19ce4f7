"""Entry point of an :class:`~pipelines.decoding.isolation.IsolatedDecoder` child process.

    python -m pipelines.decoding._child FD            # serve videos on socket FD
    python -m pipelines.decoding._child --zygote FD   # fork a child per request (see ``_zygote``)

Kept apart from ``isolation`` so that running it as ``__main__`` does not import that module twice.
"""

from __future__ import annotations

import sys

from pipelines.decoding._serving import serve
from pipelines.decoding._zygote import serve_forks

if __name__ == "__main__":
    if sys.argv[1] == "--zygote":
        serve_forks(int(sys.argv[2]), serve)
    else:
        serve(int(sys.argv[1]))
