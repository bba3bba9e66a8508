"""``python -m dropline``: the same as the ``dropline`` command."""

from dropline.cli.app import main

main()
