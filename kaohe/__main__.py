"""`kaohe` command line: Django's manage.py for this project.

`kaohe verify FILE` is answered before Django is set up: it checks a proof offline and must
work with no settings and no database, on a court expert's machine.
"""

import os
import sys


def main() -> None:
    if sys.argv[1:2] == ["verify"]:
        from kaohe.lib.verify import main as verify

        sys.exit(verify(sys.argv[2:]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kaohe.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
