"""``python -m service.cli``: the ``vidgate`` command."""

from . import main

main()
