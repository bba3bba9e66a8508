"""Payment providers: the built-in sandbox and Stripe (official SDK)."""
