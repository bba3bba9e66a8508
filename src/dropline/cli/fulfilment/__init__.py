"""Fulfilment commands: webhook deliveries and tracking imports."""
