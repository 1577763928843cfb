"""Floor 2, data: the built-in datasets, users' files, and checked input batches.

Imports only ``numerics`` below it (and torch for the batch tensor); pandas and pyarrow are
imported when a user's table is read.
"""
