"""Platform rules: API keys' lifecycle, and how often an address may try to log in."""
