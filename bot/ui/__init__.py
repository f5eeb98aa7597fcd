"""The Discord layer: the bot class, its command tree, thin cogs, pure embed builders and views.

Named ``ui`` so that it never shadows the ``discord`` library; modules use absolute imports only.
Nothing here opens a connection at import time: ``bot.cli.run`` is the composition root.
"""
