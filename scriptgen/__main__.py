"""``python -m scriptgen``: the same as the ``scriptgen`` command."""

from scriptgen.cli import main

main()
