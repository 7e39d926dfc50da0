"""Django's PostgreSQL backend, with its batches sized for server-side parameters.

With parameters bound on the server (config/settings/base.py), one statement carries at
most 65,535 of them. Django's PostgreSQL backend never splits a batch, so deleting a site
or an account with more devices or profiles than that (the deletion collector looks
their related rows up with one `IN (…)` of every id) or a large `bulk_create` would fail.
Here a batch is sized to fit, as Django does for the backends that have such a limit.
"""

from django.db.backends.postgresql import base, operations

# The protocol's limit, less room for the other parameters of the same statement.
MAX_BATCH_PARAMS = 65_535 - 535


class DatabaseOperations(operations.DatabaseOperations):
    def bulk_batch_size(self, fields, objs):
        per_row = max(len(list(fields)), 1)
        return max(min(len(objs), MAX_BATCH_PARAMS // per_row), 1)


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
