"""Pure helpers. Nothing here imports from kaohe's apps."""
