"""``python -m parity``: the parity suite's command line (see ``python -m parity --help``)."""

import sys

from parity.suite.cli import main

sys.exit(main())
