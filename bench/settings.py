"""Production settings plus the bench-only endpoints (B0, B1) of `bench.benchurls`.

Everything else (DEBUG off, middleware, logging, database from DATABASE_URL) is what
`config.settings.production` makes of the environment the runner passes.
"""

from config.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.benchurls"
