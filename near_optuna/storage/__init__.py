"""Floor 4, what a study stores.

Every ``near:*`` key, opening storages, settings that workers must share, per-study saturation
widths, and the bookkeeping of several workers.
"""
