"""The mitmproxy side: addons (glue) and the loopback relay (transport)."""
