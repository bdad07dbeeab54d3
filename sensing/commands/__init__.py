"""The ``sensing`` sub-commands, one module per area; each is registered as a ``minsheng.commands`` entry point."""
