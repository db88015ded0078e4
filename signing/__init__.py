"""Keys, partner trust stores, XML signatures and verification policies."""
