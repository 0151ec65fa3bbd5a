"""painterly video: clips stylised frame by frame, each frame tied to the one before along
the optical flow (flow.py, temporal.py, clip.py) as settings.py says, read, kept and written
by run.py."""
