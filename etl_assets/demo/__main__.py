"""``python -m etl_assets.demo``: the same as ``etl-demo-api``."""

import sys

from etl_assets.demo.cli import main

sys.exit(main())
