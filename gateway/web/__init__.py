"""The staff page: flagged mail, journaling, quarantine, health (Starlette + Jinja2)."""
