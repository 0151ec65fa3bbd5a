"""``python -m painterly`` runs the command line."""

import sys

from painterly.cli import main

sys.exit(main())
