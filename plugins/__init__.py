"""Built-in processor plugins and generators, each registered through core.hookspecs."""
