"""Platform rules: how often an address may try to log in."""
