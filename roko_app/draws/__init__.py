"""The lucky draw's pure rules (no Flask, no I/O): the ``roko-draw-v1`` algorithm and
drand beacon verification. ``docs/verify_draw.py`` is an independent copy for auditors."""
