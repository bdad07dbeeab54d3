"""``python -m sensing`` is the ``sensing`` command."""

from sensing.cli import main

main()
