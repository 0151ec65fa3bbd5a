"""Options, presets and the schedule: what a run is asked to do."""
