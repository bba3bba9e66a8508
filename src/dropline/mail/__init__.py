"""Mail adapters: the embedded database mailer and SMTP (aiosmtplib)."""
