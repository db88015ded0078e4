"""The operations console: server-rendered pages for operators, mounted by the API under ``/console``.

``create_router(hub)`` builds the pages; ``ensure_first_admin(hub)`` gives a new embedded hub
its first account; ``register(commands)`` adds ``cites-hub operators`` to the command line.
"""

from monitoring.console.accounts import ensure_first_admin, register
from monitoring.console.router import create_router

__all__ = ["create_router", "ensure_first_admin", "register"]
