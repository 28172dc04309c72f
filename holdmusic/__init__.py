"""holdmusic: validate, upload, verify and publish hold music for Daily dial-in numbers."""

__version__ = "0.1.0"
