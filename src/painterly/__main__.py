"""``python -m painterly`` runs the command line."""

import sys

from painterly.commands import main

sys.exit(main())
