"""Fulfilment: hand-off to the warehouse, webhooks, tracking, buyer messages, SLAs."""
