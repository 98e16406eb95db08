"""Replay recordings as a backend: ``mitmdump -s addons/replay.py --mode reverse:http://127.0.0.1:9
-p 4000 --set replay_dir=recordings/SESSION`` (the reverse target may be dead; it is never dialled).

All logic lives in ``inspector.gateway.replayer``; this script only registers the addon.
"""

import sys
from pathlib import Path

try:
    import inspector.gateway  # noqa: F401
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspector.gateway import replay_addons

addons = replay_addons()
