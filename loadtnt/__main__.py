"""``python -m loadtnt``: the same as the ``loadtnt`` command."""
import sys

from loadtnt.cli import main

sys.exit(main())
