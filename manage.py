#!/usr/bin/env python
"""The project's manage.py; the installed `kaohe` command runs the same code."""

from kaohe.__main__ import main

if __name__ == "__main__":
    main()
