"""Entry point of an :class:`~pipelines.decoding.isolation.IsolatedDecoder` child process.

    python -m pipelines.decoding._child FD

Kept apart from ``isolation`` so that running it as ``__main__`` does not import that module twice.
"""

from __future__ import annotations

import sys

from pipelines.decoding.isolation import serve

if __name__ == "__main__":
    serve(int(sys.argv[1]))
