"""``python -m biofeedback``: same as the ``biofeedback`` command."""

import sys

from biofeedback.cli import main

if __name__ == "__main__":
    sys.exit(main())
