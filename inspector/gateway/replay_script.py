"""mitmdump script form of replay, shipped in the package (``inspector replay`` uses it when the
repository's ``addons/`` folder is not there)."""

from inspector.gateway import replay_addons

addons = replay_addons()
