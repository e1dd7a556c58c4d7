"""Personal data handling: retention, erasure and access requests (GDPR). See docs/privacy.md."""

from monitor.privacy.erasure import ErasureStats, erase_author, erase_external, erase_mentions
from monitor.privacy.export import export_author
from monitor.privacy.retention import PurgeStats, purge

__all__ = [
    "ErasureStats",
    "PurgeStats",
    "erase_author",
    "erase_external",
    "erase_mentions",
    "export_author",
    "purge",
]
