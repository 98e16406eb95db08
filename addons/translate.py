"""The gateway: ``mitmdump -s addons/translate.py --mode reverse:http://127.0.0.1:11434 -p 4000``.

Claude Code reaches it through ``ANTHROPIC_BASE_URL``; Messages calls are
rewritten for the backend form (``--set backend=ollama|openai|anthropic``) and
the answers translated back, streaming included. All logic lives in the
``inspector`` package; this script only registers the addons.
"""

import sys
from pathlib import Path

try:
    import inspector.gateway  # noqa: F401
except ImportError:  # run from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from inspector.gateway import all_addons

addons = all_addons()
