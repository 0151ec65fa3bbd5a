"""``painterly batch``: many contents × many styles, on this machine or on a Ray cluster.

:mod:`~painterly.batch.items` turns folders, globs or a CSV manifest into items (inputs,
options, output name); :mod:`~painterly.batch.work` paints one item from its files' bytes,
the same function wherever it runs; :mod:`~painterly.batch.pools` runs it on local worker
threads, :mod:`~painterly.batch.ray_pool` on Ray actors; :mod:`~painterly.batch.run` drives
either, writes the outputs and the results log (:mod:`~painterly.batch.log`).
:mod:`~painterly.batch.ray_engine` runs the studio's jobs on the same actors.
"""
