"""``python -m bot`` runs the same CLI as the ``newsbot`` console script."""

from bot.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
