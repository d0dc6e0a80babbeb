"""Text from every part of a message: bodies, and attachments by their real type."""
