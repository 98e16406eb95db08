"""mitmdump script form of the gateway for installs without the repository's ``addons/`` folder."""

from inspector.gateway.addons import all_addons

addons = all_addons()
