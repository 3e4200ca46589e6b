"""The Flask front end: JSON API (and pages) over the broker's store."""

from webui.app import create_app

__all__ = ["create_app"]
