"""newsbot: a self-hosted Discord bot that turns news articles into answers and daily digests."""

__version__ = "0.1.0"
