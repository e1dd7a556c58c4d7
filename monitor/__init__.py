"""reputation-monitor: social-media reputation monitoring for customer-service teams."""

__version__ = "0.1.0"
