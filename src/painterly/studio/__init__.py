"""painterly studio: a local web app and REST API over the same engine and Options as the
CLI (``painterly serve``). Needs the ``studio`` extra: ``pip install 'painterly[studio]'``."""
