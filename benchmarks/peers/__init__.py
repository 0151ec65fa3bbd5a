"""Peer implementations, each run in its own virtual environment with painterly's weights."""
