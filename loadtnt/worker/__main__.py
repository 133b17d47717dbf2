"""``python -m loadtnt.worker``: see :mod:`loadtnt.worker.main`."""
import sys

from loadtnt.worker.main import main

sys.exit(main())
