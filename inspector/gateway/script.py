"""mitmdump script form of the gateway, shipped in the package: ``mitmdump -s $(inspector script)``
works without the repository's ``addons/`` folder."""

from inspector.gateway import all_addons

addons = all_addons()
