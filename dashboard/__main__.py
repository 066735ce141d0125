"""``python -m dashboard``: serve the situation room with settings from the environment."""

import logging

from dashboard.app import run

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per API request
run()
