"""The controls over a transfer: colour, regions (masks), blended styles and strength."""
